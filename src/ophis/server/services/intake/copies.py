"""``anaconda copy``: the files of a release put into a label of the same owner (the same
rows, in one more label) or of another owner (new rows sharing the bytes, signed and matched
by the target channel as an upload is, through :func:`.ingest.check_trust`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ophis.server.db.models import Account, File, Package
from ophis.server.errors import Conflict, NotFound
from ophis.server.schemas import CopyRequest
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import files, labels, packages
from ophis.server.services.intake import ingest
from ophis.server.storage.interfaces import Storage

#: how ``anaconda copy`` treats a file the destination already has: POST refuses,
#: PUT (--replace) replaces it, PATCH (--update) keeps it
REFUSE, REPLACE, KEEP = "refuse", "replace", "keep"


def copy_files(
    session: Session,
    storage: Storage,
    principal: Principal,
    spec: tuple[str, str, str, str | None],
    body: CopyRequest,
    on_conflict: str,
) -> list[File]:
    """``anaconda copy OWNER/PKG/VER[/FILE]``: the files of a release in one label, put into
    a label of the same or another owner. Across owners the new rows share the bytes."""
    owner_login, name, version, basename = spec
    labels.check_label_name(body.to_channel)
    release = packages.get_release(session, principal, owner_login, name, version)
    source_owner = release.package.owner
    rows = [
        row
        for row in release.files
        if (basename is None or row.basename == basename)
        and any(label.name == body.from_channel for label in row.labels)
    ]
    if not rows:
        raise NotFound(
            f"{source_owner.login}/{name}/{version} has no file "
            f"{'named ' + basename + ' ' if basename else ''}in the label {body.from_channel!r}.",
            "Check the version and --from-label with `anaconda show OWNER/PACKAGE/VERSION`.",
        )
    target = _copy_target(session, principal, body.to_owner)
    _check_copy_allowed(session, principal, target, release.package, body.to_channel)
    if target.id == source_owner.id:
        copied = _relabel(session, rows, target, body.to_channel)
        session.commit()
        return copied
    copied, replaced = _copy_rows(session, principal, rows, target, body.to_channel, on_conflict)
    if copied:
        _copy_metadata(release.package, copied[0].release.package, on_conflict)
    session.commit()
    files.delete_unshared(session, storage, replaced)
    return copied


def _copy_target(session: Session, principal: Principal, to_owner: str | None) -> Account:
    if to_owner:
        return accounts.get_account(session, to_owner)
    return authz.require_login(principal)


def _check_copy_allowed(
    session: Session, principal: Principal, target: Account, source: Package, label: str
) -> None:
    existing = files.find_package(session, target, source.name)
    if existing is None:
        authz.check_write_owner(session, principal, target)
    else:
        authz.check_write_package(session, principal, existing)
    authz.check_label_unlocked(
        session, principal, target, labels.find_label(session, target, label)
    )


def _relabel(session: Session, rows: list[File], owner: Account, name: str) -> list[File]:
    label = files.ensure_label(session, owner, name)
    for row in rows:
        files.add_to_label(session, row, label)
    return rows


def _copy_rows(
    session: Session,
    principal: Principal,
    rows: list[File],
    target: Account,
    label: str,
    on_conflict: str,
) -> tuple[list[File], list[str]]:
    copied: list[File] = []
    replaced: list[str] = []
    for row in rows:
        existing = files.find_file(session, target, row.basename)
        if existing is not None:
            if on_conflict == KEEP:
                continue
            if on_conflict == REFUSE:
                raise Conflict(
                    f"{target.login} already has {row.basename}.",
                    "Copy with --replace to overwrite it, or --update to keep it.",
                )
            replaced.append(files.forget_file(session, existing))
        copy = files.record_file(
            session,
            target,
            files.inspected_of(row),
            row.storage_key,
            labels=[label],
            uploader=principal.account,
            description=row.description,
            public=row.release.package.public,
        )
        ingest.check_trust(session, copy)  # the target channel's keys and policies
        copied.append(copy)
    return copied, replaced


def _copy_metadata(source: Package, target: Package, on_conflict: str) -> None:
    """--replace overwrites the destination's package metadata, --update fills what it
    lacks, a plain copy only fills a package it has just created."""
    for column in ("summary", "description", "license", "home"):
        if on_conflict == REPLACE or not getattr(target, column):
            setattr(target, column, getattr(source, column))
    target.attrs = (
        {**target.attrs, **source.attrs}
        if on_conflict == REPLACE
        else {**source.attrs, **target.attrs}
    )
    if source.icon_key and (on_conflict == REPLACE or not target.icon_key):
        target.icon_key = source.icon_key  # the blob is content-addressed: shared
