"""A mirror run killed (SIGKILL) during its downloads: the mirror's clients still see the
old, consistent channel, and the next run resumes and completes."""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ophis.mirror.destinations import LocalChannelDestination
from ophis.mirror.sync import MirrorOptions, mirror
from ophis.testing.http import serve_directory
from ophis.testing.mirror import add_package, assert_consistent, records, reindex

_STALL_AFTER = 100_000


class _Stalling(SimpleHTTPRequestHandler):
    """Sends the first bytes of each package file, then waits: an upstream that hangs."""

    release: threading.Event

    def do_GET(self) -> None:
        file = Path(self.translate_path(self.path))
        if not file.name.endswith(".tar.bz2"):
            super().do_GET()
            return
        data = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:_STALL_AFTER])
        self.wfile.flush()
        self.release.wait(30)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def stalling_server(root: Path) -> Iterator[str]:
    release = threading.Event()
    handler = type("Handler", (_Stalling,), {"release": release})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def _wait_for_partials(staging: Path, count: int, timeout: float = 30) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partials = [p for p in staging.rglob("*.partial") if p.stat().st_size > 0]
        if len(partials) >= count:
            return partials
        time.sleep(0.05)
    raise AssertionError(f"no partial downloads appeared in {staging}")


def test_a_killed_run_leaves_the_old_channel_and_the_rerun_resumes(
    upstream: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    mirror(str(upstream), LocalChannelDestination(dest), MirrorOptions(subdirs=("noarch",)))
    before = records(dest)
    new = [add_package(upstream, f"new{i}", "1.0", size=300_000).name for i in range(3)]
    reindex(upstream)

    with stalling_server(upstream) as url:
        run = subprocess.Popen(
            [sys.executable, "-m", "ophis", "mirror", url, str(dest), "-s", "noarch", "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            partials = _wait_for_partials(dest / ".ophis-mirror" / "staging", len(new))
        finally:
            run.send_signal(signal.SIGKILL)
            run.wait()
    assert run.returncode == -signal.SIGKILL
    assert {p.name.removesuffix(".partial") for p in partials} == set(new)
    # what the mirror's clients see: the old repodata, every file of it in place
    assert records(dest) == before
    assert_consistent(dest)
    assert not set(new) & {p.name for p in (dest / "noarch").iterdir()}

    with serve_directory(upstream) as server:
        report = mirror(server.url, LocalChannelDestination(dest), MirrorOptions(("noarch",)))
        ranges = dict(server.ranges)
    assert not report.failures
    assert {f"/noarch/{name}" for name in new} == set(ranges)
    assert all(int(r.removeprefix("bytes=").rstrip("-")) > 0 for r in ranges.values())
    assert report.bytes_received < 3 * 300_000  # the resumed parts were not fetched again
    assert records(dest) == records(upstream)
    assert_consistent(dest)
