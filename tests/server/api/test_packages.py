"""Reading and removing what was uploaded: ``anaconda show``, ``search``, ``download``,
``remove``, collaborators, and private packages that nobody else can see."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from ophis.testing.anaconda_client import AnacondaClient, as_user
from ophis.testing.http import headers
from ophis.testing.packages import make_package
from ophis.testing.python_dists import make_wheel
from ophis.testing.server import RunningServer
from ophis.testing.server_db import add_user, blobs


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packages")


@pytest.fixture(scope="module")
def uploaded(cli: AnacondaClient, built: Path) -> dict[str, Path]:
    files = {
        "noarch/demo-1.0-0.tar.bz2": make_package(built, "demo", "1.0", "0"),
        "linux-64/demo-2.0-0.conda": make_package(
            built, "demo", "2.0", "0", subdir="linux-64", fmt=".conda"
        ),
        "linux-64/native-1.0-0.tar.bz2": make_package(
            built, "native", "1.0", "0", subdir="linux-64"
        ),
        "demo_py-1.0-py3-none-any.whl": make_wheel(built),
    }
    cli("upload", *map(str, files.values()), check=True)
    return files


@pytest.fixture(scope="module")
def bob(server: RunningServer) -> str:
    return add_user(server, "bob")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_show_prints_packages_releases_and_files(
    cli: AnacondaClient, api: httpx.Client, uploaded: dict[str, Path]
) -> None:
    package = cli("show", "admin/demo", check=True).output
    assert "Name:    demo" in package and "+ 1.0" in package and "+ 2.0" in package
    release = cli("show", "admin/demo/1.0", check=True).output
    assert "+ noarch/demo-1.0-0.tar.bz2" in release
    dist = cli("show", "admin/demo/2.0/linux-64/demo-2.0-0.conda", check=True).output
    assert "linux-64/demo-2.0-0.conda" in dist and "+ build" in dist

    listed = {p["full_name"]: p for p in api.get("/packages/admin").json()}
    assert listed["admin/demo"]["latest_version"] == "2.0"
    assert listed["admin/demo"]["conda_platforms"] == ["linux-64", "noarch"]
    assert {p["full_name"] for p in api.get("/packages").json()} == set(listed)
    patched = api.patch("/package/admin/demo", json={"public_attrs": {"summary": "Demo things"}})
    assert patched.json()["summary"] == "Demo things"


def test_search_finds_by_name_type_and_platform(
    server: RunningServer, cli: AnacondaClient, uploaded: dict[str, Path]
) -> None:
    found = cli("search", "demo", check=True).output
    assert "admin/demo " in found and "admin/demo-py" in found and "Found 2 packages" in found

    def names(**params: str) -> set[str]:
        response = httpx.get(f"{server.api}/search", params=params)
        return {p["full_name"] for p in response.json()}

    assert names(name="", platform="linux-64") == {"admin/demo", "admin/native"}
    assert names(name="", platform="win-64") == {"admin/demo"}  # noarch installs anywhere
    assert names(name="NATIVE") == {"admin/native"}
    assert names(name="demo", type="pypi") == {"admin/demo-py"}


def test_download_streams_the_file_and_counts_it(
    server: RunningServer,
    cli: AnacondaClient,
    api: httpx.Client,
    uploaded: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # the client makes a conda file's subdir relative to cwd
    cli("download", "admin/demo-py", "-o", str(tmp_path), check=True)
    wheel = uploaded["demo_py-1.0-py3-none-any.whl"]
    assert (tmp_path / wheel.name).read_bytes() == wheel.read_bytes()
    dist = api.get(f"/dist/admin/demo-py/1.0/{wheel.name}").json()
    assert dist["ndownloads"] == 1

    url = "/download/admin/demo/1.0/noarch/demo-1.0-0.tar.bz2"
    data = uploaded["noarch/demo-1.0-0.tar.bz2"].read_bytes()
    conda = api.get(url, follow_redirects=True)  # S3: a redirect to a presigned URL
    assert conda.content == data
    # the client sends the md5 it has as ETag (after a redirect, the ETag is S3's own)
    assert api.get(url, headers={"ETag": hashlib.md5(data).hexdigest()}).status_code == 304


def test_collaborators_may_write_the_package(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client, bob: str, uploaded: dict
) -> None:
    cli("package", "--add-collaborator", "bob", "admin/demo", check=True)
    assert "bob" in cli("package", "--list-collaborators", "admin/demo", check=True).output
    release = f"{server.api}/release/admin/demo/3.0"
    assert httpx.post(release, headers=headers(bob), json={}).status_code == 200
    assert api.delete("/packages/admin/demo/collaborators/bob").status_code == 201
    assert httpx.post(release + "1", headers=headers(bob), json={}).status_code == 403


def test_private_packages_are_invisible_to_others(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client, bob: str, built: Path
) -> None:
    cli("package", "--create", "--private", "--summary", "Hidden", "admin/secret", check=True)
    secret = make_package(built, "secret", "1.0", "0")
    cli("upload", str(secret), check=True)
    dist = "admin/secret/1.0/noarch/secret-1.0-0.tar.bz2"

    for token in (None, bob):

        def get(path: str, token: str | None = token, **params: str) -> httpx.Response:
            return httpx.get(f"{server.api}{path}", headers=headers(token), params=params)

        assert get("/package/admin/secret").status_code == 404
        assert get("/release/admin/secret/1.0").status_code == 404
        assert get(f"/dist/{dist}").status_code == 404
        assert get(f"/download/{dist}").status_code == 404
        assert get("/search", name="secret").json() == []
        assert "admin/secret" not in {p["full_name"] for p in get("/packages/admin").json()}
        main = get("/channels/admin/main").json()
        assert main["num_files"] == len(main["files"]) == 4  # the uploaded fixture's, not secret's
        assert all(not f["full_name"].startswith("admin/secret/") for f in main["files"])
    shown = as_user(cli, None)("show", "admin/secret")
    assert shown.returncode != 0 and "admin/secret was not found" in shown.output

    assert api.get("/package/admin/secret").json()["public"] is False
    assert api.get(f"/download/{dist}", follow_redirects=True).content == secret.read_bytes()
    assert "admin/secret" in {p["full_name"] for p in api.get("/search?name=secret").json()}


def test_remove_a_file_a_release_and_a_package(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client, uploaded: dict[str, Path]
) -> None:
    first = uploaded["noarch/demo-1.0-0.tar.bz2"]
    cli("remove", "-f", "admin/demo/1.0/noarch/demo-1.0-0.tar.bz2", check=True)
    assert api.get("/dist/admin/demo/1.0/noarch/demo-1.0-0.tar.bz2").status_code == 404
    assert blobs(server, sha256_of(first)) == []
    assert api.delete("/release/admin/demo/1.0").status_code == 201
    assert api.get("/release/admin/demo/1.0").status_code == 404
    cli("remove", "-f", "admin/demo", check=True)
    assert api.get("/package/admin/demo").status_code == 404
    assert blobs(server, sha256_of(uploaded["linux-64/demo-2.0-0.conda"])) == []
