"""Logging in, tokens and accounts through the real anaconda client and plain HTTP."""

from __future__ import annotations

import hashlib
import time

import httpx
from sqlalchemy import select

from ophis.server.db.models import Base, Token
from ophis.testing.anaconda_client import AnacondaClient
from ophis.testing.server import RunningServer
from ophis.testing.server_db import database


def test_login_whoami_and_logout_with_the_anaconda_client(
    server: RunningServer, anaconda: AnacondaClient
) -> None:
    assert "Anonymous User" in anaconda("whoami").output
    login = anaconda("login", "--username", server.admin, "--password", server.password)
    assert login.returncode == 0, login.output
    assert "login successful" in login.output
    assert f"Username: {server.admin}" in anaconda("whoami", check=True).output
    assert "binstar_client" in anaconda("auth", "--list", check=True).output
    anaconda("logout", check=True)
    assert "Anonymous User" in anaconda("whoami").output


def test_a_wrong_password_is_refused_with_the_clients_message(
    server: RunningServer, anaconda: AnacondaClient
) -> None:
    result = anaconda("login", "--username", server.admin, "--password", "wrong-password")
    assert result.returncode != 0
    assert "Invalid Username password combination" in result.output


def test_auth_create_list_and_remove_a_scoped_token(
    server: RunningServer, anaconda: AnacondaClient
) -> None:
    anaconda("login", "--username", server.admin, "--password", server.password, check=True)
    created = anaconda(
        "auth",
        "--create",
        "--name",
        "ci-download",
        "--scopes",
        "conda:download",
        stdin=f"{server.password}\n",
    )
    assert created.returncode == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("oph-")
    me = httpx.get(f"{server.api}/user", headers={"Authorization": f"token {secret}"})
    assert me.status_code == 200 and me.json()["login"] == server.admin
    assert "conda:download" in anaconda("auth", "--list", check=True).output
    anaconda("auth", "--remove", "ci-download", check=True)
    after = httpx.get(f"{server.api}/user", headers={"Authorization": f"token {secret}"})
    assert after.status_code == 401
    assert "revoked" in after.json()["error"]


def test_bad_and_expired_tokens_get_401_with_a_json_error(server: RunningServer) -> None:
    for token in ("oph-doesnotexist1234", "not a token", "x" * 300):
        response = httpx.get(f"{server.api}/user", headers={"Authorization": f"token {token}"})
        assert response.status_code == 401
        assert "invalid, expired or revoked" in response.json()["error"]
    expiring = server.login(**{"max-age": 1})
    assert httpx.get(
        f"{server.api}/user", headers={"Authorization": f"token {expiring}"}
    ).is_success
    time.sleep(1.2)
    expired = httpx.get(f"{server.api}/user", headers={"Authorization": f"token {expiring}"})
    assert expired.status_code == 401


def test_tokens_are_stored_only_as_hashes(server: RunningServer) -> None:
    token = server.login()
    with database(server) as session:
        stored = [
            repr(row)
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table))
        ]
        hashes = set(session.scalars(select(Token.token_hash)))
    assert stored and not any(token in row for row in stored)
    assert hashlib.sha256(token.encode()).hexdigest() in hashes


def test_unknown_scopes_and_bearer_keys_are_refused(server: RunningServer) -> None:
    bad_scope = httpx.post(
        f"{server.api}/authentications",
        auth=(server.admin, server.password),
        json={"note": "x", "scopes": ["everything"]},
    )
    assert bad_scope.status_code == 400 and "Unknown scopes" in bad_scope.json()["error"]
    bearer = httpx.post(
        f"{server.api}/authentications",
        headers={"Authorization": "Bearer some-anaconda-com-key"},
        json={"note": "x"},
    )
    assert bearer.status_code == 401
    assert bearer.json()["error"] == "Bearer token authentication is not enabled"


def test_user_lookup_and_scopes_listing(server: RunningServer) -> None:
    assert httpx.get(f"{server.api}/user/{server.admin}").json()["user_type"] == "user"
    missing = httpx.get(f"{server.api}/user/nobody-here")
    assert missing.status_code == 404 and "does not exist" in missing.json()["error"]
    assert "conda:download" in httpx.get(f"{server.api}/scopes").json()
    assert httpx.head(server.api).status_code == 200
