"""Work a server process does on its own, every few seconds (webhook deliveries, retention)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("ophis.server")


class PeriodicThread:
    """A daemon thread calling ``work`` every ``seconds`` until stopped. A failing round is
    logged and the next one runs: the thread must outlive a bad round (a locked database)."""

    def __init__(
        self, name: str, seconds: float, work: Callable[[], object], stop_timeout: float = 30
    ) -> None:
        self.name, self.seconds, self.work, self.stop_timeout = name, seconds, work, stop_timeout
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(self.stop_timeout)

    def _run(self) -> None:
        while not self.stopping.wait(self.seconds):
            try:
                self.work()
            except Exception:
                log.exception("%s: round failed", self.name)
