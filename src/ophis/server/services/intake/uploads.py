"""The upload handshake of anaconda-client (reference §4): ``POST /stage`` issues a one-time
key, the storage POST (no auth header: the key authorises it) streams the file into a
temporary file and checks its digests, ``POST /commit`` checks the archive itself and
records it through :func:`ophis.server.services.intake.ingest.add_file`.

Nothing reaches the files table before the commit has inspected the archive; a refused or
interrupted upload leaves at most its Stage row (and staged bytes), purged when it expires.
The file is stored (durably: ``put_file`` has returned) before the transaction that makes it
visible commits, so a package is never listed without its bytes.

The storage POST and the commit may reach different machines behind a load balancer: with
a remote storage (S3) the received file is also put under ``staging/<dist_id>/`` there, and
a commit on a machine without the local copy fetches it from there.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from packaging.utils import canonicalize_name
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ophis.core.distribution_types import DistributionType
from ophis.core.versions import check_python_version
from ophis.security.tokens import hash_token
from ophis.server.db.models import File, Release, Stage, utcnow
from ophis.server.errors import BadRequest, Conflict, NotFound, ServerError
from ophis.server.privacy import private_dir, private_file
from ophis.server.schemas import StageCreate
from ophis.server.services.accounts import authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import files, labels, packages
from ophis.server.services.intake import ingest, inspection, staging
from ophis.server.services.trust import channel_policy
from ophis.server.settings import ServerSettings
from ophis.server.storage.interfaces import Storage

log = logging.getLogger("ophis.server")
#: the form field of the storage POST that carries the key /stage issued
UPLOAD_KEY = "upload_key"
_SUBDIR = r"[a-z0-9][a-z0-9_-]*"
_FILENAME = r"[A-Za-z0-9_+!-][A-Za-z0-9._+!-]{0,250}"
_BASENAME = re.compile(rf"^(?:{_SUBDIR}/)?{_FILENAME}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UPLOAD_AGAIN = "Upload the file again with `anaconda upload`."


class StoragePostError(ServerError):
    """A refused storage POST; answered S3-style (``<Error><Code>``), which is what the
    client parses there."""

    def __init__(self, code: str, message: str, remedy: str = "", status: int = 400) -> None:
        super().__init__(message, remedy)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class StagedUpload:
    dist_id: str
    upload_key: str


def stage(
    session: Session,
    storage: Storage,
    settings: ServerSettings,
    principal: Principal,
    spec: tuple[str, str, str, str],
    body: StageCreate,
) -> StagedUpload:
    """Check everything that can be checked before the bytes come, and issue the key."""
    owner_login, name, version, basename = spec
    release = packages.get_release(session, principal, owner_login, name, version)
    package = release.package
    authz.check_write_package(session, principal, package)
    staging.check_room_for_stage(session, settings, authz.require_login(principal).id)
    _check_stage_request(basename, package.name, version, body)
    target_labels = body.channels or [files.MAIN]
    for label in target_labels:
        labels.check_label_name(label)
        authz.check_label_unlocked(
            session, principal, package.owner, labels.find_label(session, package.owner, label)
        )
    if files.find_file(session, package.owner, basename) is not None:
        raise Conflict(
            f"{package.owner.login}/{basename} already exists.",
            "Upload with --force to replace it, or --skip-existing to keep it.",
        )
    key, dist_id = secrets.token_urlsafe(32), secrets.token_hex(16)
    session.add(
        Stage(
            dist_id=dist_id,
            upload_key_hash=hash_token(key),
            owner_id=package.owner_id,
            release_id=release.id,
            uploader_id=authz.require_login(principal).id,
            basename=basename,
            distribution_type=body.distribution_type,
            sha256=body.sha256.lower(),
            description=body.description,
            attrs=body.attrs,
            labels=target_labels,
            expires_at=utcnow() + timedelta(seconds=settings.stage_seconds),
        )
    )
    session.commit()
    return StagedUpload(dist_id, key)


def _check_stage_request(basename: str, name: str, version: str, body: StageCreate) -> None:
    if body.distribution_type == DistributionType.MODEL:
        check_model_basename(basename, name, version)
    elif not _BASENAME.match(basename) or len(basename) > 500:
        raise BadRequest(
            f"{basename!r} is not a valid file name for an upload.",
            "Upload conda packages as <subdir>/<name>-<version>-<build>.conda|.tar.bz2 and"
            " Python distributions under their own file names.",
        )
    if body.distribution_type not in tuple(DistributionType):
        raise BadRequest(
            f"Distribution type {body.distribution_type!r} is not accepted.",
            "Upload conda packages (.conda, .tar.bz2), wheels, sdists, project archives, model"
            " files (`ophis model upload`) or generic files (`anaconda upload -t file"
            " --package NAME --version VERSION`).",
        )
    if body.distribution_type == DistributionType.GENERIC and "/" in basename:
        raise BadRequest(
            f"{basename!r} is not a file name: a generic file is stored under its own name.",
            "Upload it without --keep-basename and without a subdir in its name.",
        )
    if body.distribution_type == DistributionType.PYPI:
        check_python_version(version)
    if not _SHA256.match(body.sha256.lower()):
        raise BadRequest(
            "The sha256 of the upload is not 64 hexadecimal digits.", "Send the file's SHA-256."
        )


def check_model_basename(basename: str, name: str, version: str) -> None:
    filename = basename.rsplit("/", 1)[-1]
    expected = inspection.model_basename(name, version, filename)
    if basename != expected or not re.match(rf"^{_FILENAME}$", filename) or len(basename) > 500:
        raise BadRequest(
            f"{basename!r} is not a model file's name for an upload.",
            f"Upload it as {expected!r} (`ophis model upload` does).",
        )


def receive(
    session: Session,
    storage: Storage,
    settings: ServerSettings,
    dist_id: str,
    fields: Mapping[str, str],
    chunks: Iterable[bytes],
) -> None:
    """The storage POST: stream the file part into the stage's temporary file, then check
    its size, Content-MD5 and the sha256 given at /stage. The key is spent at once."""
    row = _stage_for_key(session, dist_id, fields.get(UPLOAD_KEY, ""))
    limit = _file_limit(session, settings, row)
    declared = _declared_size(fields.get("Content-Length"), limit)
    md5 = _content_md5(fields.get("Content-MD5"))
    row.upload_key_hash = ""  # one-time: a second POST with the same key is refused
    session.commit()  # also ends the read transaction, which the stream may hold for long
    path = private_dir(staging.stage_dir(storage, dist_id)) / row.basename.rsplit("/", 1)[-1]
    try:
        size, digest, sha256 = _write(path, chunks, limit)
        _check_digests(row, declared, md5, size, digest, sha256)
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    row.storage_key = _share(storage, path, dist_id)
    row.size, row.md5 = size, digest.hex()
    session.commit()


def _share(storage: Storage, path: Path, dist_id: str) -> str:
    """The stage's key: its local file, or, when the storage is remote (other machines
    may take the commit), a copy under ``staging/`` there too."""
    if storage.local_path(f"{staging.STAGING}{dist_id}/{path.name}") is not None:
        return f"{path.parent.name}/{path.name}"
    key = f"{staging.STAGING}{dist_id}/{path.name}"
    copy = path.with_name(f".{path.name}.shared")
    shutil.copyfile(path, copy)
    try:
        storage.put_file(key, copy)  # moves (or removes) the copy; the local file stays
    except Exception:
        # A commit on this machine still works; the storage's own error is reported by the
        # commit, which stores the file for good, where the client shows it.
        log.warning("could not share upload %s through the storage", dist_id, exc_info=True)
        copy.unlink(missing_ok=True)
        return f"{path.parent.name}/{path.name}"
    return key


def _stage_for_key(session: Session, dist_id: str, key: str) -> Stage:
    row = session.scalar(select(Stage).where(Stage.dist_id == dist_id))
    if row is None or not row.upload_key_hash:
        raise StoragePostError(
            "AccessDenied", "This upload is unknown or was already sent.", _UPLOAD_AGAIN, 403
        )
    if not hmac.compare_digest(row.upload_key_hash, hash_token(key)):
        raise StoragePostError(
            "AccessDenied", "The upload key does not match this upload.", _UPLOAD_AGAIN, 403
        )
    if row.expires_at < utcnow():
        raise StoragePostError("AccessDenied", "This upload has expired.", _UPLOAD_AGAIN, 403)
    return row


@dataclass(frozen=True)
class _FileLimit:
    size: int
    #: the setting that sets it, for the error
    setting: str


def _file_limit(session: Session, settings: ServerSettings, row: Stage) -> _FileLimit:
    room = staging.room_for_file(session, settings, row)
    if room < settings.max_upload_bytes:
        return _FileLimit(room, "max_staged_bytes")
    return _FileLimit(room, "max_upload_bytes")


def _declared_size(value: str | None, limit: _FileLimit) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise StoragePostError(
            "InvalidArgument", f"Content-Length {value!r} is not a size.", _UPLOAD_AGAIN
        )
    if int(value) > limit.size:
        raise _too_large(limit)
    return int(value)


def _content_md5(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 16:
        raise StoragePostError(
            "InvalidDigest", "Content-MD5 is not a base64 MD5 digest.", _UPLOAD_AGAIN
        )
    return digest


def _too_large(limit: _FileLimit) -> StoragePostError:
    if limit.setting == "max_staged_bytes":
        return StoragePostError(
            "EntityTooLarge",
            f"The file is larger than what is left of your staging allowance ({limit.size}"
            " bytes of max_staged_bytes).",
            "Finish or abandon your other uploads in progress first; abandoned ones are"
            " removed when they expire.",
        )
    return StoragePostError(
        "EntityTooLarge",
        f"The file is larger than this server accepts ({limit.size} bytes).",
        "Ask the server's administrator to raise max_upload_bytes.",
    )


def _write(path: Path, chunks: Iterable[bytes], limit: _FileLimit) -> tuple[int, bytes, str]:
    md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    with private_file(path) as out:
        for chunk in chunks:
            size += len(chunk)
            if size > limit.size:
                raise _too_large(limit)
            md5.update(chunk)
            sha256.update(chunk)
            out.write(chunk)
    return size, md5.digest(), sha256.hexdigest()


def _check_digests(
    row: Stage, declared: int | None, md5: bytes | None, size: int, digest: bytes, sha256: str
) -> None:
    if declared is not None and declared != size:
        raise StoragePostError(
            "IncompleteBody",
            f"Received {size} bytes of the {declared} announced.",
            _UPLOAD_AGAIN,
        )
    if md5 is not None and md5 != digest:
        raise StoragePostError(
            "InvalidDigest", "The file's MD5 does not match Content-MD5.", _UPLOAD_AGAIN
        )
    if sha256 != row.sha256:
        raise StoragePostError(
            "InvalidDigest", "The file's SHA-256 does not match the one staged.", _UPLOAD_AGAIN
        )


def commit(
    session: Session,
    storage: Storage,
    principal: Principal,
    spec: tuple[str, str, str, str],
    dist_id: str,
) -> File:
    """Inspect the received file (the archive's own metadata wins) and record it; a refused
    file is deleted with its stage."""
    row = _own_stage(session, principal, dist_id)
    release = session.get(Release, row.release_id)
    if release is None:  # the release was removed since /stage
        raise NotFound(f"The release of upload {dist_id} was removed.", _UPLOAD_AGAIN)
    _check_same_target(row, release, spec)
    authz.check_write_package(session, principal, release.package)
    if row.storage_key is None:
        raise BadRequest(
            f"The file of upload {dist_id} has not arrived.",
            "POST it to the post_url /stage answered, then commit.",
        )
    path = _staged_file(storage, row)
    try:
        return _record(session, storage, principal, row, release, path)
    except Exception:
        # Refused, or storing or recording failed (storage down, database error): nothing
        # became visible, as the rows commit only after put_file returned; a commit that
        # failed after it leaves an unreferenced blob, which a new upload of the same bytes
        # reuses (content-addressed). The stage goes with its file, so that the client's
        # retry is a new upload, not a commit of a file no longer there.
        _drop_stage(session, row)
        raise
    finally:
        staging.discard(storage, row)


def _staged_file(storage: Storage, row: Stage) -> Path:
    """The received file on this machine: the local copy, else fetched from staging/."""
    assert row.storage_key is not None
    local = staging.stage_dir(storage, row.dist_id) / row.basename.rsplit("/", 1)[-1]
    if local.is_file():
        return local
    if not row.storage_key.startswith(staging.STAGING):
        raise BadRequest(
            f"The file of upload {row.dist_id} is on another server, which could not share it.",
            _UPLOAD_AGAIN,
        )
    private_dir(local.parent)
    partial = local.with_name(f".{local.name}.partial")
    with private_file(partial) as out:
        for chunk in storage.iter_bytes(row.storage_key):
            out.write(chunk)
    partial.replace(local)
    return local


def _drop_stage(session: Session, row: Stage) -> None:
    session.rollback()
    # When the database is what failed, the stage stays until it expires (and is purged).
    with contextlib.suppress(SQLAlchemyError):
        session.delete(row)
        session.commit()


def _own_stage(session: Session, principal: Principal, dist_id: str) -> Stage:
    account = authz.require_login(principal)
    row = session.scalar(select(Stage).where(Stage.dist_id == dist_id))
    if row is None or row.uploader_id != account.id:
        raise NotFound(f"No upload {dist_id!r} is staged for you.", _UPLOAD_AGAIN)
    return row


def _check_same_target(row: Stage, release: Release, spec: tuple[str, str, str, str]) -> None:
    owner_login, name, version, basename = spec
    package = release.package
    said = (owner_login.lower(), name.lower(), version, basename)
    staged = (package.owner.login_key, package.name.lower(), release.version, row.basename)
    if said != staged:
        raise BadRequest(
            f"Upload {row.dist_id} was staged for {'/'.join(staged)}, not {'/'.join(said)}.",
            "Commit to the same URL the upload was staged at.",
        )


def _record(
    session: Session,
    storage: Storage,
    principal: Principal,
    row: Stage,
    release: Release,
    path: Path,
) -> File:
    package = release.package
    inspected = inspection.inspect_file(
        path, row.distribution_type, package.name, release.version, row.attrs
    )
    _check_agrees(inspected, package.name, release.version, row.basename)
    for name in row.labels:
        authz.check_label_unlocked(
            session, principal, package.owner, labels.find_label(session, package.owner, name)
        )
    channel_policy.check_upload(session, package.owner, inspected, row.labels or [files.MAIN])
    session.delete(row)
    return ingest.add_file(
        session,
        storage,
        package.owner,
        path,
        inspected,
        labels=list(row.labels),
        uploader=principal.account,
        description=row.description,
        public=package.public,
    )


def _check_agrees(inspected: files.Inspected, name: str, version: str, basename: str) -> None:
    """The archive's own metadata wins: the URL it was uploaded to must agree with it."""
    problems = []
    if not _same_name(inspected.name, name, inspected.distribution_type):
        problems.append(f"its package is {inspected.name!r}, not {name!r}")
    if inspected.version != version:
        problems.append(f"its version is {inspected.version!r}, not {version!r}")
    if inspected.basename != basename:
        problems.append(f"its basename is {inspected.basename!r}, not {basename!r}")
    if problems:
        raise BadRequest(
            f"{inspected.filename}: {'; '.join(problems)}.",
            "Upload the file without overriding its name or version (anaconda upload reads them"
            " from the file).",
        )


def _same_name(file_name: str, package_name: str, distribution_type: str) -> bool:
    """Python names compare by PEP 503 (``demo-py`` and ``demo_py`` are one project)."""
    if distribution_type == DistributionType.PYPI:
        return canonicalize_name(file_name) == canonicalize_name(package_name)
    return file_name.lower() == package_name.lower()
