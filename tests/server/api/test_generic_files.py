"""``anaconda upload -t file``: generic files stored, listed, labelled and downloaded like any
other file, bounded by max_upload_bytes, private when their package is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from ophis.testing.anaconda_client import AnacondaClient
from ophis.testing.http import headers
from ophis.testing.server import RunningServer, run_server
from ophis.testing.server_db import add_user

MAX_UPLOAD = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("generic")
    config = root / "server.toml"
    config.write_text(f"max_upload_bytes = {MAX_UPLOAD}\n")
    with run_server(root / "data", "--config", str(config)) as running:
        yield running


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("files")
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 16)
    (folder / "notes.txt").write_text("private notes\n")
    (folder / "huge.bin").write_bytes(b"x" * (MAX_UPLOAD + 1))
    return folder


def upload(cli: AnacondaClient, path: Path, package: str, *extra: str) -> str:
    run = cli(
        "upload", "-t", "file", "--package", package, "--version", "1.0",
        "--summary", "Model weights", *extra, str(path),
    )  # fmt: skip
    return run.output if run.returncode == 0 else f"FAILED {run.returncode}: {run.output}"


def test_a_generic_file_uploads_lists_and_downloads(
    server: RunningServer, cli: AnacondaClient, data: Path, tmp_path: Path
) -> None:
    said = upload(cli, data / "weights.bin", "models", "-l", "dev", "-l", "main")
    assert "Upload complete" in said and f"{server.url}/admin/models" in said

    shown = cli("show", "admin/models", check=True).output
    assert "models" in shown and "1.0" in shown
    package = httpx.get(f"{server.api}/package/admin/models").json()
    assert package["package_types"] == ["file"]
    assert [(f["basename"], f["type"], sorted(f["labels"])) for f in package["files"]] == [
        ("weights.bin", "file", ["dev", "main"])
    ]

    page = httpx.get(f"{server.url}/admin/models")
    assert page.status_code == 200 and "weights.bin" in page.text

    cli("download", "admin/models", "-o", str(tmp_path), check=True)
    assert (tmp_path / "weights.bin").read_bytes() == (data / "weights.bin").read_bytes()


def test_a_private_generic_file_is_only_for_those_who_may_read_it(
    server: RunningServer, cli: AnacondaClient, data: Path
) -> None:
    assert "Upload complete" in upload(cli, data / "notes.txt", "secrets", "--private")
    url = f"{server.api}/download/admin/secrets/1.0/notes.txt"
    assert httpx.get(url).status_code == 404
    bob = add_user(server, "bob")
    assert httpx.get(url, headers=headers(bob)).status_code == 404
    token = cli.env["BINSTAR_API_TOKEN"]
    assert httpx.get(url, headers=headers(token), follow_redirects=True).content == (
        b"private notes\n"
    )


def test_a_generic_file_past_max_upload_bytes_is_refused(
    server: RunningServer, cli: AnacondaClient, data: Path
) -> None:
    said = upload(cli, data / "huge.bin", "big")
    assert said.startswith("FAILED") and "larger than this server accepts" in said
    assert httpx.get(f"{server.api}/dist/admin/big/1.0/huge.bin").status_code == 404


@pytest.mark.parametrize("basename", ["../escape.txt", "sub/dir.txt", ".hidden", "a b.txt"])
def test_a_generic_file_name_that_is_no_plain_file_name_is_refused(
    server: RunningServer, cli: AnacondaClient, basename: str
) -> None:
    token = cli.env["BINSTAR_API_TOKEN"]
    with httpx.Client(base_url=server.api, headers=headers(token)) as api:
        api.post("/package/admin/models", json={"public": True})
        staged = api.post(
            f"/stage/admin/models/1.0/{quote(basename, safe='')}",
            json={"distribution_type": "file", "sha256": "0" * 64, "channels": []},
        )
    assert staged.status_code in (400, 404), staged.text
    assert staged.status_code == 404 or "file name" in staged.json()["error"]
