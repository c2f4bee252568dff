"""Pip indexes served from the database: an owner's (or label's) wheels and sdists as the
simple repository API, PEP 503 HTML or PEP 691 JSON (version 1.1, PEP 700).

Pages are cached like conda repodata (see :mod:`ophis.server.services.channels.repodata`), under the
index ``@pypi`` whose revision every pip upload or removal bumps. File links are relative
(``../../files/<filename>``), so that a token in the index URL (``/pypi/t/<token>/...``)
stays in the download URLs pip derives from them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from sqlalchemy.orm import Session

from ophis.core.distribution_types import DistributionType
from ophis.server.db.models import File, Package, Release
from ophis.server.errors import NotFound
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog.files import PYPI_INDEX
from ophis.server.services.channels.repodata import (
    Artifact,
    ChannelCache,
    Download,
    IndexView,
    open_file,
    open_index,
    visible_files,
)

SCOPE = "pypi:download"
HTML, JSON = "html", "json"
MEDIA_TYPES = {HTML: "text/html; charset=utf-8", JSON: "application/vnd.pypi.simple.v1+json"}
API_VERSION = "1.1"
#: a normalised project name (PEP 503, PEP 508)
_PROJECT = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


@dataclass(frozen=True)
class Distribution:
    project: str
    version: str
    filename: str
    sha256: str
    size: int
    requires_python: str | None
    upload_time: datetime


def project_list(
    session: Session,
    cache: ChannelCache,
    principal: Principal,
    login: str,
    label: str,
    form: str,
) -> Artifact:
    """The index's root page: every project the caller may see."""
    view = _index_view(session, principal, login, label)

    def build() -> bytes:
        projects: dict[str, str] = {}
        for dist in _distributions(session, view):
            projects.setdefault(canonicalize_name(dist.project), dist.project)
        return _RENDER_LIST[form](projects)

    return cache.get(view.key, f"simple.{form}", build, MEDIA_TYPES[form])


def project_page(
    session: Session,
    cache: ChannelCache,
    principal: Principal,
    login: str,
    label: str,
    project: str,
    form: str,
) -> Artifact:
    """One project's files; 404 when the caller sees none."""
    view = _index_view(session, principal, login, label)
    name = canonicalize_name(project)
    missing = NotFound(
        f"There is no project {project!r} in this index.",
        "Check the name; a private package needs a token with access to it.",
    )
    if not _PROJECT.match(name):  # also keeps the cache's file names plain
        raise missing

    def build() -> bytes:
        dists = [d for d in _distributions(session, view) if canonicalize_name(d.project) == name]
        if not dists:
            raise missing
        return _RENDER_PAGE[form](name, dists)

    return cache.get(view.key, f"project/{name}.{form}", build, MEDIA_TYPES[form])


def open_python_file(
    session: Session, principal: Principal, login: str, label: str, filename: str, *, count: bool
) -> Download:
    return open_file(
        session, principal, login, label, filename, DistributionType.PYPI, SCOPE, count=count
    )


def _index_view(session: Session, principal: Principal, login: str, label: str) -> IndexView:
    return open_index(session, principal, login, label, PYPI_INDEX, DistributionType.PYPI, SCOPE)


def _distributions(session: Session, view: IndexView) -> list[Distribution]:
    query = visible_files(
        view.owner.id,
        view.label,
        view.hidden,
        DistributionType.PYPI,
        Package.name,
        Release.version,
        File.filename,
        File.sha256,
        File.size,
        File.attrs,
        File.upload_time,
    ).join(Package, Package.id == Release.package_id)
    return [
        Distribution(
            name, version, filename, sha256, size, (attrs or {}).get("requires_python"), at
        )
        for name, version, filename, sha256, size, attrs, at in session.execute(query)
    ]


# --- rendering -----------------------------------------------------------------------------


def _file_url(filename: str) -> str:
    return f"../../files/{quote(filename)}"


def _html(title: str, links: list[str]) -> bytes:
    body = "\n".join(f"    {link}<br/>" for link in links)
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n{body}\n  </body>\n</html>\n"
    ).encode()


def _list_html(projects: dict[str, str]) -> bytes:
    links = [
        f'<a href="{quote(name)}/">{html.escape(projects[name])}</a>' for name in sorted(projects)
    ]
    return _html("Simple index", links)


def _list_json(projects: dict[str, str]) -> bytes:
    return orjson.dumps(
        {
            "meta": {"api-version": API_VERSION},
            "projects": [{"name": projects[name]} for name in sorted(projects)],
        }
    )


def _page_html(name: str, dists: list[Distribution]) -> bytes:
    links = []
    for dist in sorted(dists, key=lambda d: d.filename):
        requires = dist.requires_python
        data = f' data-requires-python="{html.escape(requires)}"' if requires else ""
        href = f"{_file_url(dist.filename)}#sha256={dist.sha256}"
        links.append(f'<a href="{html.escape(href)}"{data}>{html.escape(dist.filename)}</a>')
    return _html(f"Links for {name}", links)


def _page_json(name: str, dists: list[Distribution]) -> bytes:
    files = []
    for dist in sorted(dists, key=lambda d: d.filename):
        entry: dict[str, Any] = {
            "filename": dist.filename,
            "url": _file_url(dist.filename),
            "hashes": {"sha256": dist.sha256},
            "size": dist.size,
            "upload-time": _iso(dist.upload_time),
        }
        if dist.requires_python:
            entry["requires-python"] = dist.requires_python
        files.append(entry)
    versions = sorted({d.version for d in dists}, key=_version_key)
    return orjson.dumps(
        {"meta": {"api-version": API_VERSION}, "name": name, "versions": versions, "files": files}
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:  # sorted before every valid version
        return (0, version)


_RENDER_LIST: dict[str, Callable[[dict[str, str]], bytes]] = {HTML: _list_html, JSON: _list_json}
_RENDER_PAGE: dict[str, Callable[[str, list[Distribution]], bytes]] = {
    HTML: _page_html,
    JSON: _page_json,
}
