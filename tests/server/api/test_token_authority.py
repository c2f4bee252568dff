"""Adversarial: a credential never yields a broader one. A token asking for a token gets one
no broader in scopes, no longer-lived and no wider in owner than itself; only a password, a
web session or a token with ``auth:manage`` may create, list or revoke tokens; ``max-age``
is bounded; changing a password can revoke the account's tokens."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest

from ophis.server.db.models import Deployment
from ophis.server.services.accounts import accounts
from ophis.testing.anaconda_client import AnacondaClient
from ophis.testing.server import PASSWORD, RunningServer
from ophis.testing.server_db import add_org, add_user, database
from ophis.testing.web import WebClient

NEEDS_MANAGE = "This token may not create, list or revoke tokens: that needs the auth:manage scope."
TEN_YEARS = 10 * 365 * 86400


def by_password(server: RunningServer, login: str, **body: object) -> dict[str, object]:
    """A token made with ``login``'s password: the JSON the server answered."""
    response = httpx.post(
        f"{server.api}/authentications",
        auth=(login, PASSWORD),
        json={"note": f"{login}-{body.get('note', 'pw')}", **body},
    )
    assert response.status_code == 200, response.text
    return response.json()


def by_token(server: RunningServer, token: str, **body: object) -> httpx.Response:
    """``POST /authentications`` with a token instead of a password."""
    return httpx.post(
        f"{server.api}/authentications",
        headers={"Authorization": f"token {token}"},
        json={"note": "minted", **body},
    )


def whoami(server: RunningServer, token: str) -> int:
    return httpx.get(f"{server.api}/user", headers={"Authorization": f"token {token}"}).status_code


def expires(answer: dict[str, object]) -> datetime:
    assert isinstance(answer["expires"], str), answer
    return datetime.fromisoformat(answer["expires"])


@pytest.fixture(scope="module")
def alice(server: RunningServer) -> str:
    add_user(server, "alice")
    return "alice"


@pytest.mark.parametrize(
    "scopes",
    [["conda:download"], ["api:read"], ["api:write"], ["api"], ["repos"], ["deployment:invoke"]],
)
def test_a_narrow_token_cannot_create_list_or_revoke_tokens(
    server: RunningServer, alice: str, scopes: list[str]
) -> None:
    other = by_password(server, alice, note=f"other-{scopes[0]}")
    narrow = by_password(server, alice, note=f"narrow-{scopes[0]}", scopes=scopes)
    headers = {"Authorization": f"token {narrow['token']}"}
    attempts = [
        by_token(server, str(narrow["token"])),
        by_token(server, str(narrow["token"]), scopes=scopes),
        httpx.get(f"{server.api}/authentications", headers=headers),
        httpx.delete(f"{server.api}/authentications/name/{other['name']}", headers=headers),
        httpx.delete(
            f"{server.api}/authentications/org/{alice}/name/{other['name']}", headers=headers
        ),
    ]
    for refused in attempts:
        assert refused.status_code == 403, (refused.request.method, refused.request.url)
        assert refused.json()["error"] == NEEDS_MANAGE
    assert whoami(server, str(other["token"])) == 200  # still alive
    # logging out (a token revoking itself) only ever narrows: allowed to any token
    out = httpx.delete(f"{server.api}/authentications", headers=headers)
    assert out.status_code == 201
    assert whoami(server, str(narrow["token"])) == 401


def test_a_token_creates_only_tokens_within_its_scopes(server: RunningServer, alice: str) -> None:
    held = ["auth:manage", "conda:download"]
    manager = str(by_password(server, alice, note="manager", scopes=held)["token"])
    for broader in (["all"], ["api:write"], ["conda"], ["repos"], ["conda:download", "api"]):
        refused = by_token(server, manager, scopes=broader)
        assert refused.status_code == 403, broader
        assert "may not create a token with" in refused.json()["error"]
    # asking for nothing gives the caller's own scopes, not "all"
    inherited = by_token(server, manager, note="inherited")
    assert inherited.status_code == 200 and sorted(inherited.json()["scopes"]) == held
    narrower = by_token(server, manager, note="narrower", scopes=["conda:download"])
    assert narrower.status_code == 200 and narrower.json()["scopes"] == ["conda:download"]
    # a broad scope grants its narrower ones: api grants api:read (defined in one place)
    api = str(by_password(server, alice, note="api", scopes=["api", "auth:manage"])["token"])
    assert by_token(server, api, note="reader", scopes=["api:read"]).status_code == 200
    assert by_token(server, api, note="everything", scopes=["all"]).status_code == 403


def test_an_expiring_token_cannot_mint_a_longer_lived_one(
    server: RunningServer, alice: str
) -> None:
    hour = by_password(server, alice, note="hour", **{"max-age": 3600})
    token = str(hour["token"])
    # no max-age asked: the new token expires with its parent, not never
    inherited = by_token(server, token, note="inherits")
    assert inherited.status_code == 200
    assert expires(inherited.json()) == expires(hour)
    longer = by_token(server, token, note="longer", **{"max-age": 7200})
    assert longer.status_code == 403
    assert "may not outlive it" in longer.json()["error"]
    assert "max-age" in longer.json()["remedy"]
    shorter = by_token(server, token, note="shorter", **{"max-age": 60})
    assert shorter.status_code == 200 and expires(shorter.json()) < expires(hour)


@pytest.mark.parametrize("max_age", [-1, 0, TEN_YEARS + 1, 10**30])
def test_max_age_out_of_range_is_a_400_naming_the_bounds(
    server: RunningServer, max_age: int
) -> None:
    response = httpx.post(
        f"{server.api}/authentications",
        auth=(server.admin, server.password),
        json={"note": f"age-{max_age}", "max-age": max_age},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == f"max-age {max_age} is out of range."
    assert f"from 1 to {TEN_YEARS} seconds" in response.json()["remedy"]


def test_an_organization_token_stays_within_its_organization(
    server: RunningServer, alice: str
) -> None:
    add_org(server, "lab-one", alice)
    add_org(server, "lab-two", alice)
    bound = by_password(server, alice, note="lab-one", user="lab-one")
    assert bound["org"] == "lab-one"
    token = str(bound["token"])
    for wider in ("lab-two", None, alice):
        minted = by_token(server, token, note=f"from-org-{wider}", user=wider)
        if wider == "lab-two":
            assert minted.status_code == 403
            assert "acts for one organization only" in minted.json()["error"]
        else:  # no organization asked, or the user itself: still bound to lab-one
            assert minted.status_code == 200 and minted.json()["org"] == "lab-one"
    # it lists and revokes lab-one's tokens only, not alice's own
    headers = {"Authorization": f"token {token}"}
    listed = httpx.get(f"{server.api}/authentications", headers=headers).json()
    assert {t["org"] for t in listed} == {"lab-one"}
    mine = by_password(server, alice, note="personal")
    refused = httpx.delete(f"{server.api}/authentications/name/{mine['name']}", headers=headers)
    assert refused.status_code == 404 and whoami(server, str(mine["token"])) == 200
    # only an organization's admins make its tokens, even with their password
    add_user(server, "mallory")
    by_mallory = httpx.post(
        f"{server.api}/authentications",
        auth=("mallory", PASSWORD),
        json={"note": "steal", "user": "lab-one"},
    )
    assert by_mallory.status_code == 403


def test_deployment_tokens_are_no_broader_than_their_maker(
    server: RunningServer, alice: str
) -> None:
    with database(server) as session:
        owner = accounts.get_account(session, alice)
        session.add(Deployment(owner_id=owner.id, name="app"))
        session.commit()
    url = f"{server.api}/deployments/{alice}/app/tokens"
    writer = by_password(server, alice, note="writer", scopes=["api:write"], **{"max-age": 600})
    refused = httpx.post(
        url, headers={"Authorization": f"token {writer['token']}"}, json={"name": "d1"}
    )
    assert refused.status_code == 403 and refused.json()["error"] == NEEDS_MANAGE
    full = by_password(server, alice, note="full-hour", **{"max-age": 3600})
    made = httpx.post(
        url,
        headers={"Authorization": f"token {full['token']}"},
        json={"name": "d2", "expires_in_seconds": 7200},
    )
    assert made.status_code == 403 and "may not outlive it" in made.json()["error"]
    made = httpx.post(url, headers={"Authorization": f"token {full['token']}"}, json={"name": "d3"})
    assert made.status_code == 201, made.text
    assert made.json()["scopes"] == ["deployment:invoke"]
    assert datetime.fromisoformat(made.json()["expires_at"]) <= expires(full)
    # the deployment token itself mints nothing
    minted = by_token(server, made.json()["token"], scopes=["deployment:invoke"])
    assert minted.status_code == 403 and minted.json()["error"] == NEEDS_MANAGE


def test_the_anaconda_client_keeps_working(
    server: RunningServer, alice: str, anaconda: AnacondaClient
) -> None:
    login = anaconda("login", "--username", alice, "--password", PASSWORD)
    assert login.returncode == 0, login.output
    created = anaconda(
        "auth",
        "--create",
        "-n",
        "ci",
        "--scopes",
        "conda:download",
        "--max-age",
        "3600",
        stdin=f"{PASSWORD}\n",
    )
    assert created.returncode == 0, created.output
    narrow = created.stdout.strip().splitlines()[-1]
    listed = anaconda("auth", "--list", check=True).output
    assert "ci" in listed and "conda:download" in listed
    # the narrow token may not list the account's tokens: the client shows why
    refused = anaconda("-t", narrow, "auth", "--list")
    assert refused.returncode != 0 and "auth:manage" in refused.output
    assert anaconda("auth", "--remove", "ci").returncode == 0
    assert whoami(server, narrow) == 401


def test_the_admin_cli_bounds_max_age_and_scopes(server: RunningServer, alice: str) -> None:
    made = server.ophis("token", "create", alice, "--name", "cli", "--max-age", "60", "--json")
    assert made.returncode == 0, made.stderr
    for bad, message in (
        (["--max-age", "0"], "max-age 0 is out of range."),
        (["--max-age", str(TEN_YEARS + 1)], f"max-age {TEN_YEARS + 1} is out of range."),
        (["--scopes", "root"], "Unknown scopes: root."),
    ):
        refused = server.ophis("token", "create", alice, "--name", "bad", *bad)
        assert refused.returncode != 0 and message in refused.stderr + refused.stdout, bad


def test_changing_a_password_revokes_tokens_when_asked(server: RunningServer) -> None:
    first = add_user(server, "nina")
    browser = WebClient(server)
    assert browser.sign_in("nina").status_code == 303
    profile = browser.get("/settings/profile").text
    assert 'name="revoke_tokens" value="true" checked' in profile
    old = server.login("nina", PASSWORD)
    kept = browser.post(
        "/settings/password",
        {"current": PASSWORD, "new": "second-password", "confirm": "second-password"},
        page="/settings/profile",
    )  # the box unticked: tokens stay
    assert kept.status_code == 200 and whoami(server, old) == 200
    revoked = browser.post(
        "/settings/password",
        {
            "current": "second-password",
            "new": "third-password",
            "confirm": "third-password",
            "revoke_tokens": "true",
        },
        page="/settings/profile",
    )
    assert revoked.status_code == 200 and "2 of your API tokens were revoked" in revoked.text
    assert whoami(server, old) == 401 and whoami(server, first) == 401
    assert browser.get("/settings/profile").status_code == 200  # this session goes on


def test_the_admin_cli_password_reset_revokes_tokens_unless_kept(server: RunningServer) -> None:
    first = add_user(server, "oscar")
    browser = WebClient(server)
    assert browser.sign_in("oscar").status_code == 303
    kept = server.ophis("user", "password", "oscar", "--password", PASSWORD, "--keep-tokens")
    assert kept.returncode == 0, kept.stderr
    assert whoami(server, first) == 200
    assert browser.get("/settings/profile").status_code == 303  # signed out all the same
    reset = server.ophis("user", "password", "oscar", "--password", PASSWORD, "--json")
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout)["revoked_tokens"] == 1
    assert whoami(server, first) == 401


def test_the_admin_page_reset_revokes_tokens(server: RunningServer) -> None:
    token = add_user(server, "pia")
    admin = WebClient(server)
    assert admin.sign_in(server.admin, server.password).status_code == 303
    page = admin.get("/settings/admin").text
    assert 'name="revoke_tokens" value="true" checked' in page
    reset = admin.post(
        "/settings/admin/users/pia/password",
        {"password": "a-reset-password", "revoke_tokens": "true"},
        page="/settings/admin",
    )
    assert reset.status_code == 200 and "their 1 API token revoked" in reset.text
    assert whoami(server, token) == 401
