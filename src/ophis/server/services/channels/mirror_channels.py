"""Mirror and proxy channels: a label of an owner's channel that follows an upstream.

A **mirror** channel is synced by :func:`sync_mirror` — the same run as ``ophis mirror``
(:func:`ophis.mirror.sync.mirror`: upstream repodata through the client's cache with its
ETag, the plan with the mirror's filters, downloads verified against upstream's sha256 and
size), with a destination that writes into this server in-process
(:class:`DatabaseChannelDestination`) rather than over HTTP to itself. Each file goes in
through :func:`ophis.server.services.intake.ingest.add_file`, the one path into the server: stored,
then made visible by its own transaction. A sync cut off midway so leaves the label
consistent (every listed file is there), and the next sync fetches the rest.

Files upstream removed (or the filters now leave out) leave the label unless
``keep_removed``; a file that is also in another label of the owner only leaves this one.
The label is the mirror's: a file uploaded into it by hand is removed by the next sync.
The server builds records from the files, so upstream's metadata-only hotfixes are not
carried over (as with ``ophis mirror --to``).

One process syncs a mirror at a time, across processes and machines: a sync first takes a
lease (``claimed_until``) with one conditional UPDATE, renewed while it runs, and gives it
back when done; a worker that dies mid-sync loses its lease after :data:`LEASE`. Every
server process runs :func:`runner`, which syncs the mirrors that are due.

A mirror whose upstream is another Ophis server's model catalog
(``https://HOST/api/models?owner=LOGIN``) follows that owner's models instead, under the
same lease and schedule: see :mod:`ophis.server.services.channels.model_mirrors`.

A **proxy** channel is not synced: see :mod:`ophis.server.services.channels.proxy`.

The upstream token is a secret: it is used for upstream requests only and never returned
by :func:`describe`, nor written to summaries or logs (:func:`ophis.core.redaction.redact`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ophis.core.distribution_types import DistributionType
from ophis.core.errors import OphisError
from ophis.core.redaction import redact
from ophis.core.repodata import build_repodata
from ophis.mirror.plan import Filters, Record, SubdirPlan
from ophis.mirror.sync import FileFailure, MirrorOptions, MirrorReport, mirror
from ophis.server import outbound
from ophis.server.background import PeriodicThread
from ophis.server.context import ServerContext
from ophis.server.db.models import MIRROR, PROXY, Account, ChannelMirror, File, utcnow
from ophis.server.errors import BadRequest, Conflict, NotFound
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import files
from ophis.server.services.catalog.labels import check_label_name
from ophis.server.services.channels import mirror_labels, model_mirrors
from ophis.server.services.intake import inspection
from ophis.server.settings import ServerSettings
from ophis.server.storage.interfaces import Storage

log = logging.getLogger("ophis.server")
MODES = (MIRROR, PROXY)
#: how long a sync may go without renewing its lease before another worker may take over
LEASE = timedelta(minutes=10)
#: a running sync renews its lease at most this often (seconds)
RENEW_EVERY = 60.0
#: failures kept in a summary (the count is kept whole)
MAX_FAILURES_SHOWN = 20
MIN_INTERVAL = 1
_URL_TOKEN = re.compile(r"/t/([^/]+)")


# --- declaring mirrors -------------------------------------------------------------------


@dataclass(frozen=True)
class MirrorRequest:
    """What declares a mirror or proxy channel (the CLI's and the settings page's input)."""

    owner: str
    upstream: str
    label: str = files.MAIN
    mode: str = MIRROR
    subdirs: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    newest: int | None = None
    keep_removed: bool = False
    interval_seconds: int = 3600
    token: str | None = None

    def filters(self) -> dict[str, Any]:
        """As stored (and checked: a spec that does not parse is refused here)."""
        Filters.parse(self.include, self.exclude, self.licenses, self.newest)
        return {
            "subdirs": list(self.subdirs),
            "include": list(self.include),
            "exclude": list(self.exclude),
            "licenses": list(self.licenses),
            "newest": self.newest,
            "keep_removed": self.keep_removed,
        }


def split_token(url: str) -> tuple[str, str | None]:
    """A URL without its ``/t/<token>`` segment, and the token: the token is kept apart,
    as a secret, so that the URL can be shown."""
    match = _URL_TOKEN.search(url)
    if match is None:
        return url.rstrip("/"), None
    return url.replace(match.group(0), "", 1).rstrip("/"), match.group(1)


def add_mirror(
    session: Session,
    principal: Principal | None,
    request: MirrorRequest,
    settings: ServerSettings | None = None,
) -> ChannelMirror:
    """Declare a mirror (or proxy) channel; ``principal`` None is the server's operator (the
    CLI), else the caller must administer the owner, and the upstream must be an http(s)
    URL the server may reach (``settings``: :mod:`ophis.server.outbound`)."""
    owner = accounts.get_account(session, request.owner)
    upstream, url_token = split_token(request.upstream.strip())
    if principal is not None:
        authz.check_manage_channel(session, principal, owner)
        outbound.check_user_url(upstream, settings or ServerSettings(), "A mirror's upstream")
    _check_request(request, upstream)
    if find_mirror(session, owner, request.label) is not None:
        raise Conflict(
            f"{owner.login}/{request.label} is already a mirror or proxy channel.",
            "Remove it first (`ophis server mirror remove`), or use another label.",
        )
    row = ChannelMirror(
        owner_id=owner.id,
        label=request.label,
        upstream=upstream,
        upstream_token=request.token or url_token,
        mode=request.mode,
        filters=request.filters(),
        interval_seconds=request.interval_seconds,
    )
    row.owner = owner
    session.add(row)
    files.ensure_label(session, owner, request.label)  # its page (and badge) exist at once
    session.commit()
    return row


def _check_request(request: MirrorRequest, upstream: str) -> None:
    if request.mode not in MODES:
        raise BadRequest(f"Unknown mode {request.mode!r}.", "Use mirror or proxy.")
    check_label_name(request.label)
    if model_mirrors.is_model_upstream(upstream):
        _check_model_request(request, upstream)
    elif urlsplit(upstream).scheme not in ("http", "https", "file"):
        raise BadRequest(
            f"{redact(upstream)!r} is not a channel URL.",
            "Give an http(s):// or file:// URL of a conda channel.",
        )
    if request.interval_seconds < MIN_INTERVAL:
        raise BadRequest(
            f"An interval of {request.interval_seconds} s is too short.",
            "Give a number of seconds of 1 or more.",
        )


def _check_model_request(request: MirrorRequest, upstream: str) -> None:
    """A model mirror: synced, filtered by the catalog's own filters in its URL."""
    model_mirrors.parse_upstream(upstream)
    if request.mode != MIRROR:
        raise BadRequest(
            "A model catalog cannot be proxied.", "Declare it as a mirror (without --proxy)."
        )
    conda_only = request.subdirs or request.include or request.exclude or request.licenses
    if conda_only or request.newest is not None:
        raise BadRequest(
            "Subdirs, match specs, licenses and --newest filter conda channels, not models.",
            "Filter models in the upstream URL: "
            "https://HOST/api/models?owner=LOGIN&task=embedding&quantization=Q8_0.",
        )


def find_mirror(session: Session, owner: Account, label: str) -> ChannelMirror | None:
    return session.scalar(
        select(ChannelMirror).where(
            ChannelMirror.owner_id == owner.id, ChannelMirror.label == label
        )
    )


def get_mirror(
    session: Session, principal: Principal | None, owner: str, label: str
) -> ChannelMirror:
    """The mirror of ``owner/label``; to a caller who does not administer it, there is none."""
    account = accounts.get_account(session, owner)
    if principal is not None:
        authz.check_manage_channel(session, principal, account)
    found = find_mirror(session, account, label)
    if found is None:
        raise NotFound(
            f"{owner}/{label} is not a mirror or proxy channel.",
            "List them with `ophis server mirror list`.",
        )
    return found


def list_mirrors(session: Session, owner: str | None = None) -> list[ChannelMirror]:
    query = select(ChannelMirror).join(Account, Account.id == ChannelMirror.owner_id)
    if owner is not None:
        query = query.where(Account.login_key == owner.lower())
    return list(session.scalars(query.order_by(Account.login_key, ChannelMirror.label)))


def owner_mirrors(session: Session, owner: Account) -> dict[str, ChannelMirror]:
    """The owner's mirror and proxy channels by label (for the owner and label pages)."""
    rows = session.scalars(select(ChannelMirror).where(ChannelMirror.owner_id == owner.id))
    return {row.label: row for row in rows}


def remove_mirror(session: Session, principal: Principal | None, owner: str, label: str) -> None:
    """The label stops following its upstream; the files it holds stay."""
    session.delete(get_mirror(session, principal, owner, label))
    session.commit()


def mirrors_of(session: Session, principal: Principal, owner: str) -> list[dict[str, Any]]:
    """The settings page's list: the mirrors of an owner the caller administers."""
    account = accounts.get_account(session, owner)
    authz.check_manage_channel(session, principal, account)
    return [describe(row) for row in sorted(owner_mirrors(session, account).values(), key=_label)]


def _label(row: ChannelMirror) -> str:
    return row.label


def request_sync(session: Session, principal: Principal, owner: str, label: str) -> None:
    """Make a mirror due now: the runner of whichever worker looks first syncs it (within
    ``mirror_poll_seconds``), so that a web request never waits for a whole sync."""
    row = get_mirror(session, principal, owner, label)
    if row.mode != MIRROR:
        raise BadRequest(
            f"{owner}/{label} is a proxy channel: it is not synced.",
            "A proxy fetches each file from upstream on its first request.",
        )
    row.next_due_at = utcnow()
    session.commit()


def describe(row: ChannelMirror) -> dict[str, Any]:
    """What may be shown of a mirror: everything but its token."""
    return {
        "owner": row.owner.login,
        "label": row.label,
        "mode": row.mode,
        "kind": "models" if model_mirrors.is_model_upstream(row.upstream) else "conda",
        "upstream": redact(row.upstream, row.upstream_token),
        "has_token": bool(row.upstream_token),
        "filters": row.filters,
        "interval_seconds": row.interval_seconds,
        "last_sync_at": row.last_sync_at.isoformat() if row.last_sync_at else None,
        "last_status": row.last_status,
        "last_summary": row.last_summary,
        "next_due_at": row.next_due_at.isoformat() if row.mode == MIRROR else None,
    }


def upstream_source(row: ChannelMirror) -> str:
    """The upstream URL with its token as a ``/t/<token>`` segment after the host (where
    conda, Anaconda.org and Ophis servers take it)."""
    if not row.upstream_token:
        return row.upstream
    parts = urlsplit(row.upstream)
    return f"{parts.scheme}://{parts.netloc}/t/{row.upstream_token}{parts.path}"


def work_dir(settings: ServerSettings, row: ChannelMirror) -> Path:
    """This machine's folder for a mirror: staged downloads, upstream's cached repodata."""
    return settings.data_dir / "mirrors" / str(row.id)


def no_stored_tokens(folder: Path) -> dict[str, str]:
    """The environment the client code reads stored tokens from, pointed at nothing: the
    server must never send its operator's own logins upstream."""
    return {"BINSTAR_CONFIG_DIR": str(folder / "no-stored-tokens")}


# --- the lease ------------------------------------------------------------------------------


def claim(session: Session, mirror_id: int, *, due_only: bool) -> bool:
    """Take the lease of a mirror (committed): False when another worker holds it (or, with
    ``due_only``, when it is not due)."""
    now = utcnow()
    conditions = [ChannelMirror.id == mirror_id, ChannelMirror.claimed_until < now]
    if due_only:
        conditions += [ChannelMirror.next_due_at <= now, ChannelMirror.mode == MIRROR]
    statement = update(ChannelMirror).where(*conditions).values(claimed_until=now + LEASE)
    taken = bool(session.execute(statement).rowcount)
    session.commit()
    return taken


@dataclass
class _Lease:
    """Renews a held lease from any thread, at most every :data:`RENEW_EVERY` seconds."""

    sessions: sessionmaker[Session]
    mirror_id: int
    renewed: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def renew(self, *_: object) -> None:
        with self.lock:
            if time.monotonic() - self.renewed < RENEW_EVERY:
                return
            self.renewed = time.monotonic()
        with self.sessions() as session:
            statement = update(ChannelMirror).where(ChannelMirror.id == self.mirror_id)
            session.execute(statement.values(claimed_until=utcnow() + LEASE))
            session.commit()


# --- syncing ------------------------------------------------------------------------------


@dataclass
class DatabaseChannelDestination:
    """``ophis.mirror``'s :class:`~ophis.mirror.destinations.Destination` for a label of
    this server, written in-process: what it publishes is read from the database, files go
    in through :func:`ingest.add_file` (each committed whole)."""

    session: Session
    storage: Storage
    owner: Account
    label: str
    work_dir: Path
    lease: _Lease
    failures: list[FileFailure] = field(default_factory=list)
    stored: int = 0
    removed: int = 0

    def describe(self) -> str:
        return f"{self.owner.login}/{self.label}"

    def _rows(self, subdir: str) -> list[File]:
        query = mirror_labels.label_files(self.owner, self.label, DistributionType.CONDA)
        return list(self.session.scalars(query.where(File.subdir == subdir)))

    def current(self, subdir: str) -> dict[str, Any] | None:
        rows = self._rows(subdir)
        if not rows:
            return None
        return build_repodata(subdir, {row.filename: row.record or {} for row in rows})

    def present(self, subdir: str) -> dict[str, int]:
        # a file is listed only once stored and committed: what the label lists, it holds
        return {row.filename: row.size for row in self._rows(subdir)}

    def holds(self, subdir: str, filename: str, expected: tuple[str, str] | None) -> bool:
        return False

    def publish(
        self,
        plan: SubdirPlan,
        records: Mapping[str, Record],
        staged: Mapping[str, Path],
        remove: Sequence[str],
    ) -> None:
        for filename, path in staged.items():
            try:
                self._store(plan.subdir, filename, path, records.get(filename) or {})
            except OphisError as error:
                self.session.rollback()
                self.failures.append(FileFailure(plan.subdir, filename, error.message))
            finally:
                path.unlink(missing_ok=True)
            self.lease.renew()
        self._remove(plan.subdir, remove)

    def _store(self, subdir: str, filename: str, path: Path, record: Record) -> None:
        inspected = inspection.inspect_file(path, DistributionType.CONDA)
        basename = f"{subdir}/{filename}"
        if inspected.basename != basename:
            raise BadRequest(f"{filename} says it belongs in {inspected.basename}.", "")
        if record.get("sha256") and record["sha256"] != inspected.sha256:
            raise BadRequest(f"{basename} does not match upstream's sha256.", "")
        mirror_labels.take_in(self.session, self.storage, self.owner, self.label, path, inspected)
        self.stored += 1

    def _remove(self, subdir: str, remove: Sequence[str]) -> None:
        """In one transaction, after the new files."""
        basenames = [f"{subdir}/{filename}" for filename in remove]
        self.removed += mirror_labels.leave_label(
            self.session, self.storage, self.owner, self.label, basenames
        )

    def finish(self, subdirs: Sequence[str]) -> None:
        """Nothing channel-wide: the server builds channeldata.json from its rows."""


def options_of(row: ChannelMirror) -> MirrorOptions:
    spec = row.filters or {}
    filters = Filters.parse(
        tuple(spec.get("include") or ()),
        tuple(spec.get("exclude") or ()),
        tuple(spec.get("licenses") or ()),
        spec.get("newest"),
    )
    subdirs = tuple(spec.get("subdirs") or ())
    return MirrorOptions(
        subdirs=subdirs, filters=filters, keep_removed=bool(spec.get("keep_removed"))
    )


def sync_mirror(
    context: ServerContext, mirror_id: int, *, due_only: bool = False
) -> dict[str, Any] | None:
    """Sync one mirror now, under its lease; its summary (None: another worker holds the
    lease, or with ``due_only`` it is not due). Raises for a proxy channel."""
    with context.sessions() as session:
        row = session.get(ChannelMirror, mirror_id)
        if row is None:
            return None
        if row.mode != MIRROR:
            raise BadRequest(
                f"{row.owner.login}/{row.label} is a proxy channel: it is not synced.",
                "A proxy fetches each file from upstream on its first request.",
            )
        if not claim(session, mirror_id, due_only=due_only):
            return None
        lease = _Lease(context.sessions, mirror_id)
        try:
            summary, status = _run(context, session, row, lease)
        except Exception as error:  # the next round tries again; the page shows why
            session.rollback()
            text = (
                error.message
                if isinstance(error, OphisError)
                else f"{type(error).__name__}: {error}"
            )
            summary, status = {"error": redact(text, row.upstream_token)}, "failed"
            # the message only, redacted: a traceback could carry the upstream's token
            log.error("mirror %s/%s failed: %s", row.owner.login, row.label, summary["error"])
        _record(session, row, summary, status)
        return summary


def _run(
    context: ServerContext, session: Session, row: ChannelMirror, lease: _Lease
) -> tuple[dict[str, Any], str]:
    folder = work_dir(context.settings, row)
    if model_mirrors.is_model_upstream(row.upstream):
        sync = model_mirrors.sync_models(
            session, context.storage, row, folder, context.settings, lease.renew
        )
        return sync.summary(MAX_FAILURES_SHOWN), "failed" if sync.failures else "ok"
    destination = DatabaseChannelDestination(
        session, context.storage, row.owner, row.label, folder, lease
    )
    report = mirror(
        upstream_source(row),
        destination,
        dataclasses.replace(options_of(row), transport=outbound.transport(context.settings)),
        progress=lease.renew,
        env=no_stored_tokens(folder),
    )
    report.failures.extend(destination.failures)
    summary = _summary(report, destination, row.upstream_token)
    return summary, "failed" if report.failures else "ok"


def _summary(
    report: MirrorReport, destination: DatabaseChannelDestination, token: str | None
) -> dict[str, Any]:
    failures = [
        {"subdir": f.subdir, "filename": f.filename, "error": redact(f.error, token)}
        for f in report.failures
    ]
    return {
        "source": redact(report.source, token),
        "files": destination.stored,
        "bytes": report.bytes_received,
        "removed": destination.removed,
        "packages": sum(len(p.publish) for p in report.plans),
        "failure_count": len(failures),
        "failures": failures[:MAX_FAILURES_SHOWN],
        "seconds": round(report.seconds, 3),
    }


def _record(session: Session, row: ChannelMirror, summary: dict[str, Any], status: str) -> None:
    """The outcome, the next due time, and the lease given back."""
    now = utcnow()
    row.last_sync_at, row.last_status, row.last_summary = now, status, summary
    row.next_due_at = now + timedelta(seconds=row.interval_seconds)
    row.claimed_until = now
    session.commit()


def sync_named(
    context: ServerContext, owner: str | None, label: str | None
) -> list[dict[str, Any]]:
    """Sync now the mirrors of ``owner`` (one label, or all of them; every owner's when
    None), each under its lease; proxies are skipped. One result per mirror: its owner,
    label, status (``busy`` when another worker holds its lease) and summary."""
    with context.sessions() as session:
        rows = [
            (row.id, row.owner.login, row.label)
            for row in list_mirrors(session, owner)
            if row.mode == MIRROR and label in (None, row.label)
        ]
        if owner is not None and label is not None and not rows:
            get_mirror(session, None, owner, label)  # says why: no such mirror, or a proxy
            raise BadRequest(
                f"{owner}/{label} is a proxy channel: it is not synced.",
                "A proxy fetches each file from upstream on its first request.",
            )
    results = []
    for mirror_id, login, name in rows:
        summary = sync_mirror(context, mirror_id)
        with context.sessions() as session:
            row = session.get(ChannelMirror, mirror_id)
            status = "busy" if summary is None or row is None else row.last_status
        results.append({"owner": login, "label": name, "status": status, **(summary or {})})
    return results


def sync_due(context: ServerContext) -> int:
    """Sync every mirror that is due and not leased; how many were synced."""
    with context.sessions() as session:
        due = select(ChannelMirror.id).where(
            ChannelMirror.mode == MIRROR,
            ChannelMirror.next_due_at <= utcnow(),
            ChannelMirror.claimed_until < utcnow(),
        )
        ids = list(session.scalars(due.order_by(ChannelMirror.next_due_at)))
    return sum(sync_mirror(context, mirror_id, due_only=True) is not None for mirror_id in ids)


def runner(context: ServerContext, settings: ServerSettings) -> PeriodicThread:
    """The background thread of one server process that syncs the mirrors that are due."""
    return PeriodicThread("ophis-mirrors", settings.mirror_poll_seconds, lambda: sync_due(context))
