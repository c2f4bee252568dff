"""Hostile packages (built here) met by ``ophis index`` and ``ophis create`` as a user runs
them: each is refused naming the file and the reason, and what is written (the index, the
package cache) stays readable and clean."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from rattler import RepoData

from ophis.indexer.channel_index import index_channel
from ophis.testing import hostile_archives as hostile
from ophis.testing.cli import isolated_user, ophis
from ophis.testing.packages import make_index, make_package

MiB, GiB = 1024**2, 1024**3


def test_ophis_index_refuses_hostile_packages_and_writes_a_readable_index(
    tmp_path: Path,
) -> None:
    noarch = tmp_path / "channel" / "noarch"
    good = make_package(noarch, "fine", "1.0", "0")
    expected = {
        hostile.pax_header_bomb(noarch, ".conda", GiB).name: "PAX tar header declaring",
        hostile.gnu_long_bomb(noarch, ".tar.bz2", 16 * MiB).name: "GNU long name tar header",
        hostile.many_members(noarch, ".conda", 300).name: None,  # within the limits: indexed
        hostile.zstd_window_bomb(noarch, 31).name: "-byte window",
        hostile.info_bomb(noarch, ".tar.bz2", 40 * MiB).name: "possible decompression bomb",
        hostile.with_index(noarch, ".conda", "strbuild", build_number="1").name: "'build_number'",
        hostile.with_index(noarch, ".tar.bz2", "intdeps", depends=[1]).name: "'depends'",
        hostile.with_index_text(noarch, ".conda", hostile.nested(500, "deep"), "deep").name: (
            "nested more than"
        ),
        hostile.with_index_text(
            noarch, ".tar.bz2", json.dumps(make_index("nan"))[:-1] + ', "size": NaN}', "nan"
        ).name: "NaN",
    }

    result = ophis(isolated_user(tmp_path / "user"), "index", str(tmp_path / "channel"), "--json")

    assert result.returncode == 0, result.stderr
    rejected = {r["filename"]: r["error"] for r in json.loads(result.stdout)["rejected"]}
    assert set(rejected) == {name for name, words in expected.items() if words}
    for name, error in rejected.items():
        assert name in error and expected[name] in error, error
    for document in ("repodata.json", "current_repodata.json"):
        RepoData.from_path(noarch / document)  # every record readable
    listed = json.loads((noarch / "repodata.json").read_text())
    assert {*listed["packages"], *listed["packages.conda"]} == {good.name, "many-1.0-0.conda"}


@pytest.mark.parametrize(
    "build",
    [
        lambda d: hostile.pax_header_bomb(d, ".conda", GiB),
        lambda d: hostile.gnu_long_bomb(d, ".tar.bz2", 64 * MiB, link=True),
    ],
    ids=["pax-header", "gnu-longlink"],
)
def test_ophis_create_refuses_a_bomb_its_channel_lists(tmp_path: Path, build) -> None:
    """A channel may list anything: its repodata names the bomb with a sane record."""
    channel = tmp_path / "channel"
    make_package(channel / "noarch", "fine", "1.0", "0")
    index_channel(channel)
    bomb = build(channel / "noarch")
    data = bomb.read_bytes()
    record = {
        **make_index(bomb.name.split("-")[0]),
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    repodata_path = channel / "noarch" / "repodata.json"
    repodata = json.loads(repodata_path.read_text())
    section = "packages.conda" if bomb.name.endswith(".conda") else "packages"
    repodata[section][bomb.name] = record
    repodata_path.write_text(json.dumps(repodata))
    (channel / "noarch" / "repodata.json.zst").unlink(missing_ok=True)

    user = isolated_user(tmp_path / "user")
    name = record["name"]
    prefix = tmp_path / "env"
    args = ("create", "-y", "-p", str(prefix), "--override-channels", "-c", channel.as_uri())
    result = ophis(user, *args, name)

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert bomb.name in output and "tar header declaring" in output, output
    pkgs = tmp_path / "user" / "pkgs"
    assert not (pkgs / bomb.name[: -len(".conda")]).exists()
    assert not (pkgs / bomb.name[: -len(".tar.bz2")]).exists()
    assert not (prefix / "conda-meta" / f"{bomb.name.split('.')[0]}.json").exists()


def test_ophis_mirror_leaves_out_upstream_records_the_clients_cannot_read(
    tmp_path: Path,
) -> None:
    upstream = tmp_path / "upstream"
    good = make_package(upstream / "noarch", "fine", "1.0", "0")
    index_channel(upstream)
    repodata_path = upstream / "noarch" / "repodata.json"
    repodata = json.loads(repodata_path.read_text())
    repodata["packages"]["bad-1.0-0.tar.bz2"] = {**make_index("bad"), "depends": "python"}
    repodata_path.write_text(json.dumps(repodata))
    for twin in ("repodata.json.zst", "repodata.json.bz2"):
        (upstream / "noarch" / twin).unlink(missing_ok=True)
    dest = tmp_path / "mirror"

    result = ophis(
        isolated_user(tmp_path / "user"), "mirror", upstream.as_uri(), str(dest), "--json"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    noarch = next(s for s in json.loads(result.stdout)["subdirs"] if s["subdir"] == "noarch")
    assert "'depends' must be a list of strings" in noarch["unreadable"]["bad-1.0-0.tar.bz2"]
    mirrored = RepoData.from_path(dest / "noarch" / "repodata.json")
    assert mirrored is not None
    listed = json.loads((dest / "noarch" / "repodata.json").read_text())
    assert set(listed["packages"]) == {good.name}
