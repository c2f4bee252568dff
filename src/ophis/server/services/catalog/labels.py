"""Labels of an owner's channel (``main`` is the plain channel); copies of files between
labels and owners are :mod:`ophis.server.services.intake.copies`. Every change bumps the
revision of exactly the (owner, label, subdir) indexes it alters, through
:func:`ophis.server.services.catalog.files.touch`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ophis.server.db.models import Account, File, FileLabel, Label, Package, Release
from ophis.server.errors import BadRequest, Conflict, NotFound
from ophis.server.schemas import FileSelection
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import files, packages

#: the scope a token needs to see packages through the API
READ_SCOPE = "api:read"
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


@dataclass(frozen=True)
class LabelSummary:
    label: Label
    files: list[File]


def check_label_name(name: str) -> None:
    if not _LABEL.match(name):
        raise BadRequest(
            f"{name!r} is not a valid label name.",
            "Use letters, digits and '.', '_', '-', starting with a letter or digit.",
        )


def find_label(session: Session, owner: Account, name: str) -> Label | None:
    return session.scalar(select(Label).where(Label.owner_id == owner.id, Label.name == name))


def visible_labels(
    session: Session, principal: Principal, owner: Account, scope: str = READ_SCOPE
) -> Select[tuple[Label]]:
    """The owner's labels the caller may know of: all of them for the namespace's members,
    else those holding a file of a package the caller may read. To anyone else a label is
    not there at all: not its name, its notices or its counts."""
    query = select(Label).where(Label.owner_id == owner.id)
    if authz.at_least(authz.role_on(session, principal, owner), authz.READ):
        return query
    has_visible_file = (
        select(FileLabel.file_id)
        .join(File, File.id == FileLabel.file_id)
        .join(Release, Release.id == File.release_id)
        .join(Package, Package.id == Release.package_id)
        .where(FileLabel.label_id == Label.id, authz.readable_packages(principal, scope))
        .exists()
    )
    return query.where(has_visible_file)


def list_labels(session: Session, principal: Principal, owner_login: str) -> list[LabelSummary]:
    """The owner's labels the caller may know of, with the files the caller may see."""
    owner = accounts.get_account(session, owner_login)
    labels = session.scalars(visible_labels(session, principal, owner).order_by(Label.name))
    return [
        LabelSummary(label, packages.visible_files(session, principal, label.files))
        for label in labels
    ]


def show_label(session: Session, principal: Principal, owner_login: str, name: str) -> LabelSummary:
    owner = accounts.get_account(session, owner_login)
    label = session.scalar(visible_labels(session, principal, owner).where(Label.name == name))
    if label is None:
        raise _no_label(owner, name)
    return LabelSummary(label, packages.visible_files(session, principal, label.files))


def _existing_label(session: Session, owner: Account, name: str) -> Label:
    label = find_label(session, owner, name)
    if label is None:
        raise _no_label(owner, name)
    return label


def _no_label(owner: Account, name: str) -> NotFound:
    return NotFound(
        f"{owner.login} has no label {name!r}.",
        f"List the labels with `anaconda label --list -o {owner.login}`.",
    )


def add_label(
    session: Session, principal: Principal, owner_login: str, name: str, which: FileSelection
) -> None:
    """Put the selected files of the owner (all of them when nothing is selected) into a
    label, creating it when needed."""
    check_label_name(name)
    owner = accounts.get_account(session, owner_login)
    authz.check_write_owner(session, principal, owner)
    authz.check_label_unlocked(session, principal, owner, find_label(session, owner, name))
    rows = _selected(session, owner, which)
    label = files.ensure_label(session, owner, name)
    for row in rows:
        files.add_to_label(session, row, label)
    session.commit()


def remove_label(
    session: Session,
    principal: Principal,
    owner_login: str,
    name: str,
    which: FileSelection,
    *,
    force: bool = False,
) -> None:
    """Take the selected files out of a label; with nothing selected, the whole label goes
    (``main`` stays, empty, as the plain channel), unless that would leave files in no
    label at all (then a Conflict, unless ``force``)."""
    owner = accounts.get_account(session, owner_login)
    authz.check_write_owner(session, principal, owner)
    label = _existing_label(session, owner, name)
    authz.check_label_unlocked(session, principal, owner, label)
    everything = which.package is None and which.version is None and which.basename is None
    if everything and not force:
        _check_nothing_stranded(session, owner, label)
    rows = list(label.files) if everything else _selected(session, owner, which)
    for row in rows:
        files.take_out_of_label(session, row, label)
    if everything and name != files.MAIN:
        session.delete(label)
    session.commit()


def _check_nothing_stranded(session: Session, owner: Account, label: Label) -> None:
    """Removing a whole label must not silently take files out of every channel: a file
    in no label is served by no channel nor pip index."""
    elsewhere = select(FileLabel.file_id).where(FileLabel.label_id != label.id)
    stranded = session.scalar(
        select(func.count())
        .select_from(FileLabel)
        .where(FileLabel.label_id == label.id, FileLabel.file_id.not_in(elsewhere))
    )
    if not stranded:
        return
    files_word = "file is" if stranded == 1 else "files are"
    # anaconda-client shows the message only: it says what to do as well
    raise Conflict(
        f"{stranded} {files_word} in no other label than {label.name!r} of {owner.login}:"
        " removing the label would leave them in no channel, unreachable by conda and pip."
        f" Move them first (`anaconda move --from-label {label.name} --to-label LABEL"
        f" {owner.login}/PACKAGE`) or remove them (`anaconda remove`).",
        f"To remove the label anyway, send DELETE /api/channels/{owner.login}/{label.name}"
        "?force=true.",
    )


def copy_label(
    session: Session, principal: Principal, owner_login: str, name: str, to_name: str
) -> None:
    """Put every file of one label into another as well."""
    check_label_name(to_name)
    owner = accounts.get_account(session, owner_login)
    authz.check_write_owner(session, principal, owner)
    source = _existing_label(session, owner, name)
    authz.check_label_unlocked(session, principal, owner, find_label(session, owner, to_name))
    target = files.ensure_label(session, owner, to_name)
    for row in list(source.files):
        files.add_to_label(session, row, target)
    session.commit()


def set_locked(
    session: Session, principal: Principal, owner_login: str, name: str, locked: bool
) -> None:
    owner = accounts.get_account(session, owner_login)
    action = "locking a label" if locked else "unlocking a label"
    authz.check_admin_owner(session, principal, owner, action)
    _existing_label(session, owner, name).is_locked = locked
    session.commit()


def _selected(session: Session, owner: Account, which: FileSelection) -> list[File]:
    query = (
        select(File)
        .join(Release, Release.id == File.release_id)
        .join(Package, Package.id == Release.package_id)
        .where(File.owner_id == owner.id)
        .order_by(File.id)
    )
    if which.package is not None:
        package = files.find_package(session, owner, which.package)
        if package is None:
            raise authz.not_found(f"{owner.login}/{which.package}")
        query = query.where(Package.id == package.id)
    if which.version is not None:
        query = query.where(Release.version == which.version)
    if which.basename is not None:
        query = query.where(File.basename == which.basename)
    rows = list(session.scalars(query))
    if not rows:
        what = "/".join(v for v in (which.package, which.version, which.basename) if v)
        raise NotFound(
            f"{owner.login} has no file{' matching ' + what if what else 's'}.",
            f"Check the spelling; `anaconda show {owner.login}` lists the packages.",
        )
    return rows


# --- the label settings page -------------------------------------------------------------


@dataclass(frozen=True)
class LabelRow:
    """A label as the settings page lists it: how many files it holds, locked or not."""

    name: str
    files: int
    is_locked: bool


def label_rows(session: Session, principal: Principal, owner_login: str) -> list[LabelRow]:
    """Every label of the owner, with its number of files (one grouped query), for those
    who may change the owner's labels (404 to the others)."""
    owner = accounts.get_account(session, owner_login)
    authz.check_manage_labels(session, principal, owner)
    counts = (
        select(Label.name, Label.is_locked, func.count(FileLabel.file_id))
        .outerjoin(FileLabel, FileLabel.label_id == Label.id)
        .where(Label.owner_id == owner.id)
        .group_by(Label.id, Label.name, Label.is_locked)
        .order_by(Label.name)
    )
    return [LabelRow(name, count, locked) for name, locked, count in session.execute(counts)]


def create_label(session: Session, principal: Principal, owner_login: str, name: str) -> Label:
    """A new, empty label (files are then copied or moved into it)."""
    check_label_name(name)
    owner = accounts.get_account(session, owner_login)
    authz.check_write_owner(session, principal, owner)
    if find_label(session, owner, name) is not None:
        raise Conflict(
            f"{owner.login} already has a label {name!r}.", "Choose another name for the label."
        )
    label = files.ensure_label(session, owner, name)
    session.commit()
    return label


def delete_label(session: Session, principal: Principal, owner_login: str, name: str) -> None:
    """Take every file out of a label and delete it; the files stay in their other labels."""
    if name == files.MAIN:
        raise BadRequest(
            "The label 'main' is the plain channel and cannot be deleted.",
            "Move its files to another label instead.",
        )
    remove_label(session, principal, owner_login, name, FileSelection())


def rename_label(
    session: Session, principal: Principal, owner_login: str, name: str, new_name: str
) -> None:
    """Copy a label's files into a new label and remove the old one, in one transaction
    (the indexes of both are invalidated and webhooks hear of every file)."""
    check_label_name(new_name)
    if files.MAIN in (name, new_name):
        raise BadRequest(
            "The label 'main' is the plain channel: it cannot be renamed, nor replaced.",
            "Create a label and move files between it and main instead.",
        )
    owner = accounts.get_account(session, owner_login)
    authz.check_write_owner(session, principal, owner)
    source = _existing_label(session, owner, name)
    authz.check_label_unlocked(session, principal, owner, source)
    if find_label(session, owner, new_name) is not None:
        raise Conflict(
            f"{owner.login} already has a label {new_name!r}.",
            "Choose a new name, or move the files into that label instead.",
        )
    target = files.ensure_label(session, owner, new_name)
    target.is_locked = source.is_locked
    for row in list(source.files):
        files.add_to_label(session, row, target)
        files.take_out_of_label(session, row, source)
    session.delete(source)
    session.commit()


def transfer_files(
    session: Session,
    principal: Principal,
    owner_login: str,
    which: FileSelection,
    from_label: str,
    to_label: str,
    *,
    move: bool,
) -> int:
    """Copy (or move) the files of one package (optionally one version) from one label of
    the owner to another, creating the target label; the number of files."""
    check_label_name(to_label)
    if from_label == to_label:
        raise BadRequest(
            f"The files are in {from_label!r} already.", "Choose two different labels."
        )
    owner = accounts.get_account(session, owner_login)
    authz.check_write_owner(session, principal, owner)
    source = _existing_label(session, owner, from_label)
    if move:
        authz.check_label_unlocked(session, principal, owner, source)
    authz.check_label_unlocked(session, principal, owner, find_label(session, owner, to_label))
    rows = [row for row in _selected(session, owner, which) if source in row.labels]
    if not rows:
        raise NotFound(
            f"The label {from_label!r} of {owner.login} holds no file of "
            f"{'/'.join(v for v in (which.package, which.version) if v)}.",
            "Check the package, the version and the source label.",
        )
    target = files.ensure_label(session, owner, to_label)
    for row in rows:
        files.add_to_label(session, row, target)
        if move:
            files.take_out_of_label(session, row, source)
    session.commit()
    return len(rows)
