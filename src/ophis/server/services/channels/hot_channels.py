"""What the hot path (:mod:`ophis.server.conda.hot_path`) asks the database, and remembers.

Package files are looked up the same way (the routes' :func:`repodata.open_package_file`
as an anonymous caller); each download is still counted in the database before it is
answered, as the routes count it, concurrent ones in one transaction.

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
    """Downloads counted in the database before each is answered, the concurrent ones in
    one transaction: while one round commits, the downloads that arrive wait for the next
    round, which counts them all (one commit per round, not per download)."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self.sessions = sessions
        self._waiting: dict[int, int] = {}
        self._round: asyncio.Future[None] | None = None
        self._committing: asyncio.Task[None] | None = None  # held: a task only weakly is

    async def count(self, file_id: int) -> None:
        self._waiting[file_id] = self._waiting.get(file_id, 0) + 1
        if self._round is None:
            self._round = asyncio.get_running_loop().create_future()
        counted = self._round
        if self._committing is None:
            self._committing = asyncio.get_running_loop().create_task(self._commit_rounds())
        await asyncio.shield(counted)

    async def _commit_rounds(self) -> None:
        try:
            while self._waiting and self._round is not None:
                counts, self._waiting = self._waiting, {}
                counted, self._round = self._round, None
                try:
                    await asyncio.to_thread(self._commit, counts)
                except Exception as error:  # the requests of this round fail with it
                    counted.set_exception(error)
                else:
                    counted.set_result(None)
        finally:
            self._committing = None

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
