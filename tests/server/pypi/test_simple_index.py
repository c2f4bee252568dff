"""The pip index of an owner: PEP 503 pages, PEP 691 JSON, pip installing from it, and
private projects behind a token."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ophis.core.distribution_types import DistributionType
from ophis.testing.python_dists import make_wheel
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase

PEP691 = "application/vnd.pypi.simple.v1+json"


@pytest.fixture(scope="module")
def alice(database: ServerDatabase, tmp_path_factory: pytest.TempPathFactory) -> str:
    """alice's index: ophis-demo 1.0 and 1.1, and a private wheel; returns alice's token."""
    token = database.user("alice")
    made = tmp_path_factory.mktemp("wheels")
    for version in ("1.0", "1.1"):
        database.add("alice", make_wheel(made, "ophis-demo", version), kind=DistributionType.PYPI)
    database.add(
        "alice", make_wheel(made, "secret-wheel", "2.0"), kind=DistributionType.PYPI, public=False
    )
    return token


def index(server: RunningServer, token: str | None = None) -> str:
    return f"{server.url}/pypi" + (f"/t/{token}" if token else "") + "/alice/simple"


def test_the_project_list_and_a_project_page_in_html(server: RunningServer, alice: str) -> None:
    root = httpx.get(f"{index(server)}/")
    assert root.status_code == 200 and root.headers["content-type"].startswith("text/html")
    assert '<a href="ophis-demo/">ophis-demo</a>' in root.text
    page = httpx.get(f"{index(server)}/ophis-demo/")
    assert page.status_code == 200
    wheel = "ophis_demo-1.1-py3-none-any.whl"
    link = f'<a href="../../files/{wheel}#sha256='
    assert link in page.text and 'data-requires-python="&gt;=3.8"' in page.text
    assert "ophis_demo-1.0-py3-none-any.whl" in page.text
    assert httpx.get(f"{index(server)}/Ophis_Demo/").text == page.text  # PEP 503 names
    for missing in ("no-such-project", "%00bad", "..."):
        assert httpx.get(f"{index(server)}/{missing}/").status_code == 404


def test_pep_691_json_and_its_links(server: RunningServer, alice: str) -> None:
    root = httpx.get(f"{index(server)}/", headers={"Accept": PEP691})
    assert root.headers["content-type"] == PEP691
    assert root.json() == {"meta": {"api-version": "1.1"}, "projects": [{"name": "ophis-demo"}]}
    page = httpx.get(f"{index(server)}/ophis-demo/", headers={"Accept": PEP691})
    document = page.json()
    assert document["name"] == "ophis-demo" and document["versions"] == ["1.0", "1.1"]
    newest = document["files"][-1]
    assert newest["filename"] == "ophis_demo-1.1-py3-none-any.whl"
    assert newest["requires-python"] == ">=3.8"
    # pip follows the redirect to a presigned URL that an S3-backed server answers with
    download = httpx.get(httpx.URL(str(page.url)).join(newest["url"]), follow_redirects=True)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == newest["hashes"]["sha256"]
    assert len(download.content) == newest["size"]
    html = httpx.get(f"{index(server)}/", headers={"Accept": f"{PEP691}; q=0.1, text/html"})
    assert html.headers["content-type"].startswith("text/html")
    assert "Accept" in page.headers["vary"]
    assert (
        httpx.get(
            f"{index(server)}/", headers={"If-None-Match": root.headers["etag"], "Accept": PEP691}
        ).status_code
        == 304
    )


def test_private_projects_need_a_token(server: RunningServer, alice: str) -> None:
    assert "secret-wheel" not in httpx.get(f"{index(server)}/").text
    assert httpx.get(f"{index(server)}/secret-wheel/").status_code == 404
    hidden = httpx.get(f"{server.url}/pypi/alice/files/secret_wheel-2.0-py3-none-any.whl")
    absent = httpx.get(f"{server.url}/pypi/alice/files/absent_wheel-2.0-py3-none-any.whl")
    assert hidden.status_code == absent.status_code == 404 and hidden.json() == absent.json()
    assert "secret-wheel" in httpx.get(f"{index(server, alice)}/").text
    page = httpx.get(f"{index(server, alice)}/secret-wheel/")
    assert page.status_code == 200 and "secret_wheel-2.0-py3-none-any.whl" in page.text
    refused = httpx.get(f"{index(server, 'oph-not-a-real-token')}/")
    assert refused.status_code == 401 and "invalid" in refused.json()["error"]


def test_urls_without_a_slash_redirect_relatively(server: RunningServer, alice: str) -> None:
    for url, target in (
        (index(server, alice), "simple/"),
        (f"{index(server)}/ophis-demo", "ophis-demo/"),
    ):
        response = httpx.get(url)
        assert response.status_code == 301 and response.headers["location"] == target


def pip_install(venv: Path, index_url: str, *requirements: str) -> subprocess.CompletedProcess[str]:
    """pip (this interpreter's) installing into ``venv`` from ``index_url`` only."""
    args = ("--no-cache-dir", "--disable-pip-version-check", "--index-url", index_url)
    args += requirements
    return subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_pip_installs_from_the_index(server: RunningServer, alice: str, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    installed = pip_install(venv, index(server), "ophis-demo")
    assert installed.returncode == 0, installed.stderr
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import ophis_demo; print(ophis_demo.VERSION)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "1.1"

    refused = pip_install(venv, index(server), "secret-wheel")
    assert refused.returncode != 0 and "No matching distribution" in refused.stderr
    private = pip_install(venv, index(server, alice), "secret-wheel")
    assert private.returncode == 0, private.stderr
    assert list(venv.glob("lib/python*/site-packages/secret_wheel-2.0.dist-info"))
