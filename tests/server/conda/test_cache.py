"""The channel cache as several server workers share it: one build per change."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ophis.server.services.channels.repodata import CacheKey, ChannelCache


def key(stamp: str) -> CacheKey:
    return CacheKey(owner_id=1, label="main", index="noarch", stamp=stamp, view="all")


def test_workers_share_the_first_build_and_a_new_revision_replaces_it(tmp_path: Path) -> None:
    first, second = ChannelCache(tmp_path), ChannelCache(tmp_path)  # two worker processes
    built = first.get(key("1-100"), "repodata.json", lambda: b"one", "application/json")

    def must_not_build() -> bytes:
        raise AssertionError("the second worker rebuilt a document the first had built")

    shared = second.get(key("1-100"), "repodata.json", must_not_build, "application/json")
    assert shared.body == b"one" and shared.etag == built.etag
    assert shared.last_modified == built.last_modified

    newer = second.get(key("2-200"), "repodata.json", lambda: b"two", "application/json")
    assert newer.body == b"two" and newer.etag != built.etag
    assert [p.name for p in (tmp_path / "1" / "label-main" / "noarch").iterdir()] == ["2-200"]


def test_concurrent_requests_wait_for_one_build(tmp_path: Path) -> None:
    cache = ChannelCache(tmp_path)
    builds: list[int] = []

    def slow_build() -> bytes:
        builds.append(1)
        time.sleep(0.2)
        return b"{}"

    def request() -> None:
        cache.get(key("3-300"), "repodata.json", slow_build, "application/json")

    threads = [threading.Thread(target=request) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [1]
