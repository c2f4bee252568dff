"""Changes waiting for the user's yes, and changes being carried out in worker threads.

A :class:`PlannedChange` is a solve result kept until the user confirms it on the page that
shows it; what runs is exactly what was shown. A :class:`Job` carries one out in a worker
thread, one at a time per environment (a per-prefix lock), and records the progress the
manager reports so that the job page can show it while packages download and link.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ophis.core.errors import OphisError
from ophis.manager.config import Config
from ophis.manager.operations import ChangeOutcome, ChangeRequest, apply_change
from ophis.manager.records import dist_name

#: what a planned change does after the transaction (env file steps, deleting the folder)
After = Callable[[], None]

_STAGES = {
    "download": "Downloading packages",
    "extract": "Extracting packages",
    "fetch": "Preparing packages",
    "link": "Linking packages",
}


@dataclass
class PlannedChange:
    title: str
    request: ChangeRequest
    outcome: ChangeOutcome
    config: Config
    after: After | None = None
    #: extra lines the confirmation page shows (e.g. "the folder will be deleted")
    notes: tuple[str, ...] = ()
    #: solves the request again, for when the environment changed after this plan was shown
    replan: Callable[[], ChangeOutcome] | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: the environment's packages when it was planned
    state: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.state = prefix_state(self.request.prefix)


def prefix_state(prefix: Path) -> frozenset[str]:
    """What is installed, by record file name (name-version-build)."""
    return frozenset(p.name for p in (prefix / "conda-meta").glob("*.json"))


class EnvironmentChangedError(OphisError):
    exception_name = "EnvironmentChangedError"


def current_outcome(change: PlannedChange) -> ChangeOutcome:
    """The confirmed plan, still valid for the environment as it is now.

    Another change may have run while this one waited: applying the old solve would undo
    it. When the environment changed, the request is solved again, and carried out only if
    that links and unlinks the very packages the user confirmed."""
    if prefix_state(change.request.prefix) == change.state:
        return change.outcome
    fresh, why = None, ""
    try:
        fresh = change.replan() if change.replan is not None else None
    except OphisError as error:
        why = f" Solving it again says: {error.message}"
    if fresh is None or _packages(fresh) != _packages(change.outcome):
        raise EnvironmentChangedError(
            f"{change.request.prefix} changed while this change waited, and the plan you "
            f"confirmed no longer fits it.{why}",
            "Nothing was changed by this one. Plan it again from the environment's page.",
        )
    return fresh


def _packages(outcome: ChangeOutcome) -> tuple[set[str], set[str]]:
    solution = outcome.solution
    if solution is None:
        return set(), set()
    return {dist_name(r) for r in solution.link}, {dist_name(r) for r in solution.unlink}


@dataclass
class Job:
    change: PlannedChange
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = "waiting"  #: waiting | running | done | failed
    stage: str = "Waiting for another change to this environment to finish"
    done: int = 0
    total: int = 0
    messages: list[str] = field(default_factory=list)
    error: tuple[str, str] | None = None  #: (what went wrong, what to do)
    started: float = field(default_factory=time.monotonic)
    ended: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def progress(self, stage: str, done: int, total: int) -> None:
        """The manager's progress callback (called from its worker threads)."""
        self.stage = _STAGES.get(stage, stage.capitalize())
        self.done, self.total = done, total

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.change.title,
            "state": self.state,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "messages": self.messages,
            "error": {"message": self.error[0], "remedy": self.error[1]} if self.error else None,
        }


class Workspace:
    """The navigator's memory: pending plans, jobs, one lock per environment."""

    def __init__(self) -> None:
        self.plans: dict[str, PlannedChange] = {}
        self.jobs: dict[str, Job] = {}
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def keep(self, change: PlannedChange) -> PlannedChange:
        self.plans[change.id] = change
        return change

    def start(self, plan_id: str) -> Job | None:
        """Carry out a kept plan in a worker thread; None when it is unknown (already
        carried out, or cancelled)."""
        change = self.plans.pop(plan_id, None)
        if change is None:
            return None
        job = self.jobs[change.id] = Job(change, id=change.id)
        threading.Thread(target=self._run, args=(job,), name=f"job-{job.id}", daemon=True).start()
        return job

    def busy(self, prefix: Path) -> bool:
        return any(not j.finished and j.change.request.prefix == prefix for j in self.jobs.values())

    def _lock(self, prefix: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(prefix.absolute(), threading.Lock())

    def _run(self, job: Job) -> None:
        try:
            self._apply(job)
        finally:
            job.ended.set()

    def _apply(self, job: Job) -> None:
        change = job.change
        with self._lock(change.request.prefix):
            job.state, job.stage = "running", "Starting"
            try:
                planned = current_outcome(change)
                outcome = apply_change(change.request, planned, change.config, job.progress)
                if change.after is not None:
                    job.stage = "Finishing"
                    change.after()
            except OphisError as error:
                job.error = (error.message, error.remedy)
                job.state = "failed"
                return
            except Exception as error:  # a crash: shown on the page, never swallowed silently
                job.error = (
                    f"The change failed unexpectedly: {type(error).__name__}: {error}",
                    "The transaction was rolled back where it had started. Check the disk "
                    "space and permissions of the environment, then try again.",
                )
                job.state = "failed"
                return
            if outcome.report is not None:
                job.messages = outcome.report.prelink_messages + outcome.report.messages
            job.state, job.stage = "done", "Done"
