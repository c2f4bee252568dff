"""``anaconda groups`` on an organization, and what its groups then let members do
(including the one thing a write group may not: change a locked label)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ophis.testing.anaconda_client import AnacondaClient, as_user
from ophis.testing.http import headers
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import add_org, add_user


@pytest.fixture(scope="module")
def bob(server: RunningServer) -> str:
    add_org(server, "acme", server.admin)
    return add_user(server, "bob")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packages")


def test_groups_manage_members_and_what_they_may_write(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client, bob: str
) -> None:
    as_bob = headers(bob)
    create = f"{server.api}/package/acme/tool"
    assert httpx.post(create, headers=as_bob, json={}).status_code == 403

    cli("groups", "add", "acme/devs", "--perms", "write", check=True)
    cli("groups", "add_member", "acme/devs/bob", check=True)
    assert "bob" in cli("groups", "members", "acme/devs", check=True).output
    assert httpx.post(create, headers=as_bob, json={}).status_code == 200
    own = httpx.get(f"{server.api}/groups/acme", headers=as_bob).json()["groups"]
    assert [(g["name"], g["permission"]) for g in own] == [("devs", "write")]
    shown = cli("groups", "show", "acme", check=True).output
    assert "'devs'" in shown and "'owners'" in shown

    cli("groups", "add", "acme/readers", check=True)
    cli("groups", "add_package", "acme/readers/tool", check=True)
    assert "acme/tool" in cli("groups", "packages", "acme/readers", check=True).output
    assert api.get("/group/acme/readers").json() == {
        "name": "readers",
        "full_name": "acme/readers",
        "owner": {"login": "acme"},
        "permission": "read",
        "limited": True,
        "members_count": 0,
        "packages_count": 1,
    }
    assert api.delete("/group/acme/readers/packages/tool").status_code == 204
    assert api.get("/group/acme/readers/packages").json() == []

    refused = httpx.post(f"{server.api}/group/acme/mine", headers=as_bob, json={"perms": "admin"})
    assert refused.status_code == 403 and "Only admins of acme" in refused.json()["error"]
    last = api.delete(f"/group/acme/owners/members/{server.admin}")
    assert last.status_code == 400 and "last member" in last.json()["error"]


def test_a_locked_label_refuses_changes_except_by_admins(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client, bob: str, built: Path
) -> None:
    assert api.put("/group/acme/devs/members/bob").status_code == 204
    cli("label", "--lock", "main", "-o", "acme", check=True)
    first = make_package(built, "tool", "1.0", "0")
    refused = as_user(cli, bob)("upload", "-u", "acme", str(first))
    assert refused.returncode != 0 and "The label 'main' of acme is locked" in refused.output
    as_user(cli, bob)("upload", "-u", "acme", "-l", "dev", str(first), check=True)
    assert api.get("/dist/acme/tool/1.0/noarch/tool-1.0-0.tar.bz2").json()["labels"] == ["dev"]
    relabel = httpx.post(
        f"{server.api}/channels/acme/main", headers=headers(bob), json={"package": "tool"}
    )
    assert relabel.status_code == 403

    second = make_package(built, "tool", "1.0", "1")
    cli("upload", "-u", "acme", str(second), check=True)  # admins still may
    assert api.get("/channels/acme").json()["main"]["num_files"] == 1

    cli("groups", "remove_member", "acme/devs/bob", check=True)
    removed = httpx.post(f"{server.api}/release/acme/tool/2.0", headers=headers(bob), json={})
    assert removed.status_code == 403
