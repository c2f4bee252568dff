"""The organization pages under ``/settings/orgs``: any user creates one and owns it; its
admins manage groups and members; other members see it read-only; everyone else gets the
site's 404."""

from __future__ import annotations

import html
from pathlib import Path

import httpx

from ophis.client.upload import upload
from ophis.testing.packages import conda_package
from ophis.testing.server import PASSWORD, RunningServer
from ophis.testing.web import WebClient, signed_in, text_of

ORGS = "/settings/orgs"


def post(browser: WebClient, path: str, **form: object) -> httpx.Response:
    return browser.post(path, form, page=ORGS)


def create_org(browser: WebClient, login: str) -> None:
    created = post(browser, ORGS, login=login, name=f"The {login} team")
    assert created.status_code == 303, created.text
    assert created.headers["location"].endswith(f"{ORGS}/{login}")


def add_to_group(browser: WebClient, org: str, group: str, login: str) -> httpx.Response:
    return post(browser, f"{ORGS}/{org}/groups/{group}/members", login=login)


def said(response: httpx.Response) -> str:
    """What a reader sees, quotes and all."""
    return html.unescape(text_of(response))


def part(page: httpx.Response, start: str, end: str) -> str:
    """The text of the part of the page from ``start`` to ``end``."""
    found = page.text.split(start)[1].split(end)[0]
    return text_of(httpx.Response(200, text=f"<x {found}"))


def member_row(page: httpx.Response, login: str) -> str:
    return part(page, f'id="member-{login}"', "</tr>")


def test_any_user_creates_an_organization_and_owns_it(server: RunningServer) -> None:
    alice = signed_in(server, "alice")
    create_org(alice, "acme")
    listed = text_of(alice.get(ORGS))
    assert "acme The acme team admin" in listed
    page = alice.get(f"{ORGS}/acme")
    assert page.status_code == 200 and 'id="read-only"' not in page.text
    assert "alice owners admin" in member_row(page, "alice")
    assert 'id="group-owners"' in page.text
    # the owner page links its admins, and only them, to these settings
    assert 'href="/settings/orgs/acme"' in alice.get("/acme").text
    anonymous = WebClient(server)
    assert "/settings/orgs/acme" not in anonymous.get("/acme").text
    taken = post(alice, ORGS, login="acme")
    assert taken.status_code == 409 and "The name 'acme' is taken." in said(taken)
    for browser in (alice, anonymous):
        browser.close()


def test_an_admin_adds_a_member_who_sees_a_read_only_page(server: RunningServer) -> None:
    owner, bob = signed_in(server, "olive"), signed_in(server, "bob")
    create_org(owner, "builders")
    made = post(owner, f"{ORGS}/builders/groups", name="devs", permission="write")
    assert made.status_code == 303, made.text
    assert add_to_group(owner, "builders", "devs", "bob").status_code == 303
    assert "bob devs write" in member_row(owner.get(f"{ORGS}/builders"), "bob")

    assert "builders The builders team write" in text_of(bob.get(ORGS))
    seen = bob.get(f"{ORGS}/builders")
    assert seen.status_code == 200 and 'id="read-only"' in seen.text
    assert "bob devs write" in member_row(seen, "bob")
    assert "/remove" not in seen.text and 'name="permission"' not in seen.text
    # and a member who is no admin may not change anything by posting either
    refused = post(bob, f"{ORGS}/builders/groups", name="mine", permission="admin")
    assert refused.status_code == 403 and "Only admins of builders" in refused.text
    assert 'id="group-mine"' not in owner.get(f"{ORGS}/builders").text
    for browser in (owner, bob):
        browser.close()


def test_non_members_get_the_sites_404(server: RunningServer) -> None:
    owner, carol = signed_in(server, "oscar"), signed_in(server, "carol")
    create_org(owner, "secretive")
    post(owner, f"{ORGS}/secretive/groups", name="hidden-group", permission="read")
    page = carol.get(f"{ORGS}/secretive")
    missing = carol.get(f"{ORGS}/no-such-org")
    assert page.status_code == missing.status_code == 404
    assert text_of(page) == text_of(missing)
    assert "hidden-group" not in page.text
    adding = add_to_group(carol, "secretive", "hidden-group", "carol")
    assert adding.status_code == 404 and "hidden-group" not in adding.text
    assert "carol" not in text_of(owner.get(f"{ORGS}/secretive"))
    assert "secretive" not in text_of(carol.get(ORGS))
    for browser in (owner, carol):
        browser.close()


def test_an_admin_removes_a_member_from_a_group_and_from_the_org(server: RunningServer) -> None:
    owner, dave = signed_in(server, "opal"), signed_in(server, "dave")
    create_org(owner, "movers")
    for group in ("devs", "docs"):
        post(owner, f"{ORGS}/movers/groups", name=group, permission="read")
        add_to_group(owner, "movers", group, "dave")
    assert "dave devs docs read" in member_row(owner.get(f"{ORGS}/movers"), "dave")

    out = post(owner, f"{ORGS}/movers/groups/docs/members/dave/remove")
    assert out.status_code == 303
    assert "dave devs read" in member_row(owner.get(f"{ORGS}/movers"), "dave")
    assert dave.get(f"{ORGS}/movers").status_code == 200

    gone = post(owner, f"{ORGS}/movers/members/dave/remove")
    assert gone.status_code == 303
    assert 'id="member-dave"' not in owner.get(f"{ORGS}/movers").text
    assert dave.get(f"{ORGS}/movers").status_code == 404
    again = post(owner, f"{ORGS}/movers/members/dave/remove")
    assert again.status_code == 404 and "dave is not a member of movers." in again.text
    for browser in (owner, dave):
        browser.close()


def test_the_last_admin_cannot_be_removed(server: RunningServer) -> None:
    owner, erin = signed_in(server, "otto"), signed_in(server, "erin")
    create_org(owner, "lonely")
    for path in (
        f"{ORGS}/lonely/members/otto/remove",
        f"{ORGS}/lonely/groups/owners/members/otto/remove",
    ):
        refused = post(owner, path)
        assert refused.status_code == 400
        assert "otto is the last member of lonely/owners." in text_of(refused)
        assert "Add another owner first" in text_of(refused)
    kept = post(owner, f"{ORGS}/lonely/groups/owners/delete")
    assert kept.status_code == 400 and "cannot be deleted" in kept.text
    assert owner.get(f"{ORGS}/lonely").status_code == 200

    add_to_group(owner, "lonely", "owners", "erin")
    assert post(owner, f"{ORGS}/lonely/members/otto/remove").status_code == 303
    assert owner.get(f"{ORGS}/lonely").status_code == 404
    assert "erin owners admin" in member_row(erin.get(f"{ORGS}/lonely"), "erin")
    for browser in (owner, erin):
        browser.close()


def test_groups_change_permission_packages_and_go(server: RunningServer, tmp_path: Path) -> None:
    owner, fay = signed_in(server, "oona"), signed_in(server, "fay")
    create_org(owner, "shapers")
    token = server.login("oona", PASSWORD)
    with httpx.Client(base_url=server.api, headers={"Authorization": f"token {token}"}) as api:
        upload(api, "shapers", conda_package(tmp_path, "shaped"))
    post(owner, f"{ORGS}/shapers/groups", name="testers", permission="read")
    add_to_group(owner, "shapers", "testers", "fay")

    changed = post(owner, f"{ORGS}/shapers/groups/testers/permission", permission="write")
    assert changed.status_code == 303
    assert "fay testers write" in member_row(owner.get(f"{ORGS}/shapers"), "fay")

    limited = post(owner, f"{ORGS}/shapers/groups/testers/packages", package="shaped")
    assert limited.status_code == 303
    page = owner.get(f"{ORGS}/shapers")
    assert "fay testers write some packages only" in member_row(page, "fay")
    group = part(page, 'id="group-testers"', "</article>")
    assert group.startswith(" testers write some packages") and "Members fay" in group
    assert group.split("Packages")[1].split()[0] == "shaped"
    unknown = post(owner, f"{ORGS}/shapers/groups/testers/packages", package="nothing")
    assert unknown.status_code == 404 and "shapers/nothing was not found." in unknown.text

    post(owner, f"{ORGS}/shapers/groups/testers/packages/shaped/remove")
    assert "Limited to no packages" in owner.get(f"{ORGS}/shapers").text

    duplicate = post(owner, f"{ORGS}/shapers/groups", name="testers", permission="admin")
    assert duplicate.status_code == 409 and "already has a group 'testers'" in said(duplicate)
    assert post(owner, f"{ORGS}/shapers/groups/testers/delete").status_code == 303
    page = owner.get(f"{ORGS}/shapers")
    assert 'id="group-testers"' not in page.text and 'id="member-fay"' not in page.text
    for browser in (owner, fay):
        browser.close()


def test_a_post_without_the_form_token_is_refused(server: RunningServer) -> None:
    owner = signed_in(server, "orla")
    create_org(owner, "guarded")
    forged = owner.http.post(f"{ORGS}/guarded/groups", data={"name": "x", "permission": "admin"})
    assert forged.status_code == 403 and "The form expired" in forged.text
    wrong = owner.http.post(ORGS, data={"login": "guarded-2", "csrf_token": "A" * 43})
    assert wrong.status_code == 403
    assert 'id="group-x"' not in owner.get(f"{ORGS}/guarded").text
    assert "guarded-2" not in owner.get(ORGS).text
    owner.close()
