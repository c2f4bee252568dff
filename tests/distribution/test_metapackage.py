"""``ophis metapackage``, as a user runs it offline: a metapackage built from an environment
reproduces it exactly when installed into a new one; ``--loose`` pins only names; specs
given become its dependencies."""

from __future__ import annotations

import json
from pathlib import Path

from ophis.testing.cli import ok_json, ophis


def _records(prefix: Path) -> dict[str, tuple[str, str, str, str]]:
    found = {}
    for path in (prefix / "conda-meta").glob("*.json"):
        record = json.loads(path.read_text())
        found[record["name"]] = (
            record["version"],
            record["build"],
            record["subdir"],
            record["url"],
        )
    return found


def test_a_metapackage_of_an_environment_reproduces_it(
    tmp_path: Path, user: dict[str, str], small_channel: Path
) -> None:
    channel = ("-c", small_channel.as_uri(), "--override-channels")
    source = tmp_path / "source"
    ok_json(
        ophis(user, "create", "-y", "-p", str(source), *channel, "python", "libdemo 1.*", "--json")
    )
    output = tmp_path / "meta"
    made = ok_json(
        ophis(
            user,
            *("metapackage", "tested", "2026.1", "-p", str(source), "-o", str(output)),
            *("--summary", "The tested set", "--json"),
        )
    )
    wanted = _records(source)
    assert sorted(made["depends"]) == sorted(
        f"{name} =={version} {build}" for name, (version, build, _, _) in wanted.items()
    )
    assert Path(made["path"]).is_file() and made["subdir"] != "noarch"
    repodata = json.loads((output / made["subdir"] / "repodata.json").read_text())
    assert Path(made["path"]).name in repodata["packages.conda"]

    # libdemo 2 is newer: only the metapackage's pins keep libdemo 1 in the new environment
    copy = tmp_path / "copy"
    meta_channel = ("-c", output.as_uri())
    ok_json(
        ophis(user, "create", "-y", "-p", str(copy), *meta_channel, *channel, "tested", "--json")
    )
    got = _records(copy)
    assert got.pop("tested")[:2] == ("2026.1", made["build"])
    assert got == wanted


def test_loose_pins_names_and_specs_are_kept_as_given(
    tmp_path: Path, user: dict[str, str], small_channel: Path
) -> None:
    channel = ("-c", small_channel.as_uri(), "--override-channels")
    source = tmp_path / "source"
    ok_json(ophis(user, "create", "-y", "-p", str(source), *channel, "libdemo 1.*", "--json"))
    output = tmp_path / "meta"
    loose = ok_json(
        ophis(user, "metapackage", "names", "1", "--from-env", str(source), "--loose", "-o",
              str(output), "--json")
    )  # fmt: skip
    assert loose["depends"] == ["libdemo"] and loose["subdir"] == "noarch"
    specs = ok_json(
        ophis(user, "metapackage", "chosen", "1", "libdemo >=2", "-o", str(output), "--json")
    )
    assert specs["depends"] == ["libdemo >=2"]
    target = tmp_path / "target"
    args = ("-c", output.as_uri(), *channel, "names", "chosen", "--json")
    ok_json(ophis(user, "create", "-y", "-p", str(target), *args))
    assert _records(target)["libdemo"][0] == "2.0"


def test_metapackage_errors_say_what_to_do(tmp_path: Path, user: dict[str, str]) -> None:
    missing = ophis(user, "metapackage", "x", "1", "-p", str(tmp_path / "nothing"), "--json")
    assert missing.returncode == 1
    assert "Not a conda environment" in json.loads(missing.stdout)["message"]
    bad = ophis(user, "metapackage", "x", "1", "lib demo >=>1", "-o", str(tmp_path), "--json")
    assert bad.returncode == 1
    assert "is not a valid package spec" in json.loads(bad.stdout)["message"]
    nothing = ophis(user, "metapackage", "x", "1", "-o", str(tmp_path))
    assert nothing.returncode == 1 and "needs dependencies" in nothing.stderr
