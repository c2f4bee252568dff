"""Retention policies per label: made on the settings page, previewed before they remove
anything, run by hand ("Run now") or by the server's periodic runner."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ophis.client.upload import UploadOptions, upload
from ophis.core.distribution_types import DistributionType
from ophis.server.context import ServerContext
from ophis.server.db.engine import make_engine
from ophis.server.db.models import File, RetentionPolicy, utcnow
from ophis.server.services.accounts import accounts
from ophis.server.services.catalog import retention
from ophis.server.services.intake import ingest, inspection
from ophis.testing.backends import fresh_backend
from ophis.testing.packages import conda_package
from ophis.testing.server import PASSWORD, RunningServer, run_server
from ophis.testing.web import WebClient, signed_in, text_of


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("server") / "data") as running:
        yield running


def publish(server: RunningServer, owner: str, folder: Path, ages: dict[str, float]) -> None:
    """Upload ``name-version`` builds to ``nightly`` (``+main`` in the version's key: also to
    main), each uploaded ``ages[key]`` days ago."""
    token = server.login(owner, PASSWORD)
    with httpx.Client(base_url=server.api, headers={"Authorization": f"token {token}"}) as client:
        for key in ages:
            spec, _, also = key.partition("+")
            name, version = spec.split("-")
            labels = ("nightly", also) if also else ("nightly",)
            path = conda_package(folder, name, version)
            upload(client, owner, path, UploadOptions(labels=labels))
    engine = make_engine(server.settings.database)
    with Session(engine) as session:
        for key, days in ages.items():
            name, version = key.partition("+")[0].split("-")
            row = session.scalars(
                select(File).where(File.basename == f"noarch/{name}-{version}-0.tar.bz2")
            ).one()
            row.upload_time = utcnow() - timedelta(days=days)
        session.commit()
    engine.dispose()


def listed(server: RunningServer, owner: str, label: str) -> set[str]:
    response = httpx.get(f"{server.conda(owner, label)}/noarch/repodata.json")
    response.raise_for_status()
    return set(response.json()["packages"])


def create_policy(browser: WebClient, owner: str, **rule: object) -> int:
    form = {"owner": owner, "label": "nightly", **rule}
    response = browser.post("/settings/retention", form, page="/settings/retention")
    assert response.status_code == 303, response.text
    ids = re.findall(r"/settings/retention/(\d+)/preview", browser.get("/settings/retention").text)
    return int(ids[-1])


def preview(browser: WebClient, policy_id: int) -> tuple[list[str], str]:
    response = browser.get(f"/settings/retention/{policy_id}/preview")
    assert response.status_code == 200, response.text
    section = response.text.split('id="preview"')[1].split("</section>")[0]
    return re.findall(r"<code>(noarch/[^<]+)</code>", section), text_of(response)


def run_now(browser: WebClient, policy_id: int) -> httpx.Response:
    page = f"/settings/retention/{policy_id}/preview"
    return browser.post(f"/settings/retention/{policy_id}/run", {}, page=page)


def test_keep_newest_previews_then_removes_only_the_oldest(
    server: RunningServer, tmp_path: Path
) -> None:
    browser = signed_in(server, "nora")
    ages = {"nightly-1.0+main": 7.0, "nightly-1.1": 6.0, "nightly-1.2": 5.0}
    ages |= {"nightly-1.3": 4.0, "nightly-1.4": 3.0, "nightly-1.5": 2.0, "nightly-1.6": 1.0}
    ages |= {"other-1.0": 30.0}  # another package: its own newest five
    publish(server, "nora", tmp_path, ages)
    before = listed(server, "nora", "nightly")
    assert len(before) == 8

    policy_id = create_policy(browser, "nora", keep_newest="5", max_age_days="")
    doomed, page = preview(browser, policy_id)
    assert doomed == ["noarch/nightly-1.0-0.tar.bz2", "noarch/nightly-1.1-0.tar.bz2"]
    assert "removed from nightly only (stays in main)" in page
    assert page.count(" deleted ") == 1
    assert listed(server, "nora", "nightly") == before  # a preview removes nothing

    ran = run_now(browser, policy_id)
    assert ran.status_code == 200, ran.text
    assert "1 file(s) deleted, 1 file(s) taken out of nightly only" in text_of(ran)
    assert listed(server, "nora", "nightly") == before - {
        "nightly-1.0-0.tar.bz2",
        "nightly-1.1-0.tar.bz2",
    }
    assert "nightly-1.0-0.tar.bz2" in listed(server, "nora", "main")
    assert preview(browser, policy_id)[0] == []
    assert "last run" in text_of(browser.get("/settings/retention"))
    browser.close()


def test_max_age_removes_the_files_older_than_the_limit(
    server: RunningServer, tmp_path: Path
) -> None:
    browser = signed_in(server, "maxi")
    publish(server, "maxi", tmp_path, {"aged-1.0": 45.0, "aged-1.1": 31.0, "aged-1.2": 29.0})
    policy_id = create_policy(browser, "maxi", max_age_days="30")
    doomed, _ = preview(browser, policy_id)
    assert doomed == ["noarch/aged-1.0-0.tar.bz2", "noarch/aged-1.1-0.tar.bz2"]
    assert "2 file(s) deleted, 0 file(s)" in text_of(run_now(browser, policy_id))
    assert listed(server, "maxi", "nightly") == {"aged-1.2-0.tar.bz2"}
    browser.close()


def test_a_policy_needs_a_rule_and_a_form_token(server: RunningServer) -> None:
    browser = signed_in(server, "rita")
    form = {"owner": "rita", "label": "nightly"}
    assert browser.post("/settings/retention", form, page="/settings/retention").status_code == 400
    bad = {**form, "keep_newest": "many"}
    assert browser.post("/settings/retention", bad, page="/settings/retention").status_code == 400
    forged = browser.http.post("/settings/retention", data={**form, "keep_newest": "3"})
    assert forged.status_code == 403
    assert "You have no retention policies." in browser.get("/settings/retention").text
    browser.close()


def test_no_one_else_sees_or_runs_an_owners_policies(server: RunningServer) -> None:
    owner = signed_in(server, "otto")
    policy_id = create_policy(owner, "otto", keep_newest="2")
    other = signed_in(server, "mallet")
    assert other.get("/settings/retention", owner="otto").status_code == 404
    assert other.get(f"/settings/retention/{policy_id}/preview").status_code == 404
    assert run_now(owner, policy_id).status_code == 200
    page = "/settings/retention"
    assert other.post(f"/settings/retention/{policy_id}/run", {}, page=page).status_code == 404
    assert other.post(f"/settings/retention/{policy_id}/delete", {}, page=page).status_code == 404
    refused = other.post(page, {"owner": "otto", "label": "x", "keep_newest": "1"}, page=page)
    assert refused.status_code == 404
    assert f"/settings/retention/{policy_id}/" not in other.get(page).text
    deleted = owner.post(f"/settings/retention/{policy_id}/delete", {}, page=page)
    assert deleted.status_code == 303
    assert "You have no retention policies." in owner.get(page).text
    for browser in (owner, other):
        browser.close()


def test_the_runner_applies_every_policy_periodically(tmp_path: Path) -> None:
    settings = replace(
        fresh_backend().settings(tmp_path / "data"), webhook_sender=False, retention_seconds=0.1
    )
    context = ServerContext.open(settings)
    with context.sessions() as session:
        owner = accounts.create_user(session, "runner", PASSWORD)
        for version in ("1.0", "1.1", "1.2"):
            path = conda_package(tmp_path, "ran", version)
            inspected = inspection.inspect_file(path, DistributionType.CONDA)
            ingest.add_file(session, context.storage, owner, path, inspected, labels=["nightly"])
        session.add(RetentionPolicy(owner_id=owner.id, label="nightly", keep_newest=1))
        session.commit()
    runner = retention.runner(context.sessions, context.storage, settings)
    runner.start()
    try:
        deadline = utcnow() + timedelta(seconds=20)
        while utcnow() < deadline:
            with context.sessions() as session:
                if len(session.scalars(select(File)).all()) == 1:
                    break
            time.sleep(0.05)
        with context.sessions() as session:
            [kept] = session.scalars(select(File)).all()
            assert kept.basename == "noarch/ran-1.2-0.tar.bz2"
            assert session.scalars(select(RetentionPolicy)).one().last_run_at is not None
    finally:
        runner.stop()
        context.close()
