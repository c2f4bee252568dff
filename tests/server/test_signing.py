"""Package signatures on a real server: ``ophis server keys`` creates, rotates and retires a
channel's keys; uploads are signed; repodata.json carries conda content trust's
``signatures`` section for exactly the files it lists; trust metadata and per-file
attestations are served where conda looks for them; the offline root step chains."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from ophis.client.api import ApiClient
from ophis.client.upload import upload
from ophis.security import signing
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase


def keys(server: RunningServer, *args: str) -> dict[str, Any]:
    result = server.ophis("keys", *args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def offline(*args: str) -> dict[str, Any]:
    """``ophis server keys ...`` where the root key is: no server, no database."""
    command = [sys.executable, "-m", "ophis", "server", "keys", *args, "--json"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def fetch(server: RunningServer, owner: str, path: str) -> httpx.Response:
    return httpx.get(f"{server.conda(owner)}/{path}")


def verified_pkg_mgr(server: RunningServer, owner: str) -> signing.PkgMgrKeys:
    """root -> key_mgr -> pkg_mgr, as a client checks them."""
    root = fetch(server, owner, "1.root.json").json()
    signing.verify_root({"signed": {**root["signed"], "version": 0}, "signatures": {}}, root)
    key_mgr = fetch(server, owner, "key_mgr.json").json()
    signing.verify_delegation("key_mgr", key_mgr, root, "key_mgr.json")
    return signing.PkgMgrKeys.from_key_mgr(key_mgr)


def check_repodata(repodata: dict[str, Any], pkg_mgr: signing.PkgMgrKeys) -> None:
    """Every listed file is signed, every signature names a listed file, and each
    verifies against its record."""
    records = {**repodata["packages"], **repodata["packages.conda"]}
    assert set(repodata["signatures"]) == set(records)
    for filename, record in records.items():
        pkg_mgr.verify(record, repodata["signatures"][filename], filename)


@pytest.fixture(scope="module")
def database(server: RunningServer) -> ServerDatabase:
    return ServerDatabase(server)


@pytest.fixture(scope="module")
def alice(server: RunningServer, database: ServerDatabase, tmp_path_factory: Any) -> str:
    """alice's channel with one file from before her keys; signed with a root key."""
    token = database.user("alice")
    made = tmp_path_factory.mktemp("alice")
    database.add("alice", make_package(made, "early", fmt=".conda"))
    root = tmp_path_factory.mktemp("root")
    offline("new-root", str(root))
    keys(server, "create", "alice", "--root-key", str(root / "root.key"))
    return token


def test_keys_sign_existing_files_and_uploads(
    server: RunningServer, alice: str, tmp_path: Path
) -> None:
    before = fetch(server, "alice", "noarch/repodata.json").json()
    assert set(before["signatures"]) == {"early-1.0-0.conda"}
    made = make_package(tmp_path, "late", depends=["early"])
    with ApiClient(server.api, alice) as api:
        upload(api.http, "alice", made)
    repodata = fetch(server, "alice", "noarch/repodata.json").json()
    assert set(repodata["signatures"]) == {"early-1.0-0.conda", "late-1.0-0.tar.bz2"}
    check_repodata(repodata, verified_pkg_mgr(server, "alice"))
    current = fetch(server, "alice", "noarch/current_repodata.json").json()
    check_repodata(current, verified_pkg_mgr(server, "alice"))
    # a removed file takes its signature out with it
    response = httpx.delete(
        f"{server.api}/dist/alice/late/1.0/noarch/late-1.0-0.tar.bz2",
        headers={"Authorization": f"token {alice}"},
    )
    assert response.status_code in (200, 201, 204), response.text
    assert set(fetch(server, "alice", "noarch/repodata.json").json()["signatures"]) == {
        "early-1.0-0.conda"
    }


def test_attestations_are_served_beside_the_files(
    server: RunningServer, alice: str, database: ServerDatabase, tmp_path: Path
) -> None:
    pkg_mgr = verified_pkg_mgr(server, "alice")
    document = fetch(server, "alice", "noarch/early-1.0-0.conda.sig.json").json()
    sha256 = fetch(server, "alice", "noarch/repodata.json").json()["packages.conda"][
        "early-1.0-0.conda"
    ]["sha256"]
    signing.verify_attestation(document, "early-1.0-0.conda", sha256, pkg_mgr)
    assert document["signed"]["predicateType"] == signing.PUBLISH_PREDICATE
    with pytest.raises(signing.SignatureVerificationError, match="does not attest"):
        signing.verify_attestation(document, "early-1.0-0.conda", "0" * 64, pkg_mgr)
    # a private file's attestation is as hidden as the file
    database.add("alice", make_package(tmp_path, "hidden", fmt=".conda"), public=False)
    assert fetch(server, "alice", "noarch/hidden-1.0-0.conda.sig.json").status_code == 404
    token_url = f"{server.conda('alice', token=alice)}/noarch/hidden-1.0-0.conda.sig.json"
    assert httpx.get(token_url).status_code == 200


def test_rotation_keeps_old_signatures_valid_until_retired(
    server: RunningServer, database: ServerDatabase, tmp_path: Path
) -> None:
    database.user("rot")
    database.add("rot", make_package(tmp_path, "tool", fmt=".conda"))
    offline("new-root", str(tmp_path / "root"))
    created = keys(server, "create", "rot", "--root-key", str(tmp_path / "root" / "root.key"))
    old_repodata = fetch(server, "rot", "noarch/repodata.json").json()
    rotated = keys(server, "rotate", "rot")
    new_key = (set(rotated["pkg_mgr"]) - set(created["pkg_mgr"])).pop()
    assert rotated["key_mgr_json"]["signed"]["version"] == 2
    pkg_mgr = verified_pkg_mgr(server, "rot")
    assert set(pkg_mgr.keys) == {*created["pkg_mgr"], new_key}
    check_repodata(old_repodata, pkg_mgr)  # a client's cached copy still verifies
    repodata = fetch(server, "rot", "noarch/repodata.json").json()
    assert set(repodata["signatures"]["tool-1.0-0.conda"]) == set(pkg_mgr.keys)
    keys(server, "retire", "rot")
    pkg_mgr = verified_pkg_mgr(server, "rot")
    assert set(pkg_mgr.keys) == {new_key}
    repodata = fetch(server, "rot", "noarch/repodata.json").json()
    assert set(repodata["signatures"]["tool-1.0-0.conda"]) == {new_key}
    check_repodata(repodata, pkg_mgr)
    with pytest.raises(signing.SignatureVerificationError):
        check_repodata(old_repodata, pkg_mgr)
    listed = {k["public_key"]: k["state"] for k in keys(server, "list", "rot")}
    assert listed[new_key] == "active" and listed[created["pkg_mgr"][0]] == "retired"


def test_the_root_key_signs_offline_and_root_versions_chain(
    server: RunningServer, database: ServerDatabase, tmp_path: Path
) -> None:
    database.user("offline")
    keys(server, "create", "offline")
    assert fetch(server, "offline", "1.root.json").status_code == 404
    request = tmp_path / "request.json"
    keys(server, "export-public", "offline", "-o", str(request))
    offline("new-root", str(tmp_path / "root"))
    key = str(tmp_path / "root" / "root.key")
    first = offline("sign-key-mgr", str(request), "--root-key", key, "-o", str(tmp_path))
    assert first["version"] == 1
    keys(server, "add-root", "offline", first["root_json"])
    root = fetch(server, "offline", "1.root.json").json()
    signature = next(iter(root["signatures"].values()))
    assert set(signature) == {"other_headers", "signature"}  # OpenPGP-style, as conda wants
    verified_pkg_mgr(server, "offline")
    second = offline(
        "sign-key-mgr", str(request), "--root-key", key, "--root-json", first["root_json"],
        "-o", str(tmp_path),
    )  # fmt: skip
    keys(server, "add-root", "offline", second["root_json"])
    signing.verify_root(root, fetch(server, "offline", "2.root.json").json())
    # a root signed by another key does not chain
    offline("new-root", str(tmp_path / "other"))
    forged = offline(
        "sign-key-mgr",
        str(request),
        "--root-key",
        str(tmp_path / "other" / "root.key"),
        "--root-json",
        second["root_json"],
        "-o",
        str(tmp_path / "other"),
    )
    result = server.ophis("keys", "add-root", "offline", forged["root_json"], "--json")
    assert result.returncode == 1
    assert "good signature" in json.loads(result.stdout)["message"]


def test_a_channel_that_requires_signatures_refuses_what_it_cannot_sign(
    server: RunningServer, database: ServerDatabase, tmp_path: Path
) -> None:
    token = database.user("strict")
    result = server.ophis("keys", "require", "strict", "--json")
    assert result.returncode == 1
    assert "no signing keys" in json.loads(result.stdout)["message"]
    keys(server, "create", "strict")
    assert keys(server, "require", "strict")["require_signatures"] is True
    with ApiClient(server.api, token) as api:
        upload(api.http, "strict", make_package(tmp_path, "signed-tool"))
    repodata = fetch(server, "strict", "noarch/repodata.json").json()
    assert set(repodata["signatures"]) == {"signed-tool-1.0-0.tar.bz2"}
    # an unsigned channel serves repodata without a signatures section
    database.user("plain")
    database.add("plain", make_package(tmp_path, "plain-tool"))
    assert "signatures" not in fetch(server, "plain", "noarch/repodata.json").json()
    assert fetch(server, "plain", "key_mgr.json").status_code == 404
