"""Retention policies per label: keep the newest N files of each package name and subdir,
and/or remove files older than N days. :func:`preview` says exactly what a run would take
out; :func:`apply` does it in one transaction. A file that is also in another label only
leaves this label; a file only in this label is deleted (its row, then its bytes when no
other row shares them), reported to webhooks as a removal. The :class:`Runner` thread of
each server process applies every policy every ``settings.retention_seconds``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ophis.server.background import PeriodicThread
from ophis.server.db.models import (
    Account,
    File,
    FileLabel,
    Label,
    Package,
    Release,
    RetentionPolicy,
    utcnow,
)
from ophis.server.errors import BadRequest
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import files, labels
from ophis.server.services.events import webhooks
from ophis.server.settings import ServerSettings
from ophis.server.storage.interfaces import Storage

log = logging.getLogger("ophis.server.retention")


@dataclass(frozen=True)
class Outcome:
    """What one run did."""

    deleted: int
    unlabelled: int


# --- managing policies -------------------------------------------------------------------


def manageable_owners(session: Session, principal: Principal) -> list[Account]:
    """The caller and the organizations they administer."""
    return webhooks.manageable_owners(session, principal)


def list_policies(session: Session, owners: list[Account]) -> list[RetentionPolicy]:
    query = (
        select(RetentionPolicy)
        .where(RetentionPolicy.owner_id.in_([owner.id for owner in owners]))
        .order_by(RetentionPolicy.id)
    )
    return list(session.scalars(query))


def check_admin(session: Session, principal: Principal, owner: Account) -> None:
    """Retention is an owner admin's business; to anyone else it is not there."""
    authz.require_login(principal)
    if not authz.at_least(authz.role_on(session, principal, owner), authz.ADMIN):
        raise authz.not_found(f"The retention settings of {owner.login}")


def create_policy(
    session: Session,
    principal: Principal,
    owner_login: str,
    label: str,
    keep_newest: int | None,
    max_age_days: int | None,
) -> RetentionPolicy:
    owner = accounts.get_account(session, owner_login)
    check_admin(session, principal, owner)
    labels.check_label_name(label)
    if keep_newest is None and max_age_days is None:
        raise BadRequest(
            "A retention policy needs a rule.",
            "Give the number of newest builds to keep, a maximum age in days, or both.",
        )
    if (keep_newest is not None and keep_newest < 1) or (
        max_age_days is not None and max_age_days < 1
    ):
        raise BadRequest(
            "The number of builds to keep and the maximum age must be at least 1.",
            "To empty a label, remove it instead.",
        )
    policy = RetentionPolicy(
        owner_id=owner.id, label=label, keep_newest=keep_newest, max_age_days=max_age_days
    )
    session.add(policy)
    session.commit()
    return policy


def get_policy(session: Session, principal: Principal, policy_id: int) -> RetentionPolicy:
    """The policy, if the caller administers its owner; NotFound otherwise."""
    policy = session.get(RetentionPolicy, policy_id)
    if policy is None or not authz.at_least(
        authz.role_on(session, principal, policy.owner), authz.ADMIN
    ):
        raise authz.not_found(f"Retention policy {policy_id}")
    return policy


def delete_policy(session: Session, principal: Principal, policy_id: int) -> None:
    session.delete(get_policy(session, principal, policy_id))
    session.commit()


# --- what a policy takes out -------------------------------------------------------------


def _label(session: Session, policy: RetentionPolicy) -> Label | None:
    return session.scalar(
        select(Label).where(Label.owner_id == policy.owner_id, Label.name == policy.label)
    )


def preview(session: Session, policy: RetentionPolicy) -> list[File]:
    """The files of the policy's label that a run would take out of it, oldest first: beyond
    the ``keep_newest`` newest of their package name and subdir, or older than
    ``max_age_days``. Those also in another label (:func:`other_labels`) only leave this one."""
    label = _label(session, policy)
    if label is None:
        return []
    query = (
        select(File, Package.name)
        .join(FileLabel, FileLabel.file_id == File.id)
        .join(Release, Release.id == File.release_id)
        .join(Package, Package.id == Release.package_id)
        .where(FileLabel.label_id == label.id)
        .order_by(File.upload_time.desc(), File.id.desc())
    )
    cutoff = (
        utcnow() - timedelta(days=policy.max_age_days) if policy.max_age_days is not None else None
    )
    seen: dict[tuple[str, str | None], int] = {}
    doomed: list[File] = []
    for row, name in session.execute(query):
        group = (name.lower(), row.subdir)
        rank = seen[group] = seen.get(group, 0) + 1
        too_many = policy.keep_newest is not None and rank > policy.keep_newest
        too_old = cutoff is not None and row.upload_time < cutoff
        if too_many or too_old:
            doomed.append(row)
    return list(reversed(doomed))


def other_labels(row: File, policy: RetentionPolicy) -> list[str]:
    """The labels a file keeps after the policy takes it out of its own."""
    return sorted(label.name for label in row.labels if label.name != policy.label)


def apply(session: Session, storage: Storage, policy: RetentionPolicy) -> Outcome:
    """Take out what :func:`preview` lists, in one transaction (committed here); the bytes of
    deleted files go after the commit, when no other row shares them."""
    label = _label(session, policy)
    doomed = preview(session, policy)
    keys: list[str] = []
    unlabelled = 0
    for row in doomed:
        if other_labels(row, policy):
            files.take_out_of_label(session, row, label)
            unlabelled += 1
        else:
            keys.append(files.discard_file(session, row))
    policy.last_run_at = utcnow()
    session.commit()
    files.delete_unshared(session, storage, keys)
    if doomed:
        log.info(
            "retention %s/%s: %d deleted, %d unlabelled",
            policy.owner.login,
            policy.label,
            len(keys),
            unlabelled,
        )
    return Outcome(deleted=len(keys), unlabelled=unlabelled)


# --- running -----------------------------------------------------------------------------


def apply_all(sessions: sessionmaker[Session], storage: Storage) -> Outcome:
    """Apply every policy, each in its own transaction; returns the totals."""
    deleted = unlabelled = 0
    with sessions() as session:
        ids = list(session.scalars(select(RetentionPolicy.id).order_by(RetentionPolicy.id)))
    for policy_id in ids:
        with sessions() as session:
            # Every worker runs this: on PostgreSQL a policy another worker is applying is
            # skipped (SQLite serializes writers, and a second run finds nothing to do).
            claim = select(RetentionPolicy).where(RetentionPolicy.id == policy_id)
            policy = session.scalar(claim.with_for_update(skip_locked=True))
            if policy is None:
                continue
            try:
                outcome = apply(session, storage, policy)
            except Exception:  # one bad policy must not stop the others
                session.rollback()
                log.exception("retention policy %d failed", policy_id)
                continue
            deleted += outcome.deleted
            unlabelled += outcome.unlabelled
    return Outcome(deleted=deleted, unlabelled=unlabelled)


def runner(
    sessions: sessionmaker[Session], storage: Storage, settings: ServerSettings
) -> PeriodicThread:
    """The background thread of one server process that applies every policy periodically."""
    return PeriodicThread(
        "ophis-retention", settings.retention_seconds, lambda: apply_all(sessions, storage)
    )
