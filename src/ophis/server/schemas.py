"""API shapes: what the anaconda-client API sends and answers (reference §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rattler import Version
from rattler.exceptions import InvalidVersionError

from ophis.server.db.models import (
    Account,
    File,
    Label,
    OrgGroup,
    Package,
    Release,
    Token,
    utcnow,
)
from ophis.server.services.accounts.authz import is_public


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class TokenCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    scopes: list[str] | None = None
    note: str | None = None
    note_url: str | None = None
    hostname: str | None = None
    user: str | None = None
    max_age: int | None = Field(default=None, alias="max-age")
    strength: str | None = None
    fail_if_exists: bool = Field(default=False, alias="fail-if-exists")


def user_public(account: Account) -> dict[str, Any]:
    return {
        "login": account.login,
        "name": account.name,
        "user_type": "org" if account.kind == "org" else "user",
        "description": account.description,
        "created_at": iso(account.created_at),
        "url": None,
        "company": "",
        "location": "",
    }


def token_public(token: Token) -> dict[str, Any]:
    return {
        "id": str(token.id),
        "name": token.name,
        "application": token.application or token.name,
        "scopes": token.scopes,
        "created_at": iso(token.created_at),
        "expires": iso(token.expires_at),
        #: expired tokens are listed (and removable) until removed
        "expired": token.expires_at is not None and token.expires_at <= utcnow(),
        "hostname": token.hostname,
        "remote_addr": token.remote_addr,
        "org": token.org.login if token.org else None,
    }


# --- packages, releases, files (reference §2 and §5) -----------------------------------

#: the package types anaconda-client knows; any other value in ``package_types`` crashes it
PACKAGE_TYPES = frozenset(
    {"conda", "pypi", "r", "env", "ipynb", "file", "installer", "project", "model"}
)


class PackageCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    public: bool = True
    publish: bool = False
    public_attrs: dict[str, Any] = Field(default_factory=dict)


class AttrsUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    public_attrs: dict[str, Any] = Field(default_factory=dict)


class ReleaseCreate(BaseModel):
    """The release metadata the client takes from the file, sent flat."""

    model_config = ConfigDict(extra="allow")
    summary: str | None = None
    description: str | None = None


class StageCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    distribution_type: str
    sha256: str
    description: str | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)
    dependencies: Any = None
    #: label names; the client sends [] when no -l was given, which means main
    channels: list[str] = Field(default_factory=list)


class CommitRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    dist_id: str


class FileSelection(BaseModel):
    """Which of an owner's files a label change applies to; None matches every value."""

    model_config = ConfigDict(extra="ignore")
    package: str | None = None
    version: str | None = None
    basename: str | None = None


class CopyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    to_owner: str | None = None
    from_channel: str = "main"
    to_channel: str = "main"


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    perms: str = "read"


def latest_version(versions: list[str]) -> str | None:
    """The highest version by conda's ordering (which also orders PEP 440 versions)."""
    try:
        return str(max(versions, key=Version)) if versions else None
    except InvalidVersionError:
        return versions[-1]


def owner_public(account: Account) -> dict[str, Any]:
    return {
        "login": account.login,
        "name": account.name,
        "user_type": user_public(account)["user_type"],
    }


def file_public(row: File) -> dict[str, Any]:
    release = row.release
    package = release.package
    return {
        "basename": row.basename,
        "version": release.version,
        "type": row.distribution_type,
        "distribution_type": row.distribution_type,
        "full_name": f"{package.owner.login}/{package.name}/{release.version}/{row.basename}",
        "owner": package.owner.login,
        "package": package.name,
        "description": row.description,
        "upload_time": iso(row.upload_time),
        "md5": row.md5,
        "sha256": row.sha256,
        "size": row.size,
        "ndownloads": row.download_count,
        "labels": sorted(label.name for label in row.labels),
        "attrs": row.attrs,
    }


def release_public(release: Release) -> dict[str, Any]:
    package = release.package
    return {
        "version": release.version,
        "full_name": f"{package.owner.login}/{package.name}/{release.version}",
        "package": package.name,
        "owner": owner_public(package.owner),
        "summary": release.summary,
        "description": release.description,
        "public_attrs": {
            **release.attrs,
            "summary": release.summary,
            "description": release.description,
        },
        "distributions": [file_public(row) for row in release.files],
        "created_at": iso(release.created_at),
    }


def package_public(package: Package, *, with_files: bool = True) -> dict[str, Any]:
    """A package object: every field of reference §5 for GET /package and the lists."""
    files = [row for release in package.releases for row in release.files]
    versions = [release.version for release in package.releases]
    subdirs = {row.subdir for row in files if row.subdir}
    builds = {str(row.attrs.get("build")) for row in files if row.attrs.get("build") is not None}
    public = {
        "name": package.name,
        "full_name": f"{package.owner.login}/{package.name}",
        "owner": owner_public(package.owner),
        "public": is_public(package),
        "summary": package.summary,
        "description": package.description,
        "license": package.license,
        "license_url": package.attrs.get("license_url"),
        "license_family": package.attrs.get("license_family"),
        "home": package.home,
        "dev_url": package.attrs.get("dev_url"),
        "doc_url": package.attrs.get("doc_url"),
        "source_git_url": package.attrs.get("source_git_url"),
        "package_types": list(package.package_types or []),
        "versions": versions,
        "latest_version": latest_version(versions),
        "releases": [
            {"version": r.version, "distributions": [f.basename for f in r.files]}
            for r in package.releases
        ],
        "conda_platforms": sorted(subdirs),
        "builds": sorted(builds),
        "created_at": iso(package.created_at),
        "modified_at": iso(package.modified_at),
    }
    if with_files:
        public["files"] = [file_public(row) for row in files]
    return public


# --- labels and groups -------------------------------------------------------------------


def label_public(label: Label, files: list[File]) -> dict[str, Any]:
    return {"name": label.name, "is_locked": label.is_locked, "num_files": len(files)}


def label_detail(label: Label, files: list[File]) -> dict[str, Any]:
    return {**label_public(label, files), "files": [file_public(row) for row in files]}


def group_public(group: OrgGroup, org_login: str) -> dict[str, Any]:
    return {
        "name": group.name,
        "full_name": f"{org_login}/{group.name}",
        "owner": {"login": org_login},
        "permission": group.permission,
        "limited": group.limited,
        "members_count": len(group.members),
        "packages_count": len(group.packages),
    }
