"""``anaconda upload`` against a real server: the stage -> storage POST -> commit handshake,
and every way an upload can be refused without leaving anything behind."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import tarfile
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from sqlalchemy import select

from ophis.server.db.models import Stage
from ophis.testing.anaconda_client import AnacondaClient, as_user
from ophis.testing.http import headers
from ophis.testing.packages import make_package
from ophis.testing.packages import testdata_dir as shared_testdata
from ophis.testing.polling import wait_for
from ophis.testing.python_dists import make_sdist, make_wheel
from ophis.testing.server import RunningServer
from ophis.testing.server_db import add_user, blobs, database, file_rows, leftovers
from ophis.testing.uploads import md5_of, sha256_of, stage, storage_post


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packages")


@pytest.fixture(scope="module")
def bob(server: RunningServer) -> str:
    return add_user(server, "bob")


def test_conda_packages_wheels_and_sdists_upload_with_a_label(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client, built: Path
) -> None:
    conda = make_package(built, "demo", "1.0", "0", fmt=".conda")
    bz2 = make_package(built, "demo", "1.0", "1", subdir="linux-64")
    wheel, sdist = make_wheel(built), make_sdist(built)

    result = cli("upload", str(conda), str(bz2), "-l", "dev", check=True)
    assert f"{server.url}/conda/admin/label/dev" in result.output
    result = cli("upload", str(wheel), str(sdist), check=True)
    assert f"{server.url}/pypi/admin/simple/demo-py/" in result.output

    demo = api.get("/package/admin/demo").json()
    assert demo["package_types"] == ["conda"]
    assert demo["conda_platforms"] == ["linux-64", "noarch"]
    files = {f["basename"]: f for f in demo["files"]}
    assert set(files) == {"noarch/demo-1.0-0.conda", "linux-64/demo-1.0-1.tar.bz2"}
    for path, basename in (
        (conda, "noarch/demo-1.0-0.conda"),
        (bz2, "linux-64/demo-1.0-1.tar.bz2"),
    ):
        assert files[basename]["sha256"] == sha256_of(path)
        assert files[basename]["size"] == path.stat().st_size
        assert files[basename]["labels"] == ["dev"]
        assert blobs(server, sha256_of(path))
    python = api.get("/package/admin/demo-py").json()
    assert python["summary"] == "The demo-py test distribution"
    assert {(f["basename"], f["type"], tuple(f["labels"])) for f in python["files"]} == {
        (wheel.name, "pypi", ("main",)),
        (sdist.name, "pypi", ("main",)),
    }
    assert leftovers(server) == []


def test_force_replaces_and_skip_existing_keeps(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client, built: Path
) -> None:
    first = make_package(built / "first", "again", "1.0", "0")
    again = cli("upload", str(first), check=True)
    assert again.returncode == 0
    refused = cli("upload", str(first))
    assert refused.returncode != 0 and "already exists" in refused.output

    skipped = cli("upload", "--skip-existing", str(first), check=True)
    assert "Distribution already exists. Skipping upload." in skipped.output

    second = make_package(built / "second", "again", "1.0", "0", files={"extra.txt": b"new"})
    assert sha256_of(second) != sha256_of(first)
    cli("upload", "--force", str(second), check=True)
    dist = api.get("/dist/admin/again/1.0/noarch/again-1.0-0.tar.bz2").json()
    assert dist["sha256"] == sha256_of(second)
    assert file_rows(server, sha256_of(first)) == 0
    assert blobs(server, sha256_of(first)) == [] and blobs(server, sha256_of(second))


def hostile_package(built: Path) -> Path:
    """A sane info/index.json plus conda's own ``tar_traversal/relative0.tar`` member
    (``../moo``): the client reads the metadata happily, the server must refuse it."""
    sane = make_package(built / "sane", "trojan", "1.0", "0")
    path = built / sane.name
    traversal = shared_testdata() / "conda" / "tar_traversal" / "relative0.tar"
    with (
        tarfile.open(sane) as source,
        tarfile.open(traversal) as evil,
        tarfile.open(path, "w:bz2") as out,
    ):
        for archive in (source, evil):
            for member in archive:
                out.addfile(member, archive.extractfile(member) if member.isfile() else None)
    return path


def test_a_hostile_archive_is_refused_and_nothing_is_stored(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client, built: Path
) -> None:
    path = hostile_package(built)
    result = cli("upload", str(path))
    assert result.returncode != 0
    assert "'../moo'" in result.output
    assert file_rows(server, sha256_of(path)) == 0
    assert blobs(server, sha256_of(path)) == [] and leftovers(server) == []
    # the client removes the package it registered for the refused file
    assert api.get("/package/admin/trojan").status_code == 404


def test_an_archive_whose_metadata_disagrees_with_the_url_is_refused(
    server: RunningServer, api: httpx.Client, built: Path
) -> None:
    impostor = make_package(built / "impostor", "evil", "1.0", "0")
    basename = f"noarch/{impostor.name}"
    staged = stage(api, impostor, basename).json()
    assert storage_post(staged, impostor).status_code == 201
    commit = api.post(
        f"/commit/admin/demo/1.0/{quote(basename)}", json={"dist_id": staged["dist_id"]}
    )
    assert commit.status_code == 400
    assert "its package is 'evil', not 'demo'" in commit.json()["error"]
    assert file_rows(server, sha256_of(impostor)) == 0 and leftovers(server) == []


def test_an_upload_with_an_overridden_version_is_refused(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client, built: Path
) -> None:
    path = make_package(built / "lying", "demo", "1.0", "5")
    result = cli("upload", "--version", "9.9", str(path))
    assert result.returncode != 0
    assert "index.json says version '1.0' but the file name says '9.9'" in result.output
    assert file_rows(server, sha256_of(path)) == 0 and leftovers(server) == []
    assert api.get("/release/admin/demo/9.9").status_code == 404  # the client cleaned up


def test_a_checksum_mismatch_gets_an_s3_invalid_digest_and_stores_nothing(
    server: RunningServer, api: httpx.Client, built: Path
) -> None:
    path = make_package(built / "digest", "demo", "1.0", "2")
    basename = f"noarch/{path.name}"
    staged = stage(api, path, basename).json()
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    response = storage_post(staged, path, **{"Content-MD5": wrong_md5})
    assert response.status_code == 400
    assert "<Code>InvalidDigest</Code>" in response.text
    again = storage_post(staged, path)
    assert again.status_code == 403 and "<Code>AccessDenied</Code>" in again.text  # one-time key

    wrong_sha = stage(api, path, basename, sha256="0" * 64).json()
    response = storage_post(wrong_sha, path)
    assert response.status_code == 400 and "<Code>InvalidDigest</Code>" in response.text
    commit = api.post(
        f"/commit/admin/demo/1.0/{quote(basename)}", json={"dist_id": wrong_sha["dist_id"]}
    )
    assert commit.status_code == 400 and "has not arrived" in commit.json()["error"]
    assert file_rows(server, sha256_of(path)) == 0
    assert blobs(server, sha256_of(path)) == [] and leftovers(server) == []


def stage_row(server: RunningServer, dist_id: str) -> Stage:
    with database(server) as session:
        row = session.scalar(select(Stage).where(Stage.dist_id == dist_id))
        assert row is not None
        return row


def _multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[str, bytes]:
    boundary = "ophis-test-boundary"
    body = b""
    for name, value in fields.items():
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\n\r\n"
    ).encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def test_an_upload_cut_off_midway_leaves_nothing(
    server: RunningServer, api: httpx.Client, built: Path
) -> None:
    path = make_package(built / "big", "demo", "1.0", "3", files={"data.bin": os.urandom(400_000)})
    basename = f"noarch/{path.name}"
    fields = {"Content-Length": str(path.stat().st_size), "Content-MD5": md5_of(path)}

    staged = stage(api, path, basename).json()
    content_type, body = _multipart({**staged["form_data"], **fields}, basename, path.read_bytes())
    target = urlsplit(staged["post_url"])
    with socket.create_connection((target.hostname, target.port)) as sock:
        sock.sendall(
            (
                f"POST {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body[: len(body) // 2]
        )
        # the server spends the key once the fields are in, then streams the file
        assert wait_for(lambda: stage_row(server, staged["dist_id"]).upload_key_hash == "")
    assert wait_for(lambda: not leftovers(server))
    assert stage_row(server, staged["dist_id"]).storage_key is None

    staged = stage(api, path, basename).json()
    content_type, body = _multipart({**staged["form_data"], **fields}, basename, path.read_bytes())
    truncated = httpx.post(
        staged["post_url"], content=body[: len(body) // 2], headers={"Content-Type": content_type}
    )
    assert truncated.status_code == 400 and "<Code>IncompleteBody</Code>" in truncated.text
    commit = api.post(
        f"/commit/admin/demo/1.0/{quote(basename)}", json={"dist_id": staged["dist_id"]}
    )
    assert commit.status_code == 400
    assert file_rows(server, sha256_of(path)) == 0
    assert blobs(server, sha256_of(path)) == [] and leftovers(server) == []


def test_missing_bad_revoked_and_expired_tokens_get_401(server: RunningServer) -> None:
    revoked = server.login()
    assert (
        httpx.delete(f"{server.api}/authentications", headers=headers(revoked)).status_code == 201
    )
    expiring = server.login(**{"max-age": 1})
    time.sleep(1.1)
    for token in (None, "oph-notarealtoken123", revoked, expiring):
        for response in (
            httpx.post(f"{server.api}/package/admin/newpkg", headers=headers(token), json={}),
            httpx.post(
                f"{server.api}/stage/admin/demo/1.0/noarch/demo-1.0-9.tar.bz2",
                headers=headers(token),
                json={"distribution_type": "conda", "sha256": "0" * 64},
            ),
        ):
            assert response.status_code == 401, (token, response.text)
            assert response.json()["error"]


def test_a_token_without_api_write_gets_403(
    server: RunningServer, cli: AnacondaClient, built: Path
) -> None:
    reader = server.login(scopes=["api:read"])
    response = httpx.post(
        f"{server.api}/package/admin/readonly", headers=headers(reader), json={"public": True}
    )
    assert response.status_code == 403 and "api:write" in response.json()["error"]
    path = make_package(built / "readonly", "readonly", "1.0", "0")
    result = as_user(cli, reader)("upload", str(path))
    assert result.returncode != 0 and "api:write" in result.output
    assert file_rows(server, sha256_of(path)) == 0


def test_another_users_namespace_is_refused(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client, bob: str, built: Path
) -> None:
    path = make_package(built / "intruder", "intruder", "1.0", "0")
    result = as_user(cli, bob)("upload", "-u", "admin", str(path))
    assert result.returncode != 0 and "no write access to admin" in result.output
    assert api.get("/package/admin/intruder").status_code == 404

    as_bob = headers(bob)
    release = httpx.post(f"{server.api}/release/admin/demo/9.0", headers=as_bob, json={})
    assert release.status_code == 403  # demo is public: visible, but not bob's
    api.post("/package/admin/hidden", json={"public": False, "public_attrs": {}})
    api.post("/release/admin/hidden/1.0", json={})
    hidden = httpx.post(
        f"{server.api}/stage/admin/hidden/1.0/noarch/hidden-1.0-0.tar.bz2",
        headers=as_bob,
        json={"distribution_type": "conda", "sha256": "0" * 64},
    )
    assert hidden.status_code == 404  # private: its existence does not leak
