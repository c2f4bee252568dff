"""Proxy channels: a label that serves an upstream channel, fetching each package file from
upstream on its first request and keeping it.

- **Repodata** of a proxy label is upstream's, filtered by the proxy's filters (the same
  :class:`ophis.mirror.plan.Filters` as mirrors), fetched through the client's repodata
  cache (``ophis.client.repodata_cache``: kept on disk, revalidated with its ETag once older
  than the proxy's ``interval_seconds``; when upstream cannot be reached the cached copy is
  served). The document is built once per upstream change and kept by the server's
  :class:`ChannelCache`, with its ``.zst``/``.bz2`` twins and ``current_repodata.json``.
  No shard index is offered (clients then read ``repodata.json``): shards of records whose
  files are not stored yet would be built for nothing. A file named by a CEP-15
  ``base_url`` is fetched relative to the subdir all the same.
- **A package file** not stored yet is looked up in that filtered repodata (absent: 404),
  downloaded, checked against upstream's sha256 (else md5) and size, checked again as any
  upload is (:func:`inspection.inspect_file`), and stored through :func:`ingest.add_file` into
  the label; then it is served like any stored file, also once upstream is gone. Concurrent
  first requests fetch it once: a lock per file within a process, a lock file across the
  processes of one machine, and the database's unique (owner, basename) across machines
  (the loser of that race rolls back and serves the winner's row).
- Who may read is decided as for any channel (:mod:`ophis.server.services.accounts.authz`): the
  proxied repodata is the channel's, readable when the channel is; stored files keep the
  usual per-package rules.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ophis.client.repodata_cache import FetchOptions, fetch_all
from ophis.client.verified_download import (
    FileDownload,
    download_client,
    download_verified,
    expected_digest,
    file_digest,
)
from ophis.core.channel import Channel
from ophis.core.distribution_types import DistributionType
from ophis.core.errors import OphisError
from ophis.core.file_lock import file_lock
from ophis.core.paths import check_record_fields
from ophis.core.platform import KNOWN_SUBDIRS
from ophis.core.repodata import build_repodata, dumps
from ophis.core.shards import SHARDS_INDEX
from ophis.mirror.plan import Record, records_of
from ophis.mirror.sync import upstream_channel
from ophis.server import outbound
from ophis.server.db.models import PROXY, Account, ChannelMirror
from ophis.server.errors import Conflict, NotFound
from ophis.server.services.accounts import authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import files
from ophis.server.services.channels import mirror_channels, repodata
from ophis.server.services.channels.channel_cache import Artifact, CacheKey, ChannelCache
from ophis.server.services.intake import ingest, inspection
from ophis.server.settings import ServerSettings
from ophis.server.storage.interfaces import Storage

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock only
    fcntl = None  # type: ignore[assignment]

#: this process's file locks, striped (bounded memory): a file's fetch holds its stripe
_LOCKS = tuple(threading.Lock() for _ in range(64))
#: (proxy id, subdir) -> (when upstream was last asked, its cached repodata): within the
#: proxy's interval a request reads the cached copy without opening an HTTP client
_CHECKED: dict[tuple[int, str], tuple[float, Path | None]] = {}
_SUBDIR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def proxy_of(session: Session, login: str, label: str) -> ChannelMirror | None:
    """The proxy behind ``login``/``label`` (None: an ordinary channel)."""
    return session.scalar(
        select(ChannelMirror)
        .join(Account, Account.id == ChannelMirror.owner_id)
        .where(Account.login_key == login.lower(), Account.is_disabled.is_(False))
        .where(ChannelMirror.label == label, ChannelMirror.mode == PROXY)
    )


def _check_subdir(proxy: ChannelMirror, subdir: str) -> None:
    """A subdir name is a path segment of upstream URLs and of this machine's work folder."""
    if not _SUBDIR.match(subdir):
        where = files.channel_path(proxy.owner.login, proxy.label)
        raise NotFound(f"{where} has no subdir {subdir!r}.", "Check the subdir.")


def _check_readable(session: Session, principal: Principal, proxy: ChannelMirror) -> None:
    if not authz.can_read_channel(session, principal, proxy.owner, repodata.SCOPE):
        raise NotFound(
            f"There is no channel named {proxy.owner.login!r}.",
            "Check the owner's name in the URL.",
        )


# --- repodata ------------------------------------------------------------------------------


def subdir_document(
    session: Session,
    cache: ChannelCache,
    settings: ServerSettings,
    principal: Principal,
    proxy: ChannelMirror,
    subdir: str,
    name: str,
) -> Artifact:
    """``repodata.json`` or one of its companions, from upstream's (filtered)."""
    _check_readable(session, principal, proxy)
    _check_subdir(proxy, subdir)
    where = f"{files.channel_path(proxy.owner.login, proxy.label)}/{subdir}"
    if name == SHARDS_INDEX:
        raise NotFound(f"{where} offers no shards.", "Read repodata.json.")
    path = _upstream_repodata(settings, proxy, subdir)
    if path is None and subdir not in KNOWN_SUBDIRS:
        raise NotFound(f"{where} does not exist upstream.", "Check the subdir.")
    stamp = f"proxy-{_stamp(path)}-{proxy.id}"
    key = CacheKey(proxy.owner_id, proxy.label, subdir, stamp, "all")
    media_type = repodata.media_type(name)
    derived = repodata.derivation(name)
    if derived is None:  # repodata.json itself
        return cache.get(key, name, lambda: _filtered_document(proxy, subdir, path), media_type)
    source, transform = derived
    return cache.get(
        key,
        name,
        lambda: transform(
            subdir_document(session, cache, settings, principal, proxy, subdir, source).body
        ),
        media_type,
    )


def _stamp(path: Path | None) -> str:
    """Changes when the cached upstream document does (a 304 leaves it as it was)."""
    if path is None:
        return "none"
    stat = path.stat()
    return f"{stat.st_mtime_ns}-{stat.st_size}"


def _channel(settings: ServerSettings, proxy: ChannelMirror) -> Channel:
    folder = mirror_channels.work_dir(settings, proxy)
    source = mirror_channels.upstream_source(proxy)
    return upstream_channel(source, mirror_channels.no_stored_tokens(folder))


def _upstream_repodata(settings: ServerSettings, proxy: ChannelMirror, subdir: str) -> Path | None:
    """Upstream's repodata.json in this machine's cache, revalidated once older than the
    proxy's interval; the cached copy when upstream cannot be reached."""
    checked = _CHECKED.get((proxy.id, subdir))
    if checked is not None:
        when, found = checked
        if time.monotonic() - when < proxy.interval_seconds and (found is None or found.is_file()):
            return found
    cache_dir = mirror_channels.work_dir(settings, proxy) / "upstream"
    options = FetchOptions(
        cache_dir=cache_dir,
        ttl_seconds=proxy.interval_seconds,
        transport=outbound.transport(settings),
    )
    channel = _channel(settings, proxy)
    try:
        path = fetch_all([channel], [subdir], options)[0].path
        _CHECKED[(proxy.id, subdir)] = (time.monotonic(), path)
        return path
    except OphisError:
        offline = FetchOptions(cache_dir=cache_dir, offline=True)
        try:
            return fetch_all([channel], [subdir], offline)[0].path
        except OphisError:
            raise _Upstream(
                f"The upstream of {proxy.owner.login}/{proxy.label} cannot be reached.",
                "Try again later.",
            ) from None


def _wanted(proxy: ChannelMirror, subdir: str, path: Path | None) -> tuple[dict[str, Record], Any]:
    """The filtered upstream records, and upstream's whole document."""
    options = mirror_channels.options_of(proxy)
    if path is None or (options.subdirs and subdir not in options.subdirs):
        return {}, {}
    document = orjson.loads(path.read_bytes())
    return options.filters.apply(records_of(document)), document


def _filtered_document(proxy: ChannelMirror, subdir: str, path: Path | None) -> bytes:
    records, upstream = _wanted(proxy, subdir, path)
    # no base_url: clients ask this server for the files, which fetches them
    document = build_repodata(subdir, records)
    document["removed"] = sorted((upstream or {}).get("removed") or ())
    return dumps(document)


# --- package files -------------------------------------------------------------------------


def open_package_file(
    session: Session,
    storage: Storage,
    settings: ServerSettings,
    principal: Principal,
    login: str,
    label: str,
    subdir: str,
    filename: str,
    *,
    count: bool,
) -> repodata.Download:
    """A stored file as :func:`repodata.open_package_file` finds it; in a proxy label, a
    file not stored yet is fetched from upstream first."""
    try:
        return repodata.open_package_file(
            session, principal, login, label, subdir, filename, count=count
        )
    except NotFound:
        proxy = proxy_of(session, login, label)
        if proxy is None:
            raise
    session.rollback()  # the failed lookup's transaction: the fetch commits its own
    fetch_file(session, storage, settings, principal, proxy, subdir, filename)
    return repodata.open_package_file(
        session, principal, login, label, subdir, filename, count=count
    )


def fetch_file(
    session: Session,
    storage: Storage,
    settings: ServerSettings,
    principal: Principal,
    proxy: ChannelMirror,
    subdir: str,
    filename: str,
) -> None:
    """Store one upstream file in the proxy's label (nothing when another request did)."""
    _check_readable(session, principal, proxy)
    _check_subdir(proxy, subdir)
    path = _upstream_repodata(settings, proxy, subdir)
    record = _wanted(proxy, subdir, path)[0].get(filename)
    if record is None:
        raise NotFound(
            f"There is no such file in {files.channel_path(proxy.owner.login, proxy.label)}.",
            "Check the file name against the channel's repodata.",
        )
    check_record_fields(proxy.upstream, filename, record)  # the file name becomes a path
    work = mirror_channels.work_dir(settings, proxy) / "proxy" / subdir
    work.mkdir(parents=True, exist_ok=True)
    with _file_lock(proxy.id, work, filename):
        if _in_label(session, proxy, f"{subdir}/{filename}"):
            return  # fetched by the request that held the lock before us
        target = work / filename
        try:
            _download(_channel(settings, proxy), subdir, filename, record, target, settings)
            _store(session, storage, proxy, subdir, target)
        finally:
            target.unlink(missing_ok=True)


def _in_label(session: Session, proxy: ChannelMirror, basename: str) -> bool:
    row = files.find_file(session, proxy.owner, basename)
    return row is not None and proxy.label in {label.name for label in row.labels}


@contextlib.contextmanager
def _file_lock(proxy_id: int, folder: Path, filename: str) -> Iterator[None]:
    with _LOCKS[hash((proxy_id, filename)) % len(_LOCKS)], file_lock(folder / f"{filename}.lock"):
        yield


def _download(
    channel: Channel,
    subdir: str,
    filename: str,
    record: Record,
    target: Path,
    settings: ServerSettings,
) -> None:
    """A verified copy of the upstream file at ``target`` (sha256, else md5, and size)."""
    url = f"{channel.url(subdir)}/{filename}"
    request_url = f"{channel.url(subdir, with_token=True, with_auth=True)}/{filename}"
    expected = expected_digest(record.get("sha256"), record.get("md5"))
    size = int(record["size"]) if record.get("size") is not None else None
    parts = urlsplit(request_url)
    if parts.scheme == "file":
        source = Path(unquote(parts.path))
        if not source.is_file():
            raise NotFound(f"{url} does not exist upstream.", "Tell the upstream's owner.")
        shutil.copyfile(source, target)
        if expected is not None and file_digest(target, expected[0]) != expected[1]:
            raise _mismatch(url)
    else:
        item = FileDownload(url, request_url, target, size, expected)
        with download_client(transport=outbound.transport(settings)) as client:
            download_verified(client, item, lambda _n: None, threading.Event(), error=_Upstream)
    if size is not None and target.stat().st_size != size:
        raise _mismatch(url)


class _Upstream(OphisError):
    """The upstream file could not be fetched or does not match its index: a gateway error."""

    status = 502
    exception_name = "UpstreamError"


def _mismatch(url: str) -> _Upstream:
    return _Upstream(
        f"{url} does not match its channel's index.",
        "It was not stored. Tell the upstream channel's owner.",
    )


def _store(
    session: Session, storage: Storage, proxy: ChannelMirror, subdir: str, path: Path
) -> None:
    inspected = inspection.inspect_file(path, DistributionType.CONDA)
    if inspected.basename != f"{subdir}/{path.name}":
        raise _Upstream(f"{path.name} says it belongs in {inspected.basename}.", "")
    existing = files.find_file(session, proxy.owner, inspected.basename)
    try:
        if existing is not None and existing.sha256 == inspected.sha256:
            label = files.ensure_label(session, proxy.owner, proxy.label)
            files.add_to_label(session, existing, label)
            session.commit()
        else:
            ingest.add_file(
                session,
                storage,
                proxy.owner,
                path,
                inspected,
                labels=[proxy.label],
                replace=existing is not None,
            )
    except (IntegrityError, Conflict):  # another machine stored it first: serve theirs
        session.rollback()
