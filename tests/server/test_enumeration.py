"""Someone who may not see a thing cannot tell it from a missing one: every API answer about
a private deployment, package, label or group is the one for a name that does not exist
(same status, same words), and a label holding nothing the caller may see shows nowhere
(not its name, its notices or its counts)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from ophis.server.db.models import Deployment
from ophis.server.services.accounts import accounts
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.channels import notices
from ophis.testing.http import headers
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import add_org, add_user, database

HIDDEN_NOTICE = "a notice of the hidden label"
PUBLIC_NOTICE = "a notice of the whole channel"


@pytest.fixture(scope="module")
def tokens(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """alice owns a private package whose only file is in the label ``hidden`` (with a
    notice), a public package in ``main``, a private deployment and an organization;
    bob is another user."""
    alice, bob = add_user(server, "alice"), add_user(server, "bob")
    built = tmp_path_factory.mktemp("packages")
    with httpx.Client(base_url=server.api, headers=headers(alice)) as api:
        upload(api, make_package(built, "secretpkg", "1.0", "0"), "hidden", public=False)
        upload(api, make_package(built, "openpkg", "1.0", "0"), "main", public=True)
    add_org(server, "acme", "alice")
    with database(server) as session:
        owner = accounts.get_account(session, "alice")
        principal = Principal(account=owner, scopes=frozenset({"all"}))
        for message, label in ((HIDDEN_NOTICE, "hidden"), (PUBLIC_NOTICE, None)):
            notices.post_notice(
                session, principal, "alice", notices.NoticeForm(message=message, label=label)
            )
        session.add(Deployment(owner_id=owner.id, name="secret-app", desired="stopped"))
        session.commit()
    return {"alice": alice, "bob": bob}


def upload(api: httpx.Client, path: Path, label: str, *, public: bool) -> None:
    name, version = path.name.split("-")[:2]
    api.post(f"/package/alice/{name}", json={"public": public}).raise_for_status()
    api.post(f"/release/alice/{name}/{version}", json={}).raise_for_status()
    basename = quote(f"noarch/{path.name}")
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    payload = {"distribution_type": "conda", "sha256": sha256, "channels": [label]}
    staged = api.post(f"/stage/alice/{name}/{version}/{basename}", json=payload).json()
    stored = httpx.post(
        staged["post_url"], data=staged["form_data"], files={"file": (path.name, path.read_bytes())}
    )
    assert stored.status_code == 201, stored.text
    committed = api.post(
        f"/commit/alice/{name}/{version}/{basename}", json={"dist_id": staged["dist_id"]}
    )
    committed.raise_for_status()


@pytest.fixture(scope="module", params=["anonymous", "bob"])
def stranger(
    request: pytest.FixtureRequest, server: RunningServer, tokens: dict[str, str]
) -> Iterator[httpx.Client]:
    token = tokens.get(request.param)
    with httpx.Client(base_url=server.url, headers=headers(token)) as client:
        yield client


def answer(client: httpx.Client, method: str, path: str, name: str, body: dict) -> tuple:
    """What the client is told, with ``name`` written as NAME (so that answers about two
    names compare)."""
    response = client.request(method, path, json=body or None)
    return response.status_code, response.text.replace(name, "NAME")


def assert_same(
    client: httpx.Client,
    method: str,
    template: str,
    hidden: str,
    missing: str,
    body: dict | None = None,
) -> None:
    seen = answer(client, method, template.format(hidden), hidden, body or {})
    absent = answer(client, method, template.format(missing), missing, body or {})
    assert seen == absent, f"{method} {template}: hidden {seen} vs missing {absent}"


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [
        ("GET", "/api/deployments/alice/{}", {}),
        ("GET", "/api/deployments/alice/{}/logs", {}),
        ("PATCH", "/api/deployments/alice/{}", {"public": True}),
        ("DELETE", "/api/deployments/alice/{}", {}),
        ("POST", "/api/deployments/alice/{}/tokens", {"name": "t"}),
        ("POST", "/api/deployments/alice/{}/stop", {}),
    ],
)
def test_a_private_deployment_answers_like_a_missing_one(
    stranger: httpx.Client, method: str, template: str, body: dict
) -> None:
    assert_same(stranger, method, template, "secret-app", "no-such-app", body)
    assert answer(stranger, method, template.format("secret-app"), "", body)[0] in (401, 404)


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [
        ("GET", "/api/package/alice/{}", {}),
        ("PATCH", "/api/package/alice/{}", {"summary": "x"}),
        ("DELETE", "/api/package/alice/{}", {}),
        ("GET", "/api/packages/alice/{}/collaborators", {}),
        ("GET", "/api/release/alice/{}/1.0", {}),
        ("POST", "/api/release/alice/{}/2.0", {}),
        ("DELETE", "/api/release/alice/{}/1.0", {}),
        ("GET", "/api/dist/alice/{0}/1.0/noarch/{0}-1.0-0.tar.bz2", {}),
        ("GET", "/api/download/alice/{0}/1.0/noarch/{0}-1.0-0.tar.bz2", {}),
        ("GET", "/api/sbom/alice/{0}/1.0/noarch/{0}-1.0-0.tar.bz2", {}),
        ("GET", "/api/package/alice/{}/cves", {}),
        ("GET", "/conda/alice/label/hidden/noarch/{}-1.0-0.tar.bz2", {}),
    ],
)
def test_a_private_package_answers_like_a_missing_one(
    stranger: httpx.Client, method: str, template: str, body: dict
) -> None:
    assert_same(stranger, method, template, "secretpkg", "nosuchpkg", body)


def test_a_groups_of_an_organization_answer_like_missing_ones(stranger: httpx.Client) -> None:
    assert_same(stranger, "GET", "/api/group/acme/{}", "owners", "nosuchgroup")
    assert_same(stranger, "GET", "/api/group/acme/{}/members", "owners", "nosuchgroup")


def test_a_label_of_private_files_only_is_nowhere_to_be_seen(
    server: RunningServer, stranger: httpx.Client, tokens: dict[str, str]
) -> None:
    assert_same(stranger, "GET", "/api/channels/alice/{}", "hidden", "nosuchlabel")
    listed = stranger.get("/api/channels/alice")
    assert listed.status_code == 200 and "hidden" not in listed.json()
    assert "main" in listed.json()
    assert_same(stranger, "GET", "/conda/alice/label/{}/notices.json", "hidden", "nosuchlabel")
    for path in ("/conda/alice/notices.json", "/conda/alice/label/hidden/notices.json", "/alice"):
        text = stranger.get(path).text
        assert HIDDEN_NOTICE not in text and "label/hidden" not in text
    assert PUBLIC_NOTICE in stranger.get("/alice").text

    # alice herself sees it all
    with httpx.Client(base_url=server.url, headers=headers(tokens["alice"])) as alice:
        assert "hidden" in alice.get("/api/channels/alice").json()
        assert HIDDEN_NOTICE in alice.get("/conda/alice/label/hidden/notices.json").text
