"""A real server on S3 (moto): ``anaconda upload`` stores into the bucket, repodata lists the
file, conda's, pip's and anaconda-client's download URLs answer with a redirect to a
presigned URL (or, with --no-download-redirect, the bytes streamed), and a removal takes the
object out of the bucket."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from ophis.server.db.engine import make_engine
from ophis.server.db.models import Stage
from ophis.testing.anaconda_client import AnacondaClient
from ophis.testing.backends import Backend
from ophis.testing.packages import make_package
from ophis.testing.python_dists import make_wheel
from ophis.testing.s3 import create_bucket, list_keys, s3_client
from ophis.testing.server import RunningServer, run_server

PREFIX = "pkgs"


@pytest.fixture(scope="module", params=["redirect", "stream"])
def server(
    request: pytest.FixtureRequest, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server whose files are in a bucket of their own, once per download mode."""
    bucket = create_bucket(s3_endpoint)
    backend = Backend(storage_url=f"s3://{bucket}/{PREFIX}", s3_endpoint_url=s3_endpoint)
    extra = ["--no-download-redirect"] if request.param == "stream" else []
    data_dir = tmp_path_factory.mktemp("s3-server") / "data"
    with run_server(data_dir, *extra, backend=backend) as running:
        yield running


@pytest.fixture(scope="module")
def token(server: RunningServer) -> str:
    return server.login()


@pytest.fixture(scope="module")
def uploaded(
    server: RunningServer, token: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """A conda package and a wheel, uploaded by the administrator with anaconda-client."""
    built = tmp_path_factory.mktemp("built")
    files = {
        "noarch/s3demo-1.0-0.tar.bz2": make_package(built, "s3demo", "1.0", "0"),
        "s3demo_py-1.0-py3-none-any.whl": make_wheel(built, "s3demo-py", "1.0"),
    }
    client = AnacondaClient(server, tmp_path_factory.mktemp("anaconda"))
    client.env["BINSTAR_API_TOKEN"] = token
    client("upload", *map(str, files.values()), check=True)
    return files


def stages(server: RunningServer) -> int:
    """Uploads in progress, as the server's database holds them."""
    engine = make_engine(server.settings.database)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(Stage)) or 0
    finally:
        engine.dispose()


def redirecting(server: RunningServer) -> bool:
    return "--no-download-redirect" not in server.process.args


def bucket_keys(server: RunningServer) -> list[str]:
    backend = server.backend
    assert backend.storage_url and backend.s3_endpoint_url
    bucket = backend.storage_url.removeprefix("s3://").split("/")[0]
    return list_keys(backend.s3_endpoint_url, bucket, f"{PREFIX}/")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def downloads(server: RunningServer, token: str, basename: str) -> int:
    """How often the server counted a download of admin's s3demo 1.0 ``basename``."""
    dist = httpx.get(
        f"{server.api}/dist/admin/s3demo/1.0/{basename}",
        headers={"Authorization": f"token {token}"},
    )
    assert dist.status_code == 200, dist.text
    return int(dist.json()["ndownloads"])


def fetch(server: RunningServer, url: str, **headers: str) -> httpx.Response:
    """One request, checked for the answer the server's mode calls for; then the file."""
    first = httpx.get(url, headers=headers)
    endpoint = server.backend.s3_endpoint_url
    if redirecting(server):
        assert first.status_code == 302, first.text
        assert first.headers["location"].startswith(f"{endpoint}/")
        assert first.headers["cache-control"] == "no-store" and "etag" not in first.headers
        return httpx.get(first.headers["location"], headers=headers)
    assert first.status_code == 200 and "location" not in first.headers
    return first


def test_uploads_are_stored_in_the_bucket_and_listed(
    server: RunningServer, uploaded: dict[str, Path]
) -> None:
    keys = bucket_keys(server)
    for path in uploaded.values():
        digest = sha256(path.read_bytes())
        assert f"{PREFIX}/blobs/{digest[:2]}/{digest}/{path.name}" in keys
    repodata = httpx.get(f"{server.conda('admin')}/noarch/repodata.json").json()
    record = repodata["packages"]["s3demo-1.0-0.tar.bz2"]
    assert record["sha256"] == sha256(uploaded["noarch/s3demo-1.0-0.tar.bz2"].read_bytes())
    staging = server.data_dir / "staging"
    assert staging.is_dir() and not [p for p in staging.rglob("*") if p.is_file()]
    assert not (server.data_dir / "files").exists()  # nothing stored locally


def test_conda_downloads_come_from_the_bucket(
    server: RunningServer, token: str, uploaded: dict[str, Path]
) -> None:
    data = uploaded["noarch/s3demo-1.0-0.tar.bz2"].read_bytes()
    url = f"{server.conda('admin')}/noarch/s3demo-1.0-0.tar.bz2"
    before = downloads(server, token, "noarch/s3demo-1.0-0.tar.bz2")
    whole = fetch(server, url)
    assert whole.status_code == 200 and sha256(whole.content) == sha256(data)
    assert whole.headers["content-length"] == str(len(data))
    assert downloads(server, token, "noarch/s3demo-1.0-0.tar.bz2") == before + 1
    head = httpx.head(url)  # answered by the server itself: a presigned URL is for GET only
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    assert head.headers["etag"] == f'"{sha256(data)}"'
    assert downloads(server, token, "noarch/s3demo-1.0-0.tar.bz2") == before + 1
    unchanged = httpx.get(url, headers={"If-None-Match": f'"{sha256(data)}"'})
    assert unchanged.status_code == 304
    if redirecting(server):  # S3 itself answers ranges of the presigned URL
        part = fetch(server, url, Range="bytes=10-19")
        assert part.status_code == 206 and part.content == data[10:20]


def test_pip_and_anaconda_client_downloads_come_from_the_bucket(
    server: RunningServer, token: str, uploaded: dict[str, Path]
) -> None:
    wheel = uploaded["s3demo_py-1.0-py3-none-any.whl"]
    pip = fetch(server, f"{server.url}/pypi/admin/files/{wheel.name}")
    assert pip.content == wheel.read_bytes()
    conda = uploaded["noarch/s3demo-1.0-0.tar.bz2"]
    api = fetch(
        server,
        f"{server.api}/download/admin/s3demo/1.0/noarch/{conda.name}",
        Authorization=f"token {token}",
    )
    assert api.content == conda.read_bytes()
    assert api.headers["content-disposition"] == f'attachment; filename="{conda.name}"'


def test_absent_files_are_not_redirected(server: RunningServer, uploaded: dict) -> None:
    missing = httpx.get(f"{server.conda('admin')}/noarch/nothing-1.0-0.tar.bz2")
    assert missing.status_code == 404 and "location" not in missing.headers


def test_removing_a_file_deletes_its_object(
    server: RunningServer, token: str, uploaded: dict[str, Path]
) -> None:
    path = uploaded["noarch/s3demo-1.0-0.tar.bz2"]
    digest = sha256(path.read_bytes())
    removed = httpx.delete(
        f"{server.api}/dist/admin/s3demo/1.0/noarch/{path.name}",
        headers={"Authorization": f"token {token}"},
    )
    assert removed.status_code == 200, removed.text
    assert not [key for key in bucket_keys(server) if digest in key]
    repodata = httpx.get(f"{server.conda('admin')}/noarch/repodata.json").json()
    assert "s3demo-1.0-0.tar.bz2" not in repodata["packages"]
    gone = httpx.get(f"{server.conda('admin')}/noarch/{path.name}")
    assert gone.status_code == 404
    wheel = uploaded["s3demo_py-1.0-py3-none-any.whl"]
    assert any(wheel.name in key for key in bucket_keys(server))  # the others stay


def test_an_upload_the_bucket_refuses_leaves_nothing_visible(
    s3_endpoint: str, tmp_path: Path
) -> None:
    """Storing fails (the bucket is gone): the upload fails, repodata does not list the file,
    the staged bytes are cleaned up, and the same upload succeeds once the bucket is back."""
    bucket = create_bucket(s3_endpoint)
    backend = Backend(storage_url=f"s3://{bucket}/{PREFIX}", s3_endpoint_url=s3_endpoint)
    package = make_package(tmp_path, "fragile", "1.0")
    with run_server(tmp_path / "data", backend=backend) as running:
        client = AnacondaClient(running, tmp_path / "anaconda")
        client.env["BINSTAR_API_TOKEN"] = running.login()
        s3_client(s3_endpoint).delete_bucket(Bucket=bucket)
        failed = client("upload", str(package))
        assert failed.returncode != 0 and "NoSuchBucket" in failed.output
        repodata = httpx.get(f"{running.conda('admin')}/noarch/repodata.json").json()
        assert repodata["packages"] == {}
        staging = running.data_dir / "staging"
        assert not [p for p in staging.rglob("*") if p.is_file()]
        assert stages(running) == 0  # a retry is a new upload, not a commit of lost bytes
        create_bucket(s3_endpoint, bucket)
        client("upload", str(package), check=True)
        repodata = httpx.get(f"{running.conda('admin')}/noarch/repodata.json").json()
        assert list(repodata["packages"]) == [package.name]
        assert fetch(running, f"{running.conda('admin')}/noarch/{package.name}").content == (
            package.read_bytes()
        )
