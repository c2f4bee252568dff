"""The administration page: a 404 to all but superusers; users (paged, with their package
counts), the storage used and the recent uploads."""

from __future__ import annotations

import re

import pytest

from ophis.server.db.models import Account
from ophis.testing.packages import conda_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase
from ophis.testing.web import WebClient, signed_in, text_of

ADMIN_PAGE = "/settings/admin"


@pytest.fixture(scope="module")
def superuser(server: RunningServer) -> WebClient:
    client = WebClient(server)
    assert client.sign_in(server.admin, server.password).status_code == 303
    return client


@pytest.fixture(scope="module")
def uploaded(
    server: RunningServer, database: ServerDatabase, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """``una`` with one package and 60 more users ``user-NN`` (two pages)."""
    signed_in(server, "una").close()
    with database.context.sessions() as session:
        session.add_all(
            Account(login=f"user-{n:02d}", login_key=f"user-{n:02d}") for n in range(60)
        )
        session.commit()
    folder = tmp_path_factory.mktemp("admin-packages")
    return database.add("una", conda_package(folder, "unapkg"))


def test_the_admin_page_is_not_found_to_all_but_superusers(
    server: RunningServer, browser: WebClient, uploaded: str
) -> None:
    assert browser.get(ADMIN_PAGE).status_code == 404
    una = WebClient(server)
    una.sign_in("una")
    page = una.get(ADMIN_PAGE)
    assert page.status_code == 404 and uploaded not in page.text
    assert "Administration" not in una.get("/settings/profile").text
    una.close()


def test_the_admin_page_shows_storage_and_recent_uploads(
    superuser: WebClient, uploaded: str
) -> None:
    page = superuser.get(ADMIN_PAGE)
    assert page.status_code == 200
    assert re.search(r'class="storage-files">1<', page.text)
    assert re.search(r'class="storage-blobs">1<', page.text)
    assert re.search(r'class="storage-size">\d+(\.\d)? (B|KB)<', page.text)
    assert f"una unapkg {uploaded}" in text_of(page)
    assert "Administration" in superuser.get("/settings/profile").text


def test_the_admin_page_lists_users_a_page_at_a_time(
    server: RunningServer, superuser: WebClient, uploaded: str
) -> None:
    first = text_of(superuser.get(ADMIN_PAGE))
    assert f"{server.admin} " in first and "user-00" in first
    assert re.search(r"una \S+ \S+ UTC no no 1 ", first)
    assert re.search(r"admin \S+ \S+ UTC no yes 0 ", first)
    assert 'rel="next"' in superuser.get(ADMIN_PAGE).text
    second = text_of(superuser.get(ADMIN_PAGE, page=2))
    assert "user-59" in second and "user-00" not in second
