"""``ophis create`` against a signed server channel it is told to verify
(``ophis_require_signatures`` in .condarc): it installs from the untampered channel, and
refuses, naming the file, a package file with one byte flipped on the server, a repodata
record with one byte flipped on its way (a proxy between client and server), and a package
whose signature the proxy stripped, and keys the proxy forged once the root is kept.
conda's own settings (``extra_safety_checks`` with ``signing_metadata_url_base``) check the
same chain, and let unsigned records pass as conda does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from ophis.security import signing
from ophis.server.context import ServerContext
from ophis.server.services.accounts import accounts
from ophis.server.services.intake import ingest, inspection
from ophis.testing.cli import ophis
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer, run_server

APP, DEP = "sigapp-1.0-0.tar.bz2", "sigdep-1.0-0.tar.bz2"
ATTACKER = signing.generate_key()
ATTACKER_KEY = signing.public_hex(ATTACKER)


class _Proxy(BaseHTTPRequestHandler):
    """Forwards GETs to the server; ``mode`` decides what it does to repodata.json:
    ``pass``, ``flip`` (one byte of sigapp's signed record) or ``strip`` (sigapp's
    signatures)."""

    upstream: ClassVar[str] = ""
    mode: ClassVar[str] = "pass"

    def do_GET(self) -> None:
        if self.path.endswith(("repodata.json.zst", "repodata.json.bz2", "shards.msgpack.zst")):
            self._send(404, b"")  # the client falls back to repodata.json
            return
        response = httpx.get(self.upstream + self.path, follow_redirects=True)
        body = response.content
        if self.mode == "forge" and self.path.endswith("/key_mgr.json"):
            body = signing.canonical_json(signing.build_key_mgr(9, ATTACKER, [ATTACKER_KEY]))
        if response.status_code == 200 and self.path.endswith("/repodata.json"):
            body = self._tamper(body)
        self._send(response.status_code, body)

    def _tamper(self, body: bytes) -> bytes:
        if APP.encode() not in body:  # another subdir
            return body
        if self.mode == "flip":
            record = body.index(f'"{APP}": {{'.encode())
            md5 = body.index(b'"md5": "', record) + len(b'"md5": "')
            flipped = b"0" if body[md5 : md5 + 1] != b"0" else b"1"
            return body[:md5] + flipped + body[md5 + 1 :]
        if self.mode == "forge":  # every record re-signed by the attacker's key
            return json.dumps(signing.sign_repodata(json.loads(body), [ATTACKER])).encode()
        if self.mode == "strip":
            document = json.loads(body)
            del document["signatures"][APP]
            return json.dumps(document, indent=2, sort_keys=True).encode()
        return body

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """alice's channel: sigapp needs sigdep; both signed, with a root key."""
    folder = tmp_path_factory.mktemp("signed")
    with run_server(folder / "data") as running:
        context = ServerContext.open(running.settings, upgrade=False)
        try:
            with context.sessions() as session:
                alice = accounts.create_user(session, "alice", "alice-password")
                for name, depends in (("sigdep", []), ("sigapp", ["sigdep"])):
                    path = make_package(folder / "made", name, depends=depends)
                    ingest.add_file(
                        session,
                        context.storage,
                        alice,
                        path,
                        inspection.inspect_file(path, "conda"),
                    )
        finally:
            context.close()
        root = folder / "root.key"
        from ophis.security.signing import generate_key, private_hex

        root.write_text(private_hex(generate_key()))
        created = running.ophis("keys", "create", "alice", "--root-key", str(root), "--json")
        assert created.returncode == 0, created.stdout + created.stderr
        yield running


@pytest.fixture(scope="module")
def proxy(server: RunningServer) -> Iterator[type[_Proxy]]:
    handler = type("Proxy", (_Proxy,), {"upstream": server.url, "mode": "pass"})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    httpd.shutdown()


def create(home: dict[str, str], channel: str, condarc: dict[str, Any]) -> tuple[int, dict]:
    Path(home["CONDARC"]).write_text(json.dumps(condarc))
    prefix = Path(home["HOME"]).parent / "env"
    result = ophis(
        home, "create", "-p", str(prefix), "-c", channel, "--override-channels", "--json", "-y",
        "sigapp",
    )  # fmt: skip
    return result.returncode, json.loads(result.stdout)


def required(channel: str) -> dict[str, Any]:
    return {"ophis_require_signatures": [channel]}


def test_a_signed_channel_installs(server: RunningServer, home: dict[str, str]) -> None:
    channel = server.conda("alice")
    code, report = create(home, channel, required(channel))
    assert code == 0, report
    assert {a["name"] for a in report["actions"]["LINK"]} == {"sigapp", "sigdep"}
    trusted = list(Path(home["OPHIS_ROOT_PREFIX"], "etc", "conda").glob("*/1.root.json"))
    assert len(trusted) == 1  # the root, kept on first use


def test_conda_settings_verify_too(server: RunningServer, home: dict[str, str]) -> None:
    channel = server.conda("alice")
    settings = {"extra_safety_checks": True, "signing_metadata_url_base": channel}
    code, report = create(home, channel, settings)
    assert code == 0, report
    assert (Path(home["OPHIS_ROOT_PREFIX"]) / "etc" / "conda" / "1.root.json").is_file()


def test_a_package_tampered_on_the_server_is_refused(
    server: RunningServer, home: dict[str, str]
) -> None:
    stored = next((server.data_dir / "files").rglob(DEP))
    original = stored.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    stored.write_bytes(bytes(flipped))
    try:
        # with a token: the routes read the file from storage (anonymous answers may come
        # from the bytes the server already holds, which a blob's name makes immutable)
        channel = server.conda("alice", token=server.login())
        code, report = create(home, channel, required(channel))
    finally:
        stored.write_bytes(original)
    assert code == 1
    assert DEP in report["message"] and "does not match" in report["message"]
    assert not (Path(home["HOME"]).parent / "env" / "conda-meta").exists()


def test_a_repodata_record_tampered_on_its_way_is_refused(
    proxy: type[_Proxy], home: dict[str, str]
) -> None:
    channel = f"{proxy.url}/conda/alice"  # type: ignore[attr-defined]
    proxy.mode = "flip"
    try:
        code, report = create(home, channel, required(channel))
    finally:
        proxy.mode = "pass"
    assert code == 1
    assert report["exception_name"] == "SignatureError"
    assert APP in report["message"] and "signature does not match" in report["message"]


def test_an_unsigned_package_is_refused_where_signatures_are_required(
    proxy: type[_Proxy], home: dict[str, str]
) -> None:
    channel = f"{proxy.url}/conda/alice"  # type: ignore[attr-defined]
    proxy.mode = "strip"
    try:
        code, report = create(home, channel, required(channel))
    finally:
        proxy.mode = "pass"
    assert code == 1
    assert APP in report["message"] and "is not signed" in report["message"]


def test_conda_settings_pass_unsigned_records_but_refuse_tampered_ones(
    proxy: type[_Proxy], home: dict[str, str]
) -> None:
    """conda's semantics: with extra_safety_checks, a record without signatures is not
    checked (a channel must be listed in ophis_require_signatures to refuse it)."""
    channel = f"{proxy.url}/conda/alice"  # type: ignore[attr-defined]
    settings = {"extra_safety_checks": True, "signing_metadata_url_base": channel}
    proxy.mode = "strip"
    try:
        code, report = create(home, channel, settings)
        assert code == 0, report
        proxy.mode = "flip"
        code, report = create(home, channel, {**settings, "local_repodata_ttl": 0})
    finally:
        proxy.mode = "pass"
    assert code == 1 and APP in report["message"], report


def test_keys_forged_after_the_root_was_kept_are_refused(
    proxy: type[_Proxy], home: dict[str, str]
) -> None:
    """A man in the middle serving its own key_mgr.json, with every record re-signed by its
    own key: the root kept from the first install does not delegate to it."""
    channel = f"{proxy.url}/conda/alice"  # type: ignore[attr-defined]
    code, report = create(home, channel, required(channel))
    assert code == 0, report
    proxy.mode = "forge"
    try:
        code, report = create(home, channel, {**required(channel), "local_repodata_ttl": 0})
    finally:
        proxy.mode = "pass"
    assert code == 1
    assert "key_mgr.json" in report["message"] and "good signature" in report["message"]


def test_an_explicit_file_from_a_checked_channel_is_checked_too(
    proxy: type[_Proxy], home: dict[str, str], tmp_path: Path
) -> None:
    """No solve, the same check: an @EXPLICIT file naming an unsigned package of a channel
    that requires signatures is refused; the signed channel's file installs."""
    channel = f"{proxy.url}/conda/alice"  # type: ignore[attr-defined]
    explicit = tmp_path / "explicit.txt"
    explicit.write_text(
        "@EXPLICIT\n" + "".join(f"{channel}/noarch/{name}\n" for name in (DEP, APP))
    )
    Path(home["CONDARC"]).write_text(json.dumps(required(channel)))
    prefix = tmp_path / "env"
    stripped = {**home, "CONDA_PKGS_DIRS": str(tmp_path / "stripped-cache")}
    proxy.mode = "strip"
    try:
        refused = ophis(stripped, "create", "-p", str(prefix), "--file", str(explicit), "--json")
    finally:
        proxy.mode = "pass"
    assert refused.returncode == 1, refused.stdout
    assert APP in refused.stdout and "is not signed" in refused.stdout
    assert not (prefix / "conda-meta").exists()
    intact = {**home, "CONDA_PKGS_DIRS": str(tmp_path / "cache")}
    done = ophis(intact, "create", "-p", str(prefix), "--file", str(explicit), "--json")
    assert done.returncode == 0, done.stdout
    assert (prefix / "conda-meta").is_dir()
