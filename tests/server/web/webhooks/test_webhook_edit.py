"""Changing a webhook on the settings page (URL, events, package, on or off) and sending a
past delivery again from its log; the server's sender does the sending."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import httpx

from ophis.client.upload import upload
from ophis.testing.packages import conda_package
from ophis.testing.server import RunningServer
from ophis.testing.web import WebClient, signed_in, text_of
from ophis.testing.webhooks import Receiver, api, create_hook, signed

HOOKS = "/settings/webhooks"


def hook_id(browser: WebClient) -> str:
    match = re.search(r"/settings/webhooks/(\d+)/edit", browser.get(HOOKS).text)
    assert match, "the page offers no hook to edit"
    return match.group(1)


def delivery_ids(browser: WebClient) -> list[str]:
    return re.findall(r"/settings/webhooks/deliveries/(\d+)/redeliver", browser.get(HOOKS).text)


def page_shows(browser: WebClient, text: str, count: int, timeout: float = 20) -> bool:
    """Whether the hooks page comes to show ``text`` ``count`` times: the receiver has a
    delivery a moment before the sender records its outcome."""
    deadline = time.monotonic() + timeout
    while text_of(browser.get(HOOKS)).count(text) != count and time.monotonic() < deadline:
        time.sleep(0.1)
    return text_of(browser.get(HOOKS)).count(text) == count


def edit(browser: WebClient, hook: str, **form: object) -> httpx.Response:
    return browser.post(f"{HOOKS}/{hook}/edit", form, page=HOOKS)


def redeliver(browser: WebClient, delivery: str) -> httpx.Response:
    return browser.post(f"{HOOKS}/deliveries/{delivery}/redeliver", {}, page=HOOKS)


def test_an_edited_hook_sends_what_it_now_asks_for_where_it_now_points(
    server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    browser = signed_in(server, "edna")
    create_hook(browser, "edna", "http://127.0.0.1:9/old", events=["remove"])
    hook = hook_id(browser)
    changed = edit(
        browser, hook, url=receiver.url, events=["upload"], package="wanted", active="on"
    )
    assert changed.status_code == 303
    page = text_of(browser.get(HOOKS))
    assert f"edna / wanted → {receiver.url}" in page and "127.0.0.1:9/old" not in page
    with api(server, "edna") as client:
        upload(client, "edna", conda_package(tmp_path, "ignored"))
        upload(client, "edna", conda_package(tmp_path, "wanted"))
    [sent] = receiver.wait_for(1)
    assert sent.event == "upload" and sent.payload["package"] == "wanted"
    assert signed(sent)  # the secret stayed
    time.sleep(1)
    assert len(receiver.received) == 1
    browser.close()


def test_a_bad_edit_is_refused_and_changes_nothing(server: RunningServer) -> None:
    browser = signed_in(server, "fred")
    create_hook(browser, "fred", "https://example.com/kept")
    hook = hook_id(browser)
    refused = edit(browser, hook, url="ftp://example.com/x", events=["upload"], active="on")
    assert refused.status_code == 400
    said = html.unescape(text_of(refused))
    assert "'ftp://example.com/x' is not an http(s) URL." in said
    assert "https://example.com/kept" in text_of(browser.get(HOOKS))
    no_events = edit(browser, hook, url="https://example.com/kept", active="on")
    assert no_events.status_code == 400 and "Choose the events to send." in no_events.text
    browser.close()


def test_a_past_delivery_is_sent_again(
    server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    browser = signed_in(server, "gail")
    create_hook(browser, "gail", receiver.url, events=["upload"])
    with api(server, "gail") as client:
        upload(client, "gail", conda_package(tmp_path, "again"))
    [first] = receiver.wait_for(1)
    [delivery] = delivery_ids(browser)
    assert delivery == first.delivery
    assert redeliver(browser, delivery).status_code == 303
    second = receiver.wait_for(2)[1]
    assert second.body == first.body and second.event == "upload" and signed(second)
    assert second.delivery != first.delivery
    assert delivery_ids(browser) == [second.delivery, first.delivery]
    assert page_shows(browser, "delivered 200", 2)
    browser.close()


def test_a_hook_turned_off_sends_and_redelivers_nothing(
    server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    browser = signed_in(server, "hugo")
    create_hook(browser, "hugo", receiver.url, events=["upload"])
    hook = hook_id(browser)
    assert edit(browser, hook, url=receiver.url, events=["upload"]).status_code == 303
    assert 'class="badge private">off<' in browser.get(HOOKS).text
    with api(server, "hugo") as client:
        upload(client, "hugo", conda_package(tmp_path, "quiet"))
    time.sleep(1)
    assert receiver.received == [] and delivery_ids(browser) == []

    receiver.statuses = [500] * 10  # fails, so there is a delivery to redeliver later
    edit(browser, hook, url=receiver.url, events=["upload"], active="on")
    with api(server, "hugo") as client:
        upload(client, "hugo", conda_package(tmp_path, "loud"))
    receiver.wait_for(1)
    edit(browser, hook, url=receiver.url, events=["upload"])
    time.sleep(0.5)  # an attempt already under way ends
    tried = len(receiver.received)
    time.sleep(2)  # the retries of the failing delivery wait for the hook to be on
    assert len(receiver.received) == tried
    [delivery] = delivery_ids(browser)
    refused = redeliver(browser, delivery)
    assert refused.status_code == 400 and "is turned off" in refused.text
    browser.close()


def test_no_one_else_edits_or_redelivers_and_forms_need_their_token(
    server: RunningServer, receiver: Receiver, tmp_path: Path
) -> None:
    owner, mallory = signed_in(server, "ivy"), signed_in(server, "mal")
    create_hook(owner, "ivy", receiver.url, events=["upload"])
    hook = hook_id(owner)
    with api(server, "ivy") as client:
        upload(client, "ivy", conda_package(tmp_path, "mine"))
    receiver.wait_for(1)
    [delivery] = delivery_ids(owner)
    stolen = edit(mallory, hook, url="http://127.0.0.1:9/stolen", events=["upload"], active="on")
    assert stolen.status_code == 404
    assert redeliver(mallory, delivery).status_code == 404
    forged = owner.http.post(
        f"{HOOKS}/{hook}/edit", data={"url": "http://127.0.0.1:9/x", "events": "upload"}
    )
    assert forged.status_code == 403
    assert owner.http.post(f"{HOOKS}/deliveries/{delivery}/redeliver").status_code == 403
    assert receiver.url in owner.get(HOOKS).text and "127.0.0.1:9" not in owner.get(HOOKS).text
    time.sleep(1)
    assert len(receiver.received) == 1 and delivery_ids(owner) == [delivery]
    for browser in (owner, mallory):
        browser.close()
