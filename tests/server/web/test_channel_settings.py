"""``/settings/channel``: a whole channel made private (and public again) hides its packages
everywhere -- repodata, files, pages, search, the API -- from everyone but its members; and
the channel's notices, posted there, as conda reads them (``notices.json``) and as a banner
on the owner's pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ophis.client.upload import UploadOptions, upload
from ophis.server.db.models import ChannelNotice, utcnow
from ophis.server.services.accounts import accounts
from ophis.testing.packages import conda_package
from ophis.testing.server import PASSWORD, RunningServer
from ophis.testing.server_db import ServerDatabase
from ophis.testing.web import WebClient, signed_in, text_of

NOT_FOUND = "There is nothing here."
#: conda's notice levels (conda.base.constants.NoticeLevel)
CONDA_LEVELS = {"info", "warning", "critical"}


@pytest.fixture(scope="module")
def carol(server: RunningServer) -> Iterator[WebClient]:
    client = signed_in(server, "carol")
    yield client
    client.close()


@pytest.fixture(scope="module")
def dave(server: RunningServer) -> Iterator[WebClient]:
    client = signed_in(server, "dave")
    yield client
    client.close()


@pytest.fixture(scope="module")
def anonymous(server: RunningServer) -> Iterator[WebClient]:
    client = WebClient(server)
    yield client
    client.close()


def set_private(browser: WebClient, owner: str, private: bool) -> httpx.Response:
    page = f"/settings/channel?owner={owner}"
    form = {"owner": owner, "private": "true" if private else "false"}
    return browser.post("/settings/channel/visibility", form, page=page)


def repodata_names(server: RunningServer, owner: str, token: str | None = None) -> set[str]:
    response = httpx.get(f"{server.conda(owner, token=token)}/noarch/repodata.json")
    assert response.status_code == 200, response.text
    return {record["name"] for record in response.json()["packages"].values()}


def channel_package_names(server: RunningServer, owner: str, token: str | None = None) -> set[str]:
    response = httpx.get(f"{server.conda(owner, token=token)}/channeldata.json")
    assert response.status_code == 200, response.text
    return set(response.json()["packages"])


def api_get(server: RunningServer, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.get(f"{server.api}{path}", headers=headers)


def sees_package(server: RunningServer, browser: WebClient, token: str | None) -> dict[str, bool]:
    """Everywhere carol's ``openpkg`` may show, whether this caller sees it there."""
    file_url = f"{server.conda('carol', token=token)}/noarch/openpkg-1.0-0.tar.bz2"
    download = httpx.get(file_url, follow_redirects=True)  # S3 storage redirects
    listed = api_get(server, "/packages/carol", token)
    return {
        "repodata": "openpkg" in repodata_names(server, "carol", token),
        "channeldata": "openpkg" in channel_package_names(server, "carol", token),
        "download": download.status_code == 200,
        "package page": browser.get("/carol/openpkg").status_code == 200,
        "owner page": "openpkg" in text_of(browser.get("/carol")),
        "label page": browser.get("/carol/labels/beta").status_code == 200,
        "search": "carol / openpkg" in text_of(browser.get("/search", q="openpkg")),
        "api package": api_get(server, "/package/carol/openpkg", token).status_code == 200,
        "api listing": "openpkg" in {p["name"] for p in listed.json()},
    }


def test_a_private_channel_hides_its_packages_from_all_but_its_members(
    server: RunningServer,
    carol: WebClient,
    dave: WebClient,
    anonymous: WebClient,
    database: ServerDatabase,
    tmp_path: Path,
) -> None:
    database.add("carol", conda_package(tmp_path, "openpkg"), labels=["main", "beta"])
    carol_token = server.login("carol", PASSWORD)
    dave_token = server.login("dave", PASSWORD)
    everywhere = dict.fromkeys(sees_package(server, anonymous, None), True)
    assert sees_package(server, anonymous, None) == everywhere  # public so far

    assert set_private(carol, "carol", True).status_code == 303
    settings = text_of(carol.get("/settings/channel"))
    assert "Every package of this channel is private" in settings
    nowhere = dict.fromkeys(everywhere, False)
    assert sees_package(server, anonymous, None) == nowhere
    assert sees_package(server, dave, dave_token) == nowhere
    assert NOT_FOUND in anonymous.get("/carol/openpkg").text
    # the owner, signed in or with a token, still sees everything
    assert sees_package(server, carol, carol_token) == everywhere
    assert api_get(server, "/package/carol/openpkg", carol_token).json()["public"] is False
    assert "private" in text_of(carol.get("/carol/openpkg"))

    # uploaded while the channel is private: created private, and stays so once it is public
    with httpx.Client(
        base_url=server.api, headers={"Authorization": f"token {carol_token}"}
    ) as api:
        upload(api, "carol", conda_package(tmp_path, "newpkg"), UploadOptions())
    assert set_private(carol, "carol", False).status_code == 303
    assert sees_package(server, anonymous, None) == everywhere
    assert "newpkg" not in repodata_names(server, "carol")
    assert "newpkg" in repodata_names(server, "carol", carol_token)


def test_only_the_channels_admins_see_and_change_its_settings(
    server: RunningServer, carol: WebClient, dave: WebClient, anonymous: WebClient
) -> None:
    assert dave.get("/settings/channel?owner=carol").status_code == 404
    refused = dave.post(
        "/settings/channel/visibility", {"owner": "carol", "private": "true"}, page="/"
    )
    assert refused.status_code == 404
    forged = carol.http.post(
        "/settings/channel/visibility", data={"owner": "carol", "private": "true"}
    )
    assert forged.status_code == 403  # no CSRF token
    assert anonymous.get("/settings/channel").status_code == 303  # to the sign-in page
    assert 'href="/settings/channel"' in carol.get("/settings/profile").text


def test_an_organization_admin_manages_the_organizations_channel(
    server: RunningServer, carol: WebClient, database: ServerDatabase, tmp_path: Path
) -> None:
    with database.context.sessions() as session:
        accounts.create_org(session, "carolorg", accounts.get_account(session, "carol"))
    database.add("carolorg", conda_package(tmp_path, "orgpkg"))
    page = carol.get("/settings/channel?owner=carolorg")
    assert page.status_code == 200
    assert '<option value="carolorg" selected>' in page.text
    assert set_private(carol, "carolorg", True).status_code == 303
    assert "orgpkg" not in repodata_names(server, "carolorg")
    assert set_private(carol, "carolorg", False).status_code == 303
    assert "orgpkg" in repodata_names(server, "carolorg")


# --- notices -------------------------------------------------------------------------------


def post_notice(browser: WebClient, owner: str, **fields: str) -> httpx.Response:
    form = {"owner": owner, "level": "info", **fields}
    return browser.post("/settings/channel/notices", form, page=f"/settings/channel?owner={owner}")


def notices_json(
    server: RunningServer, owner: str, label: str | None = None, token: str | None = None
) -> httpx.Response:
    return httpx.get(f"{server.conda(owner, label, token)}/notices.json")


def check_conda_schema(document: dict) -> None:
    """What conda's ChannelNoticeResponse reads: ``notices``, each with a string id, a
    message, a known level, ISO times datetime.fromisoformat parses (on every Python conda
    supports: no "Z"), and an integer interval when there is one."""
    assert set(document) == {"notices"}
    for notice in document["notices"]:
        assert set(notice) <= {"id", "message", "level", "created_at", "expired_at", "interval"}
        assert isinstance(notice["id"], str) and notice["id"]
        assert isinstance(notice["message"], str) and notice["message"]
        assert notice["level"] in CONDA_LEVELS
        for key in ("created_at", "expired_at"):
            if key in notice:
                assert not notice[key].endswith("Z")
                assert datetime.fromisoformat(notice[key]).tzinfo is not None
        if "interval" in notice:
            assert isinstance(notice["interval"], int) and notice["interval"] > 0


def test_notices_are_served_to_conda_and_shown_on_the_channels_pages(
    server: RunningServer,
    dave: WebClient,
    anonymous: WebClient,
    database: ServerDatabase,
    tmp_path: Path,
) -> None:
    erin = signed_in(server, "erin")
    database.add("erin", conda_package(tmp_path, "erinpkg"), labels=["main", "beta"])
    tomorrow = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert notices_json(server, "erin").json() == {"notices": []}

    posted = post_notice(
        erin,
        "erin",
        message="Maintenance tonight",
        level="warning",
        expires=tomorrow,
        interval_hours="12",
    )
    assert posted.status_code == 303, text_of(posted)
    beta_notice = post_notice(
        erin, "erin", message="beta is broken", level="critical", label="beta"
    )
    assert beta_notice.status_code == 303
    main = notices_json(server, "erin")
    assert main.status_code == 200 and main.headers["content-type"] == "application/json"
    check_conda_schema(main.json())
    [notice] = main.json()["notices"]  # the beta notice is not the plain channel's
    assert (notice["message"], notice["level"], notice["interval"]) == (
        "Maintenance tonight",
        "warning",
        12 * 3600,
    )
    assert notice["expired_at"].startswith(tomorrow)
    beta = notices_json(server, "erin", "beta").json()
    check_conda_schema(beta)
    assert [n["message"] for n in beta["notices"]] == ["beta is broken", "Maintenance tonight"]

    # the banner: the owner, label and package pages, to anyone
    for path in ("/erin", "/erin/erinpkg", "/erin/labels/beta"):
        assert "Warning: Maintenance tonight" in text_of(anonymous.get(path)), path
    assert "Critical (beta): beta is broken" in text_of(anonymous.get("/erin/labels/beta"))
    assert "Maintenance tonight" not in text_of(anonymous.get("/carol"))

    # refused: an expiry in the past, an unknown level, an empty message
    for fields, problem in (
        ({"message": "late", "expires": "2001-01-01"}, "expire before it is posted"),
        ({"message": "odd", "level": "shout"}, "is not a notice level"),
        ({"message": "  "}, "needs a message"),
    ):
        refused = post_notice(erin, "erin", **fields)
        assert refused.status_code == 400 and problem in text_of(refused), fields
    assert (
        dave.post("/settings/channel/notices", {"owner": "erin", "message": "x"}).status_code == 404
    )
    assert len(notices_json(server, "erin", "beta").json()["notices"]) == 2
    erin.close()


def test_an_expired_notice_is_no_longer_shown_and_a_removed_one_is_gone(
    server: RunningServer, anonymous: WebClient, database: ServerDatabase, tmp_path: Path
) -> None:
    fay = signed_in(server, "fay")
    database.add("fay", conda_package(tmp_path, "faypkg"))
    assert post_notice(fay, "fay", message="Old news").status_code == 303
    assert post_notice(fay, "fay", message="Still true").status_code == 303
    with database.context.sessions() as session:
        old = session.query(ChannelNotice).filter_by(message="Old news").one()
        old.expired_at = utcnow() - timedelta(minutes=1)
        session.commit()
    assert [n["message"] for n in notices_json(server, "fay").json()["notices"]] == ["Still true"]
    owner_page = text_of(anonymous.get("/fay"))
    assert "Still true" in owner_page and "Old news" not in owner_page
    settings = fay.get("/settings/channel")
    assert "Old news" in text_of(settings) and "expired" in text_of(settings)

    still = notices_json(server, "fay").json()["notices"][0]["id"]
    removed = fay.post(
        f"/settings/channel/notices/{still}/delete", {"owner": "fay"}, page="/settings/channel"
    )
    assert removed.status_code == 303
    assert notices_json(server, "fay").json() == {"notices": []}
    assert "Still true" not in text_of(anonymous.get("/fay"))
    fay.close()


def test_a_private_channels_notices_are_only_for_those_who_may_read_it(
    server: RunningServer, dave: WebClient, anonymous: WebClient
) -> None:
    gus = signed_in(server, "gus")
    assert post_notice(gus, "gus", message="For members only").status_code == 303
    assert set_private(gus, "gus", True).status_code == 303
    assert notices_json(server, "gus").status_code == 404
    dave_token = server.login("dave", PASSWORD)
    assert notices_json(server, "gus", token=dave_token).status_code == 404
    gus_token = server.login("gus", PASSWORD)
    [notice] = notices_json(server, "gus", token=gus_token).json()["notices"]
    assert notice["message"] == "For members only"
    assert "For members only" not in dave.get("/gus").text
    assert "For members only" not in anonymous.get("/gus").text
    assert "For members only" in gus.get("/gus").text
    assert notices_json(server, "nobody-here").status_code == 404
    gus.close()
