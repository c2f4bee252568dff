"""What the hot path (:mod:`ophis.server.conda.hot_path`) asks the database, and remembers.

Package files are looked up the same way (the routes' :func:`repodata.open_package_file`
as an anonymous caller); their downloads are counted in memory once answered and written
in rounds (:class:`DownloadCounts`).

An anonymous request for a subdir's documents needs to know where the documents an
anonymous caller sees are kept (a :class:`CacheKey`: the owner, the subdir's revision, the
view of those who see only public packages). The look-up is the routes' own
(:func:`repodata.subdir_key` with :data:`ANONYMOUS`: the same authorization, from
:mod:`ophis.server.services.accounts.authz`), made once and reused until the channel change counter
(:mod:`ophis.server.services.channels.channel_changes`) moves or ``seconds`` pass. Only anonymous
look-ups are remembered: what a token may see changes with the token (revoked, expired).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ophis.server.errors import NotFound
from ophis.server.services.accounts.authz import ANONYMOUS
from ophis.server.services.catalog import stats
from ophis.server.services.channels import proxy, repodata
from ophis.server.services.channels.channel_cache import CacheKey
from ophis.server.services.channels.channel_changes import ChangeCounter

log = logging.getLogger("ophis.server")

#: the longest a download waits in memory before it is written to the database
FLUSH_SECONDS = 1.0
#: look-ups remembered at most (all are forgotten past it: names probed at random cannot
#: make the memory grow)
MAX_LOOKUPS = 4096


def anonymous_subdir(session: Session, login: str, label: str, subdir: str) -> CacheKey | None:
    """Where an anonymous caller's documents of a subdir are kept; None when the routes
    must answer (a proxy channel, whose documents are upstream's; no such channel)."""
    if proxy.proxy_of(session, login, label) is not None:
        return None
    try:
        return repodata.subdir_key(session, ANONYMOUS, login, label, subdir)
    except NotFound:
        return None


def anonymous_file(
    session: Session, login: str, label: str, subdir: str, filename: str
) -> repodata.Download | None:
    """A package file anyone may download, as the routes find it (uncounted); None when
    the routes must answer (no such file for anonymous callers, or not stored yet)."""
    try:
        return repodata.open_package_file(
            session, ANONYMOUS, login, label, subdir, filename, count=False
        )
    except NotFound:
        return None


class DownloadCounts:
    """Downloads the hot path answered, counted in memory and written to the database in
    one transaction per round: at most ``seconds`` after the first one of a round, before
    this process passes any other request on to the routes (a page, an API call or a badge
    that shows counts then shows them), and when the server stops. A round the database
    refuses is kept for the next one."""

    def __init__(self, sessions: Callable[[], Session], seconds: float = FLUSH_SECONDS) -> None:
        self.sessions, self.seconds = sessions, seconds
        self._pending: dict[int, int] = {}
        self._writing: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> bool:
        return bool(self._pending) or self._writing is not None

    def add(self, file_id: int) -> None:
        """One more download of ``file_id``: counted now, written with its round."""
        self._pending[file_id] = self._pending.get(file_id, 0) + 1
        self._arm()

    async def flush(self) -> None:
        """Write every download added before this call (a round under way waited for)."""
        if self._writing is not None:
            await asyncio.shield(self._writing)
        if not self._pending:
            return
        if self._writing is None:  # else a caller woken before this one began the round
            self._writing = asyncio.get_running_loop().create_task(self._write())
        await asyncio.shield(self._writing)

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.seconds, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._writing is None and self._pending:
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        counts, self._pending = self._pending, {}
        try:
            await asyncio.to_thread(self._commit, counts)
        except Exception:  # the database is unreachable: kept for the next round
            log.exception("download counts not written; kept for the next round")
            for file_id, times in counts.items():
                self._pending[file_id] = self._pending.get(file_id, 0) + times
        finally:
            self._writing = None
            if self._pending:  # downloads answered during this round (or its own, kept)
                self._arm()

    def _commit(self, counts: dict[int, int]) -> None:
        with self.sessions() as session:
            stats.count_downloads(session, counts)


@dataclass(frozen=True)
class _Remembered:
    counter: bytes
    until: float
    value: Any


class Lookups:
    """Results of blocking look-ups, reused while ``counter`` keeps the value it had before
    the look-up began and for at most ``seconds``; concurrent requests for one key wait for
    one look-up."""

    def __init__(self, counter: ChangeCounter, seconds: float) -> None:
        self.counter, self.seconds = counter, seconds
        self._remembered: dict[Hashable, _Remembered] = {}
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}

    async def get(self, key: Hashable, look_up: Callable[[], Any]) -> Any:
        """The value of ``key``; ``look_up`` (blocking, run in a thread) when not known."""
        known = self._remembered.get(key)
        now = time.monotonic()
        if known is not None and now < known.until and known.counter == self.counter.value():
            return known.value
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        pending = self._pending[key] = asyncio.get_running_loop().create_future()
        counter = self.counter.value()  # before the look-up: a write after it is noticed
        try:
            value = await asyncio.to_thread(look_up)
        except BaseException as error:
            pending.set_exception(error)
            pending.exception()  # retrieved: the waiters (if any) get it raised
            raise
        finally:
            del self._pending[key]
        if len(self._remembered) >= MAX_LOOKUPS:
            self._remembered.clear()
        self._remembered[key] = _Remembered(counter, now + self.seconds, value)
        pending.set_result(value)
        return value
