"""``ophis mirror`` as a user's script runs it: mirror, install from the mirror, dry runs,
failures and errors."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from ophis.cli import output
from ophis.cli.main import build_app
from ophis.testing.cli import ok_json, ophis
from ophis.testing.http import serve_directory


def test_mirror_over_http_then_install_from_the_mirror(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    with serve_directory(recipes) as server:
        include = ["--include", "dependent >=1", "--include", "dependency"]
        arguments = [server.url, str(dest), "--subdir", "noarch", *include, "--json"]
        summary = ok_json(ophis(home, "mirror", *arguments))
    upstream = json.loads((recipes / "noarch" / "repodata.json").read_text())
    wanted = {
        fn
        for key in ("packages", "packages.conda")
        for fn, r in upstream[key].items()
        if r["name"] in ("dependent", "dependency")
    }
    assert summary["success"] is True and summary["failures"] == []
    assert summary["files"] == len(wanted)
    sizes = {fn: r["size"] for k in ("packages", "packages.conda") for fn, r in upstream[k].items()}
    assert summary["bytes"] == sum(sizes[fn] for fn in wanted)
    assert summary["seconds"] >= 0

    channel = ["--override-channels", "-c", dest.as_uri()]
    created = ok_json(ophis(home, "create", "-n", "m", *channel, "dependent=1.0", "--json", "-y"))
    assert created["success"] is True
    meta = tmp_path / "root" / "envs" / "m" / "conda-meta"
    assert {p.name.rsplit("-", 2)[0] for p in meta.glob("*.json")} == {"dependent", "dependency"}


def test_dry_run_lists_files_and_sizes_and_writes_nothing(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    result = ophis(home, "mirror", recipes.as_uri(), str(dest), "-s", "linux-fake", "--dry-run")
    assert result.returncode == 0, result.stderr
    upstream = json.loads((recipes / "linux-fake" / "repodata.json").read_text())
    for key in ("packages", "packages.conda"):
        for filename, record in upstream[key].items():
            assert f"fetch  linux-fake/{filename}  {record['size']} bytes" in result.stdout
    assert not (dest / "linux-fake").exists()


def test_a_corrupt_upstream_file_fails_the_run_and_is_not_published(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    upstream = tmp_path / "upstream"
    (upstream / "noarch").mkdir(parents=True)
    source = json.loads((recipes / "noarch" / "repodata.json").read_text())
    name = next(fn for fn in source["packages"] if fn.startswith("dependency-1.0"))
    data = (recipes / "noarch" / name).read_bytes()
    (upstream / "noarch" / name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    document = {"info": {"subdir": "noarch"}, "packages": {name: source["packages"][name]}}
    (upstream / "noarch" / "repodata.json").write_text(json.dumps(document))

    dest = tmp_path / "mirror"
    result = ophis(home, "mirror", upstream.as_uri(), str(dest), "--json")
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["success"] is False
    assert [f["filename"] for f in summary["failures"]] == [name]
    assert "sha256" in summary["failures"][0]["error"]
    mirrored = json.loads((dest / "noarch" / "repodata.json").read_text())
    assert mirrored["packages"] == {} and not (dest / "noarch" / name).exists()


def test_errors_say_what_to_do(recipes: Path, home: dict[str, str], tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    no_dest = ophis(home, "mirror", recipes.as_uri(), "--json")
    assert no_dest.returncode == 1
    assert "--to" in json.loads(no_dest.stdout)["error"]
    bad_spec = ophis(home, "mirror", recipes.as_uri(), out, "--include", "numpy >=>1", "--json")
    assert bad_spec.returncode == 1
    assert json.loads(bad_spec.stdout)["exception_name"] == "InvalidMatchSpec"
    human = ophis(home, "mirror", "/no/such/channel", out)
    assert human.returncode == 1 and "Error:" in human.stderr and "channel" in human.stderr
    assert not Path(out).exists()


def test_progress_is_drawn_on_stderr_in_bytes_and_files(
    recipes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(output, "stderr", Console(file=screen, force_terminal=True, width=150))
    app = build_app(["mirror"])
    result = CliRunner().invoke(
        app, ["mirror", recipes.as_uri(), str(tmp_path / "m"), "-s", "noarch"]
    )
    assert result.exit_code == 0, result.output
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    upstream = json.loads((recipes / "noarch" / "repodata.json").read_text())
    files = len(upstream["packages"]) + len(upstream["packages.conda"])
    assert re.search(r"Downloading .* kB", drawn)
    assert re.search(rf"Mirroring .* {files}/{files}", drawn)
    assert "noarch" in result.stdout
