"""A server as it starts by default never sends its users' requests to its own network:
webhooks and mirror upstreams naming loopback, private or link-local addresses (in any
spelling) are refused when declared, and a mirror the operator declared is fetched only
within the networks the operator allowed (``outbound_allowed_networks``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.http import serve_directory
from ophis.testing.mirror import mirror_command
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer, run_server
from ophis.testing.web import signed_in, text_of
from ophis.testing.webhooks import create_hook

#: a real server's default: no network but the public one
DEFAULT = {"OPHIS_OUTBOUND_ALLOWED_NETWORKS": "", "OPHIS_MIRROR_RUNNER": "false"}

LOCAL_URLS = [
    "http://127.0.0.1:{port}/hook",
    "http://localhost:{port}/hook",
    "http://127.1:{port}/hook",
    "http://2130706433:{port}/hook",
    "http://[::1]:{port}/hook",
    "http://0.0.0.0:{port}/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/hook",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("outbound") / "data", environment=DEFAULT) as running:
        yield running


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A conda channel served on 127.0.0.1: what an internal service would be."""
    root = tmp_path_factory.mktemp("internal") / "channel"
    (root / "noarch").mkdir(parents=True)
    make_package(root / "noarch", "internal-tool", "1.0")
    index_channel(root)
    with serve_directory(root) as served:
        yield served.url


@pytest.mark.parametrize("url", LOCAL_URLS)
def test_a_webhook_to_the_servers_own_network_is_refused(server: RunningServer, url: str) -> None:
    browser = signed_in(server, "hookie")
    refused = create_hook(browser, "hookie", url.format(port=server.url.rsplit(":", 1)[1]))
    assert refused.status_code == 400
    assert "own network" in text_of(refused)
    assert "You have no webhooks." in browser.get("/settings/webhooks").text
    browser.close()


def test_a_webhook_with_a_port_out_of_range_is_refused_at_once(server: RunningServer) -> None:
    browser = signed_in(server, "porter")
    refused = create_hook(browser, "porter", "http://hooks.example.invalid:99999/hook")
    assert refused.status_code == 400
    assert "valid port" in text_of(refused)
    assert "You have no webhooks." in browser.get("/settings/webhooks").text
    browser.close()


@pytest.mark.parametrize("where", ["{channel}", "file:///etc", "file:///"])
def test_a_mirror_a_user_declares_must_name_a_public_http_upstream(
    server: RunningServer, channel: str, where: str
) -> None:
    browser = signed_in(server, "mirrorer")
    form = {"owner": "mirrorer", "upstream": where.format(channel=channel), "label": "copy"}
    refused = browser.post("/settings/mirrors", form, page="/settings/mirrors")
    assert refused.status_code == 400
    assert "upstream" in text_of(refused)
    assert "copy" not in text_of(browser.get("/settings/mirrors"))
    browser.close()


def _mirror(server: RunningServer, *args: str, allowed: str) -> subprocess.CompletedProcess[str]:
    """``ophis server mirror ARGS`` as the operator runs it, with ``allowed`` networks."""
    allowing = {"OPHIS_OUTBOUND_ALLOWED_NETWORKS": allowed}
    return mirror_command(server, *args, storage=args[0] == "sync", environment=allowing)


def test_an_operators_mirror_is_fetched_only_within_the_allowed_networks(
    server: RunningServer, channel: str
) -> None:
    server.ophis("user", "create", "operated", "--password", "a-long-password-1")
    added = _mirror(server, "add", "operated/internal", channel, "--json", allowed="")
    assert added.returncode == 0, added.stderr
    refused = _mirror(server, "sync", "operated/internal", "--json", allowed="")
    [report] = json.loads(refused.stdout)
    assert report["status"] == "failed"
    assert "own network" in json.dumps(report)
    synced = _mirror(server, "sync", "operated/internal", "--json", allowed="127.0.0.1")
    [report] = json.loads(synced.stdout)
    assert (report["status"], report["files"]) == ("ok", 1), report
