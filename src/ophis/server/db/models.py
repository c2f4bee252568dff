"""Database rows (SQLAlchemy 2). Domain objects live in ``ophis.core``; API shapes in
``ophis.server.schemas``. Every user and every organization is an :class:`Account`, and
every account is a namespace and so a conda channel."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend (SQLite drops the zone; clients such as
    anaconda-client crash on naive dates)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


USER = "user"
ORG = "org"


class Account(Base):
    """A user or an organization: a namespace, and so a channel."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(80))
    #: logins compare case-insensitively, as on Anaconda.org
    login_key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(8), default=USER)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: every package of the channel is private, whatever its own ``public`` says (the rule
    #: is :func:`ophis.server.services.accounts.authz.is_public`)
    private_channel: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrgGroup(Base):
    """A group of an organization's members with one permission on its packages."""

    __tablename__ = "org_groups"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    #: read | write | admin
    permission: Mapped[str] = mapped_column(String(8), default="read")
    #: empty means every package of the organization; otherwise only the listed ones
    limited: Mapped[bool] = mapped_column(Boolean, default=False)
    members: Mapped[list[GroupMember]] = relationship(cascade="all, delete-orphan")
    packages: Mapped[list[GroupPackage]] = relationship(cascade="all, delete-orphan")


class GroupMember(Base):
    __tablename__ = "group_members"
    group_id: Mapped[int] = mapped_column(
        ForeignKey("org_groups.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )


class GroupPackage(Base):
    __tablename__ = "group_packages"
    group_id: Mapped[int] = mapped_column(
        ForeignKey("org_groups.id", ondelete="CASCADE"), primary_key=True
    )
    package_id: Mapped[int] = mapped_column(
        ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True
    )


class Token(Base):
    """An API token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    #: the organization the token acts for, when it was made with ``-o ORG``
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), default=None
    )
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    hostname: Mapped[str] = mapped_column(String(200), default="")
    application: Mapped[str] = mapped_column(String(200), default="")
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    #: a deployment token (scope ``deployment:invoke``) reaches this deployment only
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), default=None
    )
    account: Mapped[Account] = relationship(foreign_keys=[account_id])
    org: Mapped[Account | None] = relationship(foreign_keys=[org_id])


class Package(Base):
    __tablename__ = "packages"
    __table_args__ = (
        UniqueConstraint("owner_id", "name"),
        # the web site's search walks names in order and its home page lists the newest
        # public packages: both stop after one page instead of sorting the whole table
        Index("ix_packages_name", "name"),
        Index("ix_packages_public_modified_at", "public", "modified_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    license: Mapped[str] = mapped_column(String(200), default="")
    home: Mapped[str] = mapped_column(String(500), default="")
    package_types: Mapped[list[Any]] = mapped_column(default=list)
    #: the storage key of the newest uploaded ``info/icon.png`` (content-addressed), if any
    icon_key: Mapped[str | None] = mapped_column(String(600), default=None)
    #: everything else the client sent in ``public_attrs``
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    owner: Mapped[Account] = relationship()
    releases: Mapped[list[Release]] = relationship(
        back_populates="package", cascade="all, delete-orphan", order_by="Release.id"
    )
    collaborators: Mapped[list[PackageCollaborator]] = relationship(cascade="all, delete-orphan")


class PackageCollaborator(Base):
    __tablename__ = "package_collaborators"
    package_id: Mapped[int] = mapped_column(
        ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("package_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    package: Mapped[Package] = relationship(back_populates="releases")
    files: Mapped[list[File]] = relationship(
        back_populates="release", cascade="all, delete-orphan", order_by="File.id"
    )


class File(Base):
    """One distribution: a conda archive, a wheel, an sdist."""

    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("owner_id", "basename"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), index=True
    )
    #: denormalised so that a channel's files are one indexed query away
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    #: conda: ``<subdir>/<filename>``; pypi: the file name
    basename: Mapped[str] = mapped_column(String(500))
    #: conda | pypi | r | installer | file
    distribution_type: Mapped[str] = mapped_column(String(16))
    subdir: Mapped[str | None] = mapped_column(String(40), default=None)
    filename: Mapped[str] = mapped_column(String(400))
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    #: where the bytes are in storage
    storage_key: Mapped[str] = mapped_column(String(600))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    #: what the client sent as ``attrs`` (index.json minus name and version, for conda)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: conda: the repodata.json record, computed from the archive on the server
    record: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    #: conda: what channeldata.json needs (about, run_exports, scripts)
    facts: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    download_count: Mapped[int] = mapped_column(Integer, default=0)
    uploader_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), default=None
    )
    upload_time: Mapped[datetime] = mapped_column(default=utcnow)
    release: Mapped[Release] = relationship(back_populates="files")
    labels: Mapped[list[Label]] = relationship(secondary="file_labels", back_populates="files")


class Label(Base):
    """A label of an owner's channel (``main`` is the plain channel)."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    is_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    files: Mapped[list[File]] = relationship(secondary="file_labels", back_populates="labels")


class FileLabel(Base):
    __tablename__ = "file_labels"
    #: a label's files newest first, walked in order so a page stops at its LIMIT
    __table_args__ = (Index("ix_file_labels_label_file", "label_id", "file_id"),)
    file_id: Mapped[int] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    label_id: Mapped[int] = mapped_column(
        ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True
    )


class Stage(Base):
    """An upload between ``POST /stage`` and ``POST /commit``."""

    __tablename__ = "stages"
    id: Mapped[int] = mapped_column(primary_key=True)
    dist_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: the secret the storage POST must carry in its form data (it has no auth header)
    upload_key_hash: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    uploader_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    basename: Mapped[str] = mapped_column(String(500))
    distribution_type: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    #: set once the file is in storage (a temporary key until commit)
    storage_key: Mapped[str | None] = mapped_column(String(600), default=None)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    md5: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class ChannelRevision(Base):
    """A counter per (owner, label, subdir), bumped by every change that alters that
    subdir's repodata: the key of the repodata caches and of their ETags."""

    __tablename__ = "channel_revisions"
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(200), primary_key=True)
    subdir: Mapped[str] = mapped_column(String(40), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebSession(Base):
    """A signed-in browser. The cookie carries a random secret; the row keeps only its
    SHA-256 as its id, so a copy of the database signs no one in."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    #: what every form of this session must send back (see ophis.server.web.forms)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    account: Mapped[Account] = relationship()


class SignInFailure(Base):
    """A refused password (web sign-in, Basic auth, password form), counted per (client
    address, login) by :mod:`ophis.server.services.accounts.sign_in_limit`.
    In the database rather than in memory so that the limit holds across ``--workers``
    processes and restarts."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_who", "login_key", "remote_addr", "failed_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    login_key: Mapped[str] = mapped_column(String(80))
    remote_addr: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DailyDownloads(Base):
    """How often a file was downloaded on one UTC day: one row per (file, day), bumped by
    the same request that bumps ``File.download_count``. ``subdir`` is the file's platform
    (``pypi`` for a wheel or sdist), copied so that statistics group without a join."""

    __tablename__ = "downloads"
    file_id: Mapped[int] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    subdir: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(Integer, default=0)


class Webhook(Base):
    """An owner's subscription: POSTs to ``url`` on the chosen events, for every package or
    only ``package`` (a name, compared case-insensitively)."""

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    package: Mapped[str | None] = mapped_column(String(200), default=None)
    url: Mapped[str] = mapped_column(String(2000))
    #: kept as given, not hashed: the sender needs it to sign every delivery (HMAC)
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    owner: Mapped[Account] = relationship()


class WebhookDelivery(Base):
    """One event for one hook: written in the transaction of the change it reports (an
    outbox), then sent and retried by the server's sender until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the last attempt's HTTP status, or its error when no answer came
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: None once delivered or given up
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    #: a sender's lease: other workers leave the row alone until then
    claimed_until: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RetentionPolicy(Base):
    """An owner's rule for one label: keep the ``keep_newest`` newest files of each package
    name and subdir, and/or remove files older than ``max_age_days``. A file also in
    another label only leaves this one."""

    __tablename__ = "retention_policies"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    keep_newest: Mapped[int | None] = mapped_column(Integer, default=None)
    max_age_days: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    owner: Mapped[Account] = relationship()


NOTICE_LEVELS = ("info", "warning", "critical")


class ChannelNotice(Base):
    """A message conda shows to the users of a channel (``notices.json``, CEP 7), and the
    web site shows as a banner on the owner's pages. ``label`` None: every label."""

    __tablename__ = "channel_notices"
    #: conda remembers which notices it showed by this id, so it is a stable UUID
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    label: Mapped[str | None] = mapped_column(String(200), default=None)
    message: Mapped[str] = mapped_column(Text)
    #: info | warning | critical
    level: Mapped[str] = mapped_column(String(8), default="info")
    #: seconds conda waits before it shows the notice again
    interval: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expired_at: Mapped[datetime | None] = mapped_column(default=None)


class ServerErrorLog(Base):
    """An unexpected server error (an HTTP 500) or a failed upload commit, for the
    administration page; only the newest rows are kept (see services/events/error_log.py)."""

    __tablename__ = "server_errors"
    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    method: Mapped[str] = mapped_column(String(10))
    #: with tokens redacted (``/t/<TOKEN>/``)
    path: Mapped[str] = mapped_column(String(2000))
    status: Mapped[int] = mapped_column(Integer)
    error_type: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str | None] = mapped_column(String(200), default=None)


MIRROR, PROXY = "mirror", "proxy"


class ChannelMirror(Base):
    """A label of an owner's channel that follows an upstream conda channel.

    ``mirror``: synced on a schedule (``interval_seconds``) with the same filters as
    ``ophis mirror`` (``filters``: subdirs, include, exclude, licenses, newest,
    keep_removed). ``proxy``: upstream's filtered repodata is served as the label's
    (refetched once older than ``interval_seconds``), and a package file is fetched on its
    first request, then kept. Which process syncs a mirror is decided by a lease
    (``claimed_until``, taken by one conditional UPDATE, as webhook deliveries are), so one
    worker syncs it at a time across processes and machines."""

    __tablename__ = "channel_mirrors"
    __table_args__ = (
        UniqueConstraint("owner_id", "label"),
        Index("ix_channel_mirrors_due", "next_due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(200), default="main")
    #: the channel URL, without credentials
    upstream: Mapped[str] = mapped_column(String(2000))
    #: a secret: used for upstream requests only, never shown in pages, API or logs
    upstream_token: Mapped[str | None] = mapped_column(String(500), default=None)
    #: mirror | proxy
    mode: Mapped[str] = mapped_column(String(8), default=MIRROR)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    interval_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    next_due_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: a syncing worker's lease: the others leave the mirror alone until then
    claimed_until: Mapped[datetime] = mapped_column(default=utcnow)
    last_sync_at: Mapped[datetime | None] = mapped_column(default=None)
    #: "" (never synced) | ok | failed (some files, or the whole run)
    last_status: Mapped[str] = mapped_column(String(16), default="")
    #: what the last sync did: files, bytes, removed, failures, seconds, error
    last_summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    owner: Mapped[Account] = relationship()


# --- known vulnerabilities (ophis.security.cve) and channel policies ----------------------


class Vulnerability(Base):
    """A vulnerability record imported from an OSV or CVE JSON 5 feed (upserted by id)."""

    __tablename__ = "vulnerabilities"
    __table_args__ = (Index("ix_vulnerabilities_score", "score"),)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[str | None] = mapped_column(String(40), default=None)
    modified: Mapped[str | None] = mapped_column(String(40), default=None)
    #: the highest base score of ``scores``, for filtering and policies
    score: Mapped[float | None] = mapped_column(default=None)
    severity: Mapped[str] = mapped_column(String(10), default="none")
    #: [{version, vector, base}]
    scores: Mapped[list[Any]] = mapped_column(default=list)
    references: Mapped[list[Any]] = mapped_column(default=list)
    #: the whole record as imported (ophis.security.cve.Vulnerability as JSON)
    record: Mapped[dict[str, Any]] = mapped_column(default=dict)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    ranges: Mapped[list[VulnerabilityRange]] = relationship(
        cascade="all, delete-orphan", order_by="VulnerabilityRange.id"
    )


class VulnerabilityRange(Base):
    """One affected (conda package name, conda version spec) of a vulnerability."""

    __tablename__ = "vulnerability_ranges"
    id: Mapped[int] = mapped_column(primary_key=True)
    vulnerability_id: Mapped[str] = mapped_column(
        ForeignKey("vulnerabilities.id", ondelete="CASCADE"), index=True
    )
    #: conda | pypi
    ecosystem: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200), index=True)
    spec: Mapped[str] = mapped_column(Text)


class FileVulnerability(Base):
    """A vulnerability that affects a stored file, with the curators' status for it."""

    __tablename__ = "file_vulnerabilities"
    __table_args__ = (UniqueConstraint("vulnerability_id", "file_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    vulnerability_id: Mapped[str] = mapped_column(
        ForeignKey("vulnerabilities.id", ondelete="CASCADE")
    )
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), index=True)
    #: one of ophis.security.cve.STATUSES; new matches start as ``reported``
    status: Mapped[str] = mapped_column(String(12), default="reported")
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    vulnerability: Mapped[Vulnerability] = relationship()
    file: Mapped[File] = relationship()
    updated_by: Mapped[Account | None] = relationship()


class VulnerabilityStatusChange(Base):
    """The history of a (vulnerability, file) status: who changed it, when, from what."""

    __tablename__ = "vulnerability_status_changes"
    __table_args__ = (
        Index("ix_vulnerability_status_changes_match", "vulnerability_id", "file_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    vulnerability_id: Mapped[str] = mapped_column(
        ForeignKey("vulnerabilities.id", ondelete="CASCADE")
    )
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), default=None
    )
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    from_status: Mapped[str] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text, default="")
    account: Mapped[Account | None] = relationship()


class ChannelPolicy(Base):
    """What a channel (an owner, one label or ``""`` for every label) accepts: files with a
    vulnerability of score >= ``max_score`` in one of ``statuses``, or a license outside
    ``licenses`` (when not empty), are refused at upload (``refuse``) or hidden from the
    channel's indexes (both actions hide such files already stored)."""

    __tablename__ = "channel_policies"
    __table_args__ = (UniqueConstraint("owner_id", "label"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(200), default="")
    #: hide | refuse
    action: Mapped[str] = mapped_column(String(8), default="hide")
    max_score: Mapped[float | None] = mapped_column(default=None)
    statuses: Mapped[list[Any]] = mapped_column(default=list)
    licenses: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PolicyHiddenFile(Base):
    """A file a channel policy hides from the indexes (repodata, shards, channeldata, pip
    index) of one label (``label``) or of every label (""): kept up to date by
    ophis.server.services.trust.channel_policy."""

    __tablename__ = "policy_hidden_files"
    __table_args__ = (Index("ix_policy_hidden_files_channel", "owner_id", "label"),)
    file_id: Mapped[int] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    #: why, for the owner's pages: e.g. "CVE-2022-37434 (9.8, active)"
    reason: Mapped[str] = mapped_column(Text, default="")


# --- package signing (conda content trust) ------------------------------------------------


class SigningKey(Base):
    """An owner's key_mgr or pkg_mgr ed25519 key. The private key is encrypted at rest
    (AES-256-GCM under the server's signing secret, :mod:`ophis.server.services.trust.signing`),
    so database exports and backups carry no usable private key. Retired keys keep their
    public half: a rotation lists the old pkg_mgr key until the files are re-signed."""

    __tablename__ = "signing_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    #: key_mgr | pkg_mgr
    role: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    #: nonce + AES-GCM ciphertext of the raw private key, hex; empty once retired
    private_key: Mapped[str] = mapped_column(Text, default="")
    #: active | retiring (still delegated to) | retired
    state: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrustMetadata(Base):
    """A channel's served trust metadata: ``N.root.json`` and ``key_mgr.json``."""

    __tablename__ = "trust_metadata"
    __table_args__ = (UniqueConstraint("owner_id", "filename"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelSigning(Base):
    """Per owner: whether uploads must be signed, and a counter bumped whenever existing
    signatures change (rotation), so repodata rebuilds know to re-read them."""

    __tablename__ = "channel_signing"
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    require_signatures: Mapped[bool] = mapped_column(Boolean, default=False)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class FileSignature(Base):
    """A pkg_mgr key's signatures of one conda file: over its repodata record, and over
    its attestation statement (filename and sha256)."""

    __tablename__ = "file_signatures"
    file_id: Mapped[int] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    public_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_signature: Mapped[str] = mapped_column(String(128))
    attestation_signature: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Deployment(Base):
    """A project served by this host: its ``serve`` task runs as a process of its own on
    a port of 127.0.0.1, proxied under ``/deployments/<owner>/<name>/``. ``desired`` is what
    its owner asked for; ``status`` what the supervisor last saw."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    #: anyone may call it (else the owner, ``allowed_users``, ``allowed_groups``, tokens)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_users: Mapped[list[Any]] = mapped_column(default=list)
    #: "org/group" names
    allowed_groups: Mapped[list[Any]] = mapped_column(default=list)
    #: running | stopped
    desired: Mapped[str] = mapped_column(String(8), default="running")
    #: running | crashed | stopped | failed
    status: Mapped[str] = mapped_column(String(16), default="stopped")
    port: Mapped[int | None] = mapped_column(Integer, default=None)
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    last_exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    #: when the supervisor may start a crashed deployment again (back-off)
    next_start_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the CSP ``sandbox`` its pages are served under ("off": none); None: the server's
    sandbox: Mapped[str | None] = mapped_column(String(300), default=None)
    owner: Mapped[Account] = relationship()


class UserContentSession(Base):
    """A browser signed in to one deployment or notebook server on the user-content origin
    (``kind`` "session"), or the one-time ticket the site hands over for it ("ticket").
    As for web sessions, the row keeps only the SHA-256 of the secret the browser holds."""

    __tablename__ = "user_content_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    #: "deployments/<owner>/<name>" or "notebooks/<login>": the one app it opens
    target: Mapped[str] = mapped_column(String(250))
    kind: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    account: Mapped[Account] = relationship()
