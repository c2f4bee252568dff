"""Webhooks: made on the settings page, sent signed by the server on upload, label change
and removal, retried with back-off after a failure, logged on the page."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from ophis.client.upload import upload
from ophis.server.context import ServerContext
from ophis.server.db.models import Webhook
from ophis.server.services.accounts import accounts
from ophis.server.services.events import webhooks
from ophis.testing.backends import fresh_backend
from ophis.testing.packages import conda_package
from ophis.testing.server import PASSWORD, RunningServer
from ophis.testing.web import signed_in, text_of
from ophis.testing.webhooks import (
    SECRET,
    Receiver,
    api,
    create_hook,
    signed,
)


def test_upload_label_and_removal_are_sent_signed(
    server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    browser = signed_in(server, "hana")
    assert create_hook(browser, "hana", receiver.url).status_code == 200
    with api(server, "hana") as client:
        upload(client, "hana", conda_package(tmp_path, "hooked"))
        [uploaded] = receiver.wait_for(1)
        assert uploaded.event == "upload" and signed(uploaded)
        assert uploaded.payload["package"] == "hooked"
        assert uploaded.payload["labels"] == ["main"]

        labelled = client.post("/channels/hana/beta", json={"package": "hooked"})
        assert labelled.status_code == 201, labelled.text
        label = receiver.wait_for(2)[1]
        assert label.event == "label" and signed(label)
        assert label.payload["action"] == "add" and label.payload["label"] == "beta"

        assert client.delete("/package/hana/hooked").status_code == 201
        removed = receiver.wait_for(3)[2]
        assert removed.event == "remove" and removed.payload["package"] == "hooked"
    page = text_of(browser.get("/settings/webhooks"))
    assert receiver.url in page and page.count("delivered 200") == 3
    browser.close()


def test_a_failed_delivery_is_retried_and_logged(
    server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.statuses = [500]
    browser = signed_in(server, "ravi")
    create_hook(browser, "ravi", receiver.url, events=["upload"], package="wanted")
    with api(server, "ravi") as client:
        upload(client, "ravi", conda_package(tmp_path, "ignored"))
        upload(client, "ravi", conda_package(tmp_path, "wanted"))
    first, second = receiver.wait_for(2)
    assert first.delivery == second.delivery and first.body == second.body
    assert first.payload["package"] == "wanted"
    # The receiver answers before the server records the answer: wait for the log.
    deadline = time.monotonic() + 10
    while "delivered 200" not in (page := text_of(browser.get("/settings/webhooks"))):
        assert time.monotonic() < deadline, page
        time.sleep(0.1)
    assert page.split("delivered 200")[1].split()[0] == "2"  # the attempts column
    time.sleep(1)
    assert len(receiver.received) == 2  # neither sent again nor the other package sent
    browser.close()


def test_no_one_sees_or_makes_hooks_for_another_namespace(
    server: RunningServer, receiver: Receiver
) -> None:
    owner = signed_in(server, "olga")
    create_hook(owner, "olga", receiver.url)
    other = signed_in(server, "mallory")
    refused = create_hook(other, "olga", "http://127.0.0.1:9/stolen")
    assert refused.status_code == 403
    assert receiver.url not in other.get("/settings/webhooks").text
    hook_id = owner.get("/settings/webhooks").text.split("/settings/webhooks/")[1].split("/")[0]
    deleted = other.post(f"/settings/webhooks/{hook_id}/delete", {}, page="/settings/webhooks")
    assert deleted.status_code == 404
    assert receiver.url in owner.get("/settings/webhooks").text
    for browser in (owner, other):
        browser.close()


def test_hooks_need_an_http_url_events_and_a_form_token(server: RunningServer) -> None:
    browser = signed_in(server, "wendy")
    assert create_hook(browser, "wendy", "file:///etc/passwd").status_code == 400
    assert create_hook(browser, "wendy", "https://example.com/x", events=[]).status_code == 400
    forged = browser.http.post(
        "/settings/webhooks", data={"owner": "wendy", "url": "https://example.com/x"}
    )
    assert forged.status_code == 403
    assert "You have no webhooks." in browser.get("/settings/webhooks").text
    browser.close()


def test_a_claimed_delivery_is_left_to_its_sender(tmp_path: Path) -> None:
    """Workers share the database: a row one has leased is not claimed by another."""
    settings = replace(fresh_backend().settings(tmp_path), webhook_sender=False)
    context = ServerContext.open(settings)
    with context.sessions() as session:
        owner = accounts.create_user(session, "lease", PASSWORD)
        session.add(Webhook(owner_id=owner.id, url="http://127.0.0.1:9/", secret=SECRET))
        session.flush()
        webhooks.enqueue(session, owner.id, "upload", {}, "any")  # the hook wants no event
        hook = session.scalars(select(Webhook)).one()
        hook.events = ["upload"]
        webhooks.enqueue(session, owner.id, "upload", {"package": "any"}, "any")
        session.commit()
    with context.sessions() as first, context.sessions() as second:
        claimed = webhooks.claim_due(first)
        assert len(claimed) == 1
        assert webhooks.claim_due(second) == []
    context.close()
