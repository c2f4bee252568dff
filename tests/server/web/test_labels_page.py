"""``/settings/labels``: an owner's labels with their file counts, created, locked, renamed and
deleted, and a package's files copied or moved between them -- each change checked in the
channel conda reads (repodata.json)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ophis.server.db.models import OrgGroup
from ophis.server.services.accounts import accounts
from ophis.testing.packages import conda_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase
from ophis.testing.web import WebClient, signed_in, text_of

PAGE = "/settings/labels"


@pytest.fixture(scope="module")
def hal(server: RunningServer, database: ServerDatabase) -> Iterator[WebClient]:
    client = signed_in(server, "hal")
    yield client
    client.close()


def rows(browser: WebClient, owner: str = "hal") -> dict[str, tuple[int, str]]:
    """label -> (files, locked) as the page lists them."""
    page = browser.get(f"{PAGE}?owner={owner}")
    assert page.status_code == 200, page.text
    found = re.findall(
        r'<tr data-label="([^"]+)">.*?class="number files">(\d+)</td>\s*'
        r'<td class="locked">(\w+)</td>',
        page.text,
        re.S,
    )
    return {name: (int(count), locked) for name, count, locked in found}


def change(browser: WebClient, route: str, owner: str = "hal", **form: str) -> httpx.Response:
    return browser.post(f"{PAGE}{route}", {"owner": owner, **form}, page=f"{PAGE}?owner={owner}")


def said(response: httpx.Response) -> str:
    """The page's text as a reader sees it (entities such as &#39; decoded)."""
    return html.unescape(text_of(response))


def in_label(server: RunningServer, owner: str, label: str) -> set[str] | None:
    """The files conda sees in a label's noarch repodata; None when there is no such label."""
    response = httpx.get(f"{server.conda(owner, label)}/noarch/repodata.json")
    if response.status_code == 404:
        return None
    return set(response.json()["packages"])


def test_labels_are_listed_created_copied_moved_renamed_and_deleted(
    server: RunningServer, hal: WebClient, database: ServerDatabase, tmp_path: Path
) -> None:
    one = database.add("hal", conda_package(tmp_path, "lblpkg", "1.0"))
    two = database.add("hal", conda_package(tmp_path, "lblpkg", "2.0"), labels=["main", "dev"])
    one, two = one.split("/")[1], two.split("/")[1]
    assert rows(hal) == {"main": (2, "no"), "dev": (1, "no")}
    assert 'href="/settings/labels" aria-current="page"' in hal.get(PAGE).text

    assert change(hal, "", name="empty").status_code == 303
    assert rows(hal)["empty"] == (0, "no")
    again = change(hal, "", name="empty")
    assert again.status_code == 409 and "already has a label 'empty'" in said(again)

    copied = change(
        hal, "/transfer", package="lblpkg", version="1.0", from_label="main",
        to_label="staging", action="copy",
    )  # fmt: skip
    assert copied.status_code == 200
    assert "1 file(s) of lblpkg copied from main to staging" in said(copied)
    assert in_label(server, "hal", "staging") == {one}
    assert in_label(server, "hal", "main") == {one, two}

    moved = change(
        hal, "/transfer", package="lblpkg", from_label="main", to_label="archive", action="move"
    )
    assert "2 file(s) of lblpkg moved" in said(moved)
    assert in_label(server, "hal", "main") == set()
    assert in_label(server, "hal", "archive") == {one, two}

    assert change(hal, "/rename", name="dev", new_name="nightly").status_code == 303
    assert in_label(server, "hal", "dev") is None
    assert in_label(server, "hal", "nightly") == {two}
    refused = change(hal, "/rename", name="main", new_name="other")
    assert refused.status_code == 400 and "plain channel" in said(refused)

    assert change(hal, "/delete", name="staging").status_code == 303
    assert in_label(server, "hal", "staging") is None
    assert in_label(server, "hal", "archive") == {one, two}  # the files stay elsewhere
    refused = change(hal, "/delete", name="main")
    assert refused.status_code == 400 and "cannot be deleted" in said(refused)
    assert rows(hal) == {
        "archive": (2, "no"),
        "empty": (0, "no"),
        "main": (0, "no"),
        "nightly": (1, "no"),
    }
    missing = change(hal, "/transfer", package="nopkg", from_label="archive", to_label="main")
    assert missing.status_code == 404 and "hal/nopkg was not found" in said(missing)


def test_a_locked_label_is_changed_only_by_the_owners_admins(
    server: RunningServer, hal: WebClient, database: ServerDatabase, tmp_path: Path
) -> None:
    """ivy writes to the organization halorg without administering it."""
    ivy = signed_in(server, "ivy")
    with database.context.sessions() as session:
        org = accounts.create_org(session, "halorg", accounts.get_account(session, "hal"))
        session.add(OrgGroup(org_id=org.id, name="writers", permission="write"))
        session.commit()
        accounts.add_member(session, org, "writers", accounts.get_account(session, "ivy"))
    database.add("halorg", conda_package(tmp_path, "orgpkg"), labels=["main", "release"])

    assert change(hal, "/lock", owner="halorg", name="release", locked="true").status_code == 303
    assert rows(hal, "halorg")["release"] == (1, "locked")
    assert rows(ivy, "halorg")["release"] == (1, "locked")  # a writer sees the page
    refused = change(
        ivy, "/transfer", owner="halorg", package="orgpkg", from_label="release",
        to_label="main", action="move",
    )  # fmt: skip
    assert refused.status_code == 403 and "is locked" in said(refused)
    assert change(ivy, "/delete", owner="halorg", name="release").status_code == 403
    assert in_label(server, "halorg", "release") == {"orgpkg-1.0-0.tar.bz2"}
    # locking is for admins: ivy may not unlock it either
    assert change(ivy, "/lock", owner="halorg", name="release", locked="false").status_code == 403

    assert change(hal, "/lock", owner="halorg", name="release", locked="false").status_code == 303
    assert rows(ivy, "halorg")["release"] == (1, "no")
    assert change(ivy, "/delete", owner="halorg", name="release").status_code == 303
    assert in_label(server, "halorg", "release") is None
    ivy.close()


def test_others_do_not_see_an_owners_label_settings(
    server: RunningServer, hal: WebClient, database: ServerDatabase
) -> None:
    jo = signed_in(server, "jo")
    assert jo.get(f"{PAGE}?owner=hal").status_code == 404
    assert change(jo, "", owner="hal", name="intruder").status_code == 404
    assert "intruder" not in rows(hal)
    assert jo.get(PAGE).status_code == 200  # their own (empty) channel
    jo.close()
