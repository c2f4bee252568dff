"""Model mirrors: a label of the mirroring server that follows another Ophis server's model
catalog (``https://HOST/api/models?owner=LOGIN``), both servers real on 127.0.0.1; and a
hostile upstream (a small HTTP server here) whose catalog lies about names, sizes, digests
and headers, or answers too much."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ophis.server.errors import BadRequest
from ophis.server.services.accounts import accounts
from ophis.server.services.channels import mirror_channels
from ophis.server.services.channels.mirror_channels import MirrorRequest
from ophis.server.services.channels.model_mirrors import MAX_JSON_BYTES
from ophis.testing.cli import isolated_user, ok_json, ophis
from ophis.testing.hostile import plant_victim, snapshot
from ophis.testing.http import headers
from ophis.testing.mirror import FOLLOWER_PASSWORD, mirror_command
from ophis.testing.models import (
    GGUF_PARAMETERS,
    gguf_claiming_tensors,
    write_gguf,
    write_safetensors,
)
from ophis.testing.server import RunningServer, run_server
from ophis.testing.server_db import ServerDatabase, add_user

CARD = ("summary", "task", "architecture", "parameters", "context_length", "license", "tokenizer")
VARIANT = ("basename", "version", "format", "quantization", "size", "sha256", "parameters")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("models-upstream") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def upload(
    upstream: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., dict[str, Any]]:
    """``ophis model upload`` to the upstream server with a token."""
    env = isolated_user(tmp_path_factory.mktemp("uploader"))

    def run(token: str, *args: str) -> dict[str, Any]:
        result = ophis(
            {**env, "OPHIS_SERVER": upstream.api, "BINSTAR_API_TOKEN": token},
            "model", "upload", *args, "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return run


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("weights")
    return {
        "F32": write_gguf(folder / "tiny-encoder-f32.gguf", "F32"),
        "Q8_0": write_gguf(folder / "tiny-encoder-q8_0.gguf", "Q8_0"),
        "F16": write_safetensors(folder / "tiny-encoder-f16.safetensors", "F16"),
    }


@pytest.fixture(scope="module")
def alice(upstream: RunningServer, upload: Callable[..., dict], weights: dict[str, Path]) -> str:
    """alice upstream: tiny-encoder in three variants (public), secret-encoder (private);
    her token."""
    token = add_user(upstream, "alice")
    upload(
        token, *(str(path) for path in weights.values()),
        "--name", "tiny-encoder", "--summary", "A tiny sentence encoder", "--license", "mit",
    )  # fmt: skip
    upload(token, str(weights["Q8_0"]), "--name", "secret-encoder", "--private")
    return token


def catalog_url(upstream: RunningServer, owner: str, query: str = "") -> str:
    return f"{upstream.url}/api/models?owner={owner}{query}"


def sync(server: RunningServer, target: str) -> subprocess.CompletedProcess[str]:
    return mirror_command(server, "sync", target, "--json", storage=True)


def model(server: RunningServer, owner: str, name: str, token: str | None = None) -> dict:
    response = httpx.get(f"{server.api}/models/{owner}/{name}", headers=headers(token))
    assert response.status_code == 200, response.text
    return response.json()


def variants(found: dict) -> dict[str, dict]:
    return {row["basename"]: row for row in found["variants"]}


def downloads(server: RunningServer, owner: str, name: str, basename: str) -> int:
    return variants(model(server, owner, name))[basename]["downloads"]


# --- two real servers -------------------------------------------------------------------------


def test_a_model_mirror_carries_the_variants_cards_and_counts_its_own_downloads(
    server: RunningServer, upstream: RunningServer, alice: str, owner: str
) -> None:
    added = ok_json(
        mirror_command(server, "add", f"{owner}/models", catalog_url(upstream, "alice"), "--json")
    )
    assert (added["kind"], added["mode"]) == ("models", "mirror")
    [report] = ok_json(sync(server, f"{owner}/models"))
    assert (report["status"], report["files"], report["packages"]) == ("ok", 3, 1)
    assert report["bytes"] == sum(
        v["size"] for v in model(upstream, "alice", "tiny-encoder")["variants"]
    )

    theirs, ours = model(upstream, "alice", "tiny-encoder"), model(server, owner, "tiny-encoder")
    assert {key: ours[key] for key in CARD} == {key: theirs[key] for key in CARD}
    assert (ours["parameters"], ours["architecture"]) == (GGUF_PARAMETERS, "bert")
    assert {b: {k: v[k] for k in VARIANT} for b, v in variants(ours).items()} == {
        b: {k: v[k] for k in VARIANT} for b, v in variants(theirs).items()
    }
    assert {tuple(v["labels"]) for v in ours["variants"]} == {("models",)}
    # the private model needs a token upstream: without one, it is not mirrored
    assert httpx.get(f"{server.api}/models/{owner}/secret-encoder").status_code == 404

    q8 = "tiny-encoder/1.0/tiny-encoder-q8_0.gguf"
    upstream_count = downloads(upstream, "alice", "tiny-encoder", q8)
    for _ in range(2):
        body = httpx.get(variants(ours)[q8]["download_url"], follow_redirects=True).content
        assert hashlib.sha256(body).hexdigest() == variants(theirs)[q8]["sha256"]
    assert downloads(server, owner, "tiny-encoder", q8) == 2
    assert downloads(upstream, "alice", "tiny-encoder", q8) == upstream_count

    [again] = ok_json(sync(server, f"{owner}/models"))  # nothing changed: nothing fetched
    assert (again["status"], again["files"], again["bytes"], again["removed"]) == ("ok", 0, 0, 0)
    assert downloads(upstream, "alice", "tiny-encoder", q8) == upstream_count


def test_the_catalog_filters_in_the_upstream_url_choose_the_variants(
    server: RunningServer, upstream: RunningServer, alice: str, owner: str
) -> None:
    url = catalog_url(upstream, "alice", "&quantization=q8_0&task=embedding")
    ok_json(mirror_command(server, "add", owner, url, "--json"))
    [report] = ok_json(sync(server, owner))
    assert (report["status"], report["files"]) == ("ok", 1)
    [variant] = model(server, owner, "tiny-encoder")["variants"]
    assert variant["quantization"] == "Q8_0"


def test_the_catalog_lists_one_owner_page_by_page(upstream: RunningServer, alice: str) -> None:
    def names(**params: object) -> list[str] | int:
        response = httpx.get(f"{upstream.api}/models", params=params)
        return [m["name"] for m in response.json()] if response.is_success else response.status_code

    assert names(owner="alice") == ["tiny-encoder"]  # her private model needs her token
    assert names(owner="ALICE", page=1) == ["tiny-encoder"]
    assert names(owner="alice", page=2) == []
    assert names(owner="nobody") == []
    assert names(owner="alice", page=0) == 422


def test_private_upstream_models_come_with_the_token_which_is_never_shown(
    server: RunningServer, upstream: RunningServer, alice: str, owner: str
) -> None:
    added = mirror_command(
        server, "add", owner, catalog_url(upstream, "alice"), "--token", alice, "--json"
    )
    assert ok_json(added)["has_token"] is True
    [report] = ok_json(sync(server, owner))
    assert (report["status"], report["packages"], report["files"]) == ("ok", 2, 4)
    token = server.login(owner, FOLLOWER_PASSWORD)
    assert variants(model(server, owner, "secret-encoder", token)).keys() == {
        "secret-encoder/1.0/tiny-encoder-q8_0.gguf"
    }
    # what only the token could read upstream stays private here, in a public channel too
    secret = model(server, owner, "secret-encoder", token)["variants"][0]
    anonymous = [
        httpx.get(f"{server.api}/models/{owner}/secret-encoder"),
        httpx.get(secret["download_url"], follow_redirects=True),
    ]
    assert [response.status_code for response in anonymous] == [404, 404]
    assert [m["name"] for m in httpx.get(
        f"{server.api}/models", params={"owner": owner}
    ).json()] == ["tiny-encoder"]  # fmt: skip
    listed = mirror_command(server, "list", owner, "--json")
    for shown in (added.stdout, listed.stdout, json.dumps(report)):
        assert alice not in shown


def test_a_private_destination_never_shows_mirrored_models_to_anonymous_users(
    server: RunningServer,
    upstream: RunningServer,
    alice: str,
    owner: str,
    database: ServerDatabase,
) -> None:
    with database.context.sessions() as session:
        accounts.get_account(session, owner).private_channel = True
        session.commit()
    ok_json(mirror_command(server, "add", owner, catalog_url(upstream, "alice"), "--json"))
    assert ok_json(sync(server, owner))[0]["files"] == 3

    token = server.login(owner, FOLLOWER_PASSWORD)
    mine = model(server, owner, "tiny-encoder", token)
    assert len(mine["variants"]) == 3
    anonymous = [
        httpx.get(f"{server.api}/models/{owner}/tiny-encoder"),
        httpx.get(mine["variants"][0]["download_url"], follow_redirects=True),
        httpx.get(f"{server.url}/{owner}/tiny-encoder/model"),
    ]
    assert [response.status_code for response in anonymous] == [404, 404, 404]
    listing = httpx.get(f"{server.api}/models", params={"owner": owner})
    assert listing.json() == []
    page = httpx.get(f"{server.url}/search/models", params={"q": "tiny"})
    assert page.status_code == 200 and f"/{owner}/" not in page.text
    assert [m["name"] for m in httpx.get(
        f"{server.api}/models", params={"owner": owner}, headers=headers(token)
    ).json()] == ["tiny-encoder"]  # fmt: skip


def test_variants_removed_upstream_leave_the_label_unless_kept(
    server: RunningServer,
    upstream: RunningServer,
    upload: Callable[..., dict],
    weights: dict[str, Path],
    owner: str,
) -> None:
    bob = add_user(upstream, f"bob-{owner}")
    login = f"bob-{owner}"
    upload(bob, str(weights["F32"]), str(weights["Q8_0"]), "--name", "fleeting")
    follows, keeps = f"{owner}/follows", f"{owner}/keeps"
    ok_json(mirror_command(server, "add", follows, catalog_url(upstream, login), "--json"))
    ok_json(
        mirror_command(
            server, "add", keeps, catalog_url(upstream, login), "--keep-removed", "--json"
        )
    )
    for label in ("follows", "keeps"):
        assert ok_json(sync(server, f"{owner}/{label}"))[0]["files"] == 2

    gone = "fleeting/1.0/tiny-encoder-q8_0.gguf"
    upstream_db = ServerDatabase(upstream)
    try:
        upstream_db.remove(login, gone)
    finally:
        upstream_db.close()
    [follows] = ok_json(sync(server, f"{owner}/follows"))
    [keeps] = ok_json(sync(server, f"{owner}/keeps"))
    assert (follows["removed"], follows["files"]) == (1, 0)
    assert (keeps["removed"], keeps["files"]) == (0, 0)
    # the file was in both labels: it only left the one that follows upstream
    assert variants(model(server, owner, "fleeting"))[gone]["labels"] == ["keeps"]


@pytest.mark.parametrize(
    ("upstream_url", "changes", "said"),
    [
        ("/api/models", {}, "names no single owner"),
        ("/api/models?owner=alice&sort=size", {}, "takes no sort"),
        ("/api/models?owner=alice", {"mode": "proxy"}, "cannot be proxied"),
        ("/api/models?owner=alice", {"subdirs": ("noarch",)}, "filter conda channels"),
        ("/api/models?owner=alice", {"newest": 2}, "filter conda channels"),
    ],
)
def test_model_mirror_declarations_are_checked(
    database: ServerDatabase, owner: str, upstream_url: str, changes: dict, said: str
) -> None:
    request = MirrorRequest(owner, f"http://127.0.0.1:9{upstream_url}", "main", **changes)
    with database.context.sessions() as session:
        with pytest.raises(BadRequest, match=said):
            mirror_channels.add_mirror(session, None, request)
        assert mirror_channels.list_mirrors(session, owner) == []


# --- a hostile upstream -------------------------------------------------------------------------


@contextmanager
def serve_catalog(routes: dict[str, bytes]) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 answering ``routes`` (path, with ``?owner=`` for the
    listing) with 200 and the bytes, anything else 404; its URL and the paths asked for."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            owner = parse_qs(parts.query).get("owner", [""])[0]
            key = f"{parts.path}?owner={owner}" if parts.path == "/api/models" else parts.path
            asked.append(key)
            body = routes.get(key)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", asked
    finally:
        httpd.shutdown()
        httpd.server_close()


def _variant(basename: str, data: bytes, **changed: Any) -> dict[str, Any]:
    return {
        "basename": basename,
        "version": "1.0",
        "quantization": "F32",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "download_url": f"/files/{basename.rsplit('/', 1)[-1]}",
        **changed,
    }


@pytest.fixture(scope="module")
def hostile(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, list[str]]]:
    good = write_gguf(tmp_path_factory.mktemp("hostile") / "fine.gguf").read_bytes()
    bomb = gguf_claiming_tensors()
    model_variants = [
        _variant("evil/1.0/fine.gguf", good),
        _variant("evil/1.0/liar.gguf", good, sha256="0" * 64),
        _variant("evil/1.0/../../../outside.gguf", good),
        _variant("evil/1.0/huge.gguf", good, size=2**60),
        _variant("evil/1.0/elsewhere.gguf", good, download_url="http://127.0.0.2:9/x.gguf"),
        _variant("evil/1.0/bomb.gguf", bomb),
    ]
    routes = {
        "/api/models?owner=mallory": json.dumps([{"name": "evil"}, {"name": "../x"}]).encode(),
        "/api/models/mallory/evil": json.dumps(
            {"name": "evil", "variants": model_variants}
        ).encode(),
        "/files/fine.gguf": good,
        "/files/liar.gguf": good,
        "/files/outside.gguf": good,
        "/files/bomb.gguf": bomb,
        "/api/models?owner=huge": b"[" + b" " * (MAX_JSON_BYTES + 10) + b"]",
    }
    with serve_catalog(routes) as served:
        yield served


def test_a_hostile_catalog_gets_only_its_honest_variant_mirrored(
    server: RunningServer, hostile: tuple[str, list[str]], owner: str
) -> None:
    url, asked = hostile
    plant_victim(server.data_dir.parent)
    outside = snapshot(server.data_dir.parent, server.data_dir)
    ok_json(mirror_command(server, "add", owner, f"{url}/api/models?owner=mallory", "--json"))
    result = sync(server, owner)
    assert result.returncode == 1
    [report] = json.loads(result.stdout)
    assert (report["status"], report["files"], report["failure_count"]) == ("failed", 1, 6)
    errors = {failure["filename"]: failure["error"] for failure in report["failures"]}
    assert "not a valid package name" in errors["../x"]
    assert (
        "does not match" in errors["evil/1.0/liar.gguf"]
        and "sha256" in errors["evil/1.0/liar.gguf"]
    )
    assert "not a model file's name" in errors["evil/1.0/../../../outside.gguf"]
    assert f"size of {2**60} bytes" in errors["evil/1.0/huge.gguf"]
    assert "download URL is not on" in errors["evil/1.0/elsewhere.gguf"]
    assert "tensors" in errors["evil/1.0/bomb.gguf"]

    assert variants(model(server, owner, "evil")).keys() == {"evil/1.0/fine.gguf"}
    assert "/files/huge.gguf" not in asked and "/files/outside.gguf" not in asked
    outside.assert_unchanged()
    assert not any((server.data_dir / "mirrors").rglob("*.gguf*"))  # no staged leftovers


def test_an_oversized_catalog_listing_is_refused(
    server: RunningServer, hostile: tuple[str, list[str]], owner: str
) -> None:
    url, _ = hostile
    ok_json(mirror_command(server, "add", owner, f"{url}/api/models?owner=huge", "--json"))
    result = sync(server, owner)
    assert result.returncode == 1
    [report] = json.loads(result.stdout)
    assert report["status"] == "failed"
    assert f"more than {MAX_JSON_BYTES} bytes of JSON" in report["error"]
    assert httpx.get(f"{server.api}/models", params={"owner": owner}).json() == []
