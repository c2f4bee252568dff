"""Download statistics: counted per file, day and platform on every download route, served
as JSON and CSV by ``/api/stats``, drawn on the package page, hidden with a private
package."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import httpx
import pytest

from ophis.core.package_create import create_package
from ophis.testing.packages import make_index
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase
from ophis.testing.web import WebClient, signed_in


@pytest.fixture(scope="module")
def downloaded(
    server: RunningServer, database: ServerDatabase, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """sam's ``counted`` (noarch and linux-64 files), downloaded 3 times through the conda
    URLs; and the private ``hush``."""
    signed_in(server, "sam").close()
    folder = tmp_path_factory.mktemp("stats-packages")
    noarch, linux = (
        database.add(
            "sam",
            create_package(folder / subdir, index=make_index("counted", subdir=subdir)),
        )
        for subdir in ("noarch", "linux-64")
    )
    for basename in (noarch, noarch, linux):
        assert get(server, f"/conda/sam/{basename}").status_code == 200
    hidden = create_package(folder, index=make_index("hush"), fmt=".tar.bz2")
    database.add("sam", hidden, public=False)
    return {"noarch": noarch, "linux": linux}


def get(server: RunningServer, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", headers=headers, follow_redirects=True)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_stats_count_each_download_per_day_and_platform(
    server: RunningServer, downloaded: dict[str, str]
) -> None:
    response = get(server, "/api/stats/sam/counted")
    assert response.status_code == 200
    assert response.json() == {
        "package": "sam/counted",
        "total": 3,
        "days": [
            {"day": today(), "subdir": "linux-64", "downloads": 1},
            {"day": today(), "subdir": "noarch", "downloads": 2},
        ],
    }


def test_stats_export_as_csv(server: RunningServer, downloaded: dict[str, str]) -> None:
    response = get(server, "/api/stats/sam/counted?format=csv&days=7")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(response.text))) == [
        ["day", "subdir", "downloads"],
        [today(), "linux-64", "1"],
        [today(), "noarch", "2"],
    ]


def test_the_package_page_draws_the_last_30_days(
    browser: WebClient, downloaded: dict[str, str]
) -> None:
    page = browser.get("/sam/counted")
    assert page.status_code == 200
    chart = re.search(r'<svg class="chart".*?</svg>', page.text, re.S)
    assert chart, "no chart on the package page"
    assert 'data-total="3"' in chart.group(0)
    bars = re.findall(r'data-downloads="(\d+)"', chart.group(0))
    assert len(bars) == 30 and bars[-1] == "3" and set(bars[:-1]) == {"0"}
    assert f"<title>{today()}: 3</title>" in chart.group(0)
    assert "<script" not in page.text


def test_a_private_package_stats_are_not_found_to_others(
    server: RunningServer, browser: WebClient, downloaded: dict[str, str]
) -> None:
    for path in ("/api/stats/sam/hush", "/api/stats/sam/hush?format=csv"):
        assert get(server, path).status_code == 404
    token = server.login("sam", "a-password-for-tests")
    owned = get(server, "/api/stats/sam/hush", Authorization=f"token {token}")
    assert owned.status_code == 200 and owned.json()["total"] == 0
    assert get(server, "/api/stats/sam/nothing").status_code == 404
