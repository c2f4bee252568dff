"""Moving a server from SQLite and local files to PostgreSQL (and S3 when the session runs
it) with ``ophis server export`` and ``ophis server import``: everything a user had still
works on the new back end, and a bad import changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from contextlib import ExitStack
from pathlib import Path

import httpx

from ophis.client.upload import UploadOptions, upload
from ophis.testing.backends import Backend, fresh_backend
from ophis.testing.packages import conda_package
from ophis.testing.postgres import create_database
from ophis.testing.server import RunningServer, run_server

PASSWORD = "a-password-for-transfers"


def ophis_server(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ophis", "server", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def client(server: RunningServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30, follow_redirects=True)


def seed(server: RunningServer, folder: Path) -> str:
    """alice: a public package on main and dev, a private one, a download; her token."""
    assert server.ophis("user", "create", "alice", "--password", PASSWORD).returncode == 0
    token = server.login("alice", PASSWORD)
    with client(server, token) as http:
        http.base_url = httpx.URL(server.api + "/")
        upload(
            http, "alice", conda_package(folder, "shared", "1.0"), UploadOptions(("main", "dev"))
        )
        upload(http, "alice", conda_package(folder, "secret", "2.0"), UploadOptions(public=False))
    assert httpx.get(server.conda("alice") + "/noarch/shared-1.0-0.tar.bz2").is_success
    return token


def observe(server: RunningServer, token: str) -> dict[str, object]:
    """What alice and an anonymous visitor see."""
    with client(server, token) as alice, client(server) as anonymous:
        repodata = alice.get(f"/conda/t/{token}/alice/noarch/repodata.json").json()
        dev = anonymous.get("/conda/alice/label/dev/noarch/repodata.json").json()
        public = anonymous.get("/conda/alice/noarch/repodata.json").json()
        package = anonymous.get("/api/package/alice/shared").json()
        secret = alice.get("/conda/alice/noarch/secret-2.0-0.tar.bz2")
    return {
        "alice": sorted(repodata["packages"]),
        "dev": sorted(dev["packages"]),
        "anonymous": sorted(public["packages"]),
        "downloads": [f["ndownloads"] for f in package["files"]],
        "secret_sha256": hashlib.sha256(secret.content).hexdigest(),
    }


def test_a_server_moves_to_postgresql_with_everything_it_had(tmp_path: Path, postgres: str) -> None:
    source = tmp_path / "source"
    with run_server(source, backend=Backend()) as old:
        token = seed(old, tmp_path)
        before = observe(old, token)
    assert before["anonymous"] == ["shared-1.0-0.tar.bz2"] and before["downloads"] == [1]

    dump = tmp_path / "server.tar"
    exported = ophis_server("export", str(dump), "--files", "--data-dir", str(source), "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["files"] == 2

    shared = fresh_backend()
    target = Backend(
        create_database(postgres, f"moved_{os.getpid()}"),
        shared.storage_url,
        shared.s3_endpoint_url,
    )
    destination = tmp_path / "destination"
    imported = ophis_server(
        "import", str(dump), "--data-dir", str(destination), *target.server_args(), "--json"
    )
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["rows"] == json.loads(exported.stdout)["rows"]

    with run_server(destination, backend=target) as new:
        assert observe(new, token) == before
        with client(new, token) as http:  # new rows get new ids after the imported ones
            http.base_url = httpx.URL(new.api + "/")
            upload(http, "alice", conda_package(tmp_path, "after", "1.0"))
        assert "after-1.0-0.tar.bz2" in observe(new, token)["anonymous"]

        again = ophis_server(
            "import", str(dump), "--data-dir", str(destination), *target.server_args()
        )
        assert again.returncode != 0 and "not empty" in again.stderr


def test_a_damaged_export_is_refused_and_imports_nothing(tmp_path: Path, postgres: str) -> None:
    with run_server(tmp_path / "source", backend=Backend()) as old:
        seed(old, tmp_path)
    dump = tmp_path / "server.tar"
    assert ophis_server("export", str(dump), "--data-dir", str(tmp_path / "source")).returncode == 0
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(dump) as good, tarfile.open(damaged, "w") as bad, ExitStack() as stack:
        for member in good:
            handle = good.extractfile(member)
            if member.name == "tables/packages.jsonl":
                lines = stack.enter_context(handle).read().splitlines(keepends=True)[:-1]
                (tmp_path / "short").write_bytes(b"".join(lines))
                bad.add(tmp_path / "short", member.name)
            else:
                bad.addfile(member, handle)
    url = create_database(postgres, f"damaged_{os.getpid()}")
    result = ophis_server(
        "import", str(damaged), "--data-dir", str(tmp_path / "t"), "--database", url
    )
    assert result.returncode != 0 and "damaged" in result.stderr
    status = ophis_server("migrate", "status", "--database", url, "--json")
    assert json.loads(status.stdout)["pending"] == []  # migrated, yet:
    with run_server(tmp_path / "t", backend=Backend(url)) as empty:
        assert httpx.get(f"{empty.api}/user/alice").status_code == 404  # nothing imported

    not_an_export = tmp_path / "notes.txt"
    not_an_export.write_text("hello")
    result = ophis_server("import", str(not_an_export), "--database", url)
    assert result.returncode != 0 and "not an Ophis server export" in result.stderr
