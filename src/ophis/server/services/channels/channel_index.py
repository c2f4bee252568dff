"""What conda-index writes beside a channel's repodata, for people rather than conda: the
channel's index page (its packages, from ``channeldata.json``), each subdir's index page (a
table of its files) and ``rss.xml`` (the packages updated last).

Each is built from what the caller may see of the channel, by the same look-ups as its
repodata (:func:`ophis.server.services.channels.repodata.open_index`): a private package or label is
as absent from these pages as from ``repodata.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from ophis.core.channel_feed import rss_feed
from ophis.core.distribution_types import DistributionType
from ophis.core.package_file import split_package_filename
from ophis.core.platform import KNOWN_SUBDIRS
from ophis.server.db.models import Account, File, Label
from ophis.server.errors import NotFound
from ophis.server.services.accounts import accounts
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog.files import MAIN, channel_path
from ophis.server.services.catalog.labels import visible_labels
from ophis.server.services.channels import repodata
from ophis.server.services.channels.browse import MAX_PAGE
from ophis.server.services.channels.channel_cache import Artifact, ChannelCache, etag_of

RSS = "rss.xml"
#: files a subdir's index page lists at a time
SUBDIR_PAGE = 1000


@dataclass(frozen=True)
class ChannelIndex:
    owner: Account
    label: str
    #: channeldata.json as the caller may see it
    channeldata: dict[str, Any]
    #: the channel's other labels the caller may know of (on the plain channel's page)
    labels: list[str]


@dataclass(frozen=True)
class IndexedFile:
    filename: str
    name: str
    version: str
    build: str
    size: int
    modified: datetime
    sha256: str
    md5: str


@dataclass(frozen=True)
class SubdirIndex:
    owner: Account
    label: str
    subdir: str
    files: list[IndexedFile]
    number: int
    has_next: bool


def channel_index(
    session: Session, cache: ChannelCache, principal: Principal, login: str, label: str
) -> ChannelIndex:
    document = repodata.channeldata(session, cache, principal, login, label)
    owner = accounts.get_account(session, login)  # there: its channeldata was just built
    labels: list[str] = []
    if label == MAIN:
        known = visible_labels(session, principal, owner, repodata.SCOPE)
        names = session.scalars(known.with_only_columns(Label.name).order_by(Label.name))
        labels = [name for name in names if name != MAIN]
    return ChannelIndex(owner, label, orjson.loads(document.body), labels)


def subdir_index(
    session: Session, principal: Principal, login: str, label: str, subdir: str, number: int
) -> SubdirIndex:
    """One page of a subdir's files the caller may see, by file name; NotFound for a
    subdir that is neither conda's nor holds a file the caller may see."""
    number = min(max(1, number), MAX_PAGE)
    view = repodata.open_index(
        session, principal, login, label, subdir, DistributionType.CONDA, repodata.SCOPE
    )
    columns = (File.filename, File.size, File.upload_time, File.sha256, File.md5)
    query = repodata.visible_files(
        view.owner.id, label, view.hidden, DistributionType.CONDA, *columns
    )
    query = query.where(File.subdir == subdir).order_by(File.filename)
    offset = (number - 1) * SUBDIR_PAGE
    rows = session.execute(query.limit(SUBDIR_PAGE + 1).offset(offset)).all()
    if not rows and subdir not in KNOWN_SUBDIRS:
        raise NotFound(
            f"{channel_path(view.owner.login, label)} has no subdir {subdir!r}.",
            f"Use one of {', '.join(KNOWN_SUBDIRS)}.",
        )
    files = [_indexed(*row) for row in rows[:SUBDIR_PAGE]]
    return SubdirIndex(view.owner, label, subdir, files, number, len(rows) > SUBDIR_PAGE)


def _indexed(filename: str, size: int, modified: datetime, sha256: str, md5: str) -> IndexedFile:
    name, version, build, _ = split_package_filename(filename)
    return IndexedFile(filename, name, version, build, size, modified, sha256, md5)


def channel_feed(
    session: Session,
    cache: ChannelCache,
    principal: Principal,
    login: str,
    label: str,
    url: str,
) -> Artifact:
    """``rss.xml`` of the channel served at ``url``."""
    document = repodata.channeldata(session, cache, principal, login, label)
    name = channel_path(login, label)
    body = rss_feed(name, url, orjson.loads(document.body), document.last_modified)
    return Artifact(body, etag_of(body), document.last_modified, "application/rss+xml")
