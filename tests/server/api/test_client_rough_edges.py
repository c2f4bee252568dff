"""Rough edges met with the real ``anaconda`` client: removing a label that would leave
files in no channel, expired tokens, refusals that name the permission needed, and groups
limited to packages with none left."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ophis.testing.anaconda_client import AnacondaClient, as_user
from ophis.testing.http import headers
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase, add_org, add_user


@pytest.fixture(scope="module")
def database(server: RunningServer) -> Iterator[ServerDatabase]:
    opened = ServerDatabase(server)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def bob(server: RunningServer, api: httpx.Client) -> str:
    """bob: in acme's ``readers`` (read, every package) and ``team`` (write, limited to
    packages: it had ``tool``, now none)."""
    add_org(server, "acme", server.admin)
    token = add_user(server, "bob")
    for name in ("tool", "private-tool"):
        assert api.post(f"/package/acme/{name}", json={"public": False}).status_code == 200
    for group, permission in (("readers", "read"), ("team", "write")):
        assert api.post(f"/group/acme/{group}", json={"perms": permission}).status_code == 204
        assert api.put(f"/group/acme/{group}/members/bob").status_code == 204
    assert api.put("/group/acme/team/packages/tool").status_code == 204
    assert api.delete("/group/acme/team/packages/tool").status_code == 204
    return token


def label_files(api: httpx.Client, label: str) -> int:
    return api.get("/channels/admin").json().get(label, {}).get("num_files", 0)


def test_removing_a_label_that_would_strand_files_is_refused(
    database: ServerDatabase, cli: AnacondaClient, api: httpx.Client, tmp_path: Path
) -> None:
    database.add("admin", make_package(tmp_path, "kept"))
    database.add("admin", make_package(tmp_path, "nightly"), labels=["dev"])

    refused = cli("label", "--remove", "main")
    assert refused.returncode != 0
    assert "1 file is in no other label than 'main' of admin" in refused.output
    assert "anaconda move --from-label main" in refused.output
    assert label_files(api, "main") == 1  # nothing was taken out

    # files that stay in another label do not hold a removal back
    assert api.post("/channels/admin/main/copy/archive").status_code == 201
    assert api.request("DELETE", "/channels/admin/archive", json={}).status_code == 201
    assert label_files(api, "archive") == 0 and label_files(api, "main") == 1

    # the API takes force=true for a removal meant to strand the files
    assert api.request("DELETE", "/channels/admin/dev", json={}).status_code == 409
    assert api.request("DELETE", "/channels/admin/dev?force=true", json={}).status_code == 201
    assert "dev" not in api.get("/channels/admin").json()


def test_expired_tokens_are_listed_as_expired_and_removable(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client
) -> None:
    server.login(note="short-lived", **{"max-age": 1})
    time.sleep(1.2)
    listed = {token["name"]: token for token in api.get("/authentications").json()}
    assert listed["short-lived"]["expired"] is True
    assert listed[next(n for n in listed if n != "short-lived")]["expired"] is False
    shown = cli("auth", "--list", check=True).output
    line = next(line for line in shown.splitlines() if "short-lived" in line)
    assert "expired" in line

    cli("auth", "--remove", "short-lived", check=True)
    assert "short-lived" not in {token["name"] for token in api.get("/authentications").json()}
    assert api.delete("/authentications/name/short-lived").status_code == 404  # gone for good


def test_label_locks_name_the_admin_permission_they_need(
    server: RunningServer, cli: AnacondaClient, bob: str, api: httpx.Client
) -> None:
    assert api.post("/group/acme/writers", json={"perms": "write"}).status_code == 204
    assert api.put("/group/acme/writers/members/bob").status_code == 204
    try:
        locked = as_user(cli, bob)("label", "--lock", "main", "-o", "acme")
        assert locked.returncode != 0
        assert "no admin access to acme (locking a label needs admin)" in locked.output
        unlock = httpx.delete(f"{server.api}/channels/acme/main/lock", headers=headers(bob))
        assert unlock.status_code == 403
        assert "(unlocking a label needs admin)" in unlock.json()["error"]
    finally:
        assert api.delete("/group/acme/writers/members/bob").status_code == 204


def test_a_group_with_no_packages_left_grants_nothing_and_takes_nothing_away(
    server: RunningServer, bob: str, tmp_path: Path, cli: AnacondaClient
) -> None:
    as_bob = httpx.Client(base_url=server.api, headers=headers(bob))
    # readers still lets bob read every package of acme, private ones too
    assert as_bob.get("/package/acme/private-tool").status_code == 200
    assert as_bob.get("/packages/acme").status_code == 200
    assert "team" in as_bob.get("/groups/acme").text  # still a member of acme

    # team, limited to packages with none left, grants no write anywhere (never widens)
    patched = as_bob.patch("/package/acme/tool", json={"public_attrs": {"summary": "x"}})
    assert patched.status_code == 403
    upload = as_user(cli, bob)("upload", "-u", "acme", str(make_package(tmp_path, "newtool")))
    assert upload.returncode != 0
    assert "acme/team grant write only on the packages added to them" in upload.output
    assert "team: none left" in upload.output
    assert "anaconda groups add_package acme/team/PACKAGE" in upload.output
