"""The URLs and commands pages print: the server's real channel, index and file URLs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from ophis.core.distribution_types import DistributionType
from ophis.server.db.models import File, Package
from ophis.server.services.accounts.authz import is_public
from ophis.server.services.catalog.files import MAIN, channel_path

#: stands for a token in the commands of a private package (made on the tokens page)
TOKEN = "<TOKEN>"


@dataclass(frozen=True)
class InstallCommand:
    tool: str
    text: str


@dataclass(frozen=True)
class FileView:
    row: File
    #: None for a file in no label (no channel serves it) or of a private package (its
    #: URL answers only with a token, which a browser does not send)
    url: str | None


@dataclass(frozen=True)
class PlatformFiles:
    platform: str
    files: list[FileView]


def channel_url(root: str, owner: str, label: str = MAIN, *, private: bool = False) -> str:
    token = f"/t/{TOKEN}" if private else ""
    return f"{root}/conda{token}/{channel_path(quote(owner), quote(label))}"


def index_url(root: str, owner: str, label: str = MAIN, *, private: bool = False) -> str:
    token = f"/t/{TOKEN}" if private else ""
    return f"{root}/pypi{token}/{channel_path(quote(owner), quote(label))}/simple"


def install_commands(root: str, package: Package, label: str | None) -> list[InstallCommand]:
    """What to type to install ``package`` from ``label``, per tool that can."""
    if label is None:
        return []
    owner, name, private = package.owner.login, package.name, not is_public(package)
    types = package.package_types or []
    commands = []
    if DistributionType.CONDA in types:
        channel = channel_url(root, owner, label, private=private)
        commands += [
            InstallCommand("ophis", f"ophis install -c {channel} {name}"),
            InstallCommand("conda", f"conda install -c {channel} {name}"),
            InstallCommand("pixi", f"pixi workspace channel add {channel}\npixi add {name}"),
        ]
    if DistributionType.PYPI in types:
        index = index_url(root, owner, label, private=private)
        commands.append(InstallCommand("pip", f"pip install --index-url {index} {name}"))
    if DistributionType.PROJECT in types:
        template = f"ophis project init --template {owner}/{name} --server {root}"
        commands.append(InstallCommand("ophis project", template))
    return commands


def file_url(base: str, row: File, label: str | None = None) -> str | None:
    """The file in ``label`` when given, else in the plain channel when it is there, else
    in its first label."""
    labels = sorted(label.name for label in row.labels)
    if not labels:
        return None
    if label not in labels:
        label = MAIN if MAIN in labels else labels[0]
    owner = quote(row.release.package.owner.login)
    if row.distribution_type == DistributionType.CONDA:
        return f"{base}/conda/{channel_path(owner, quote(label))}/{quote(row.basename)}"
    if row.distribution_type == DistributionType.PYPI:
        return f"{base}/pypi/{channel_path(owner, quote(label))}/files/{quote(row.filename)}"
    if row.distribution_type == DistributionType.PROJECT:
        release = row.release
        name, version = quote(release.package.name), quote(release.version)
        return f"{base}/api/download/{owner}/{name}/{version}/{quote(row.basename)}"
    return None


#: words Anaconda.org gives a meaning in an owner's URLs: ``/<owner>/repo`` is the owner's
#: packages listing, never a package's page
RESERVED_PACKAGE_PATHS = frozenset({"repo"})


def package_path(owner: str, name: str) -> str:
    """The page of a package (its files page when a reserved word shadows its own)."""
    path = f"/{quote(owner)}/{quote(name)}"
    return f"{path}/files" if name.lower() in RESERVED_PACKAGE_PATHS else path


def download_url(base: str, row: File) -> str:
    """The file by its release, in whatever label (``/<owner>/<package>/<version>/download/
    <basename>``, Anaconda.org's file URL)."""
    release = row.release
    package = f"/{quote(release.package.owner.login)}/{quote(release.package.name)}"
    return f"{base}{package}/{quote(release.version)}/download/{quote(row.basename)}"


def platform_of(row: File) -> str:
    return row.subdir or row.distribution_type


def by_platform(base: str, rows: list[File], label: str | None = None) -> list[PlatformFiles]:
    """One page of files, grouped by platform (conda subdir, or ``pypi``), with their
    download URLs in ``label`` (see :func:`file_url`)."""
    groups: dict[str, list[FileView]] = {}
    for row in rows:
        url = file_url(base, row, label) if is_public(row.release.package) else None
        groups.setdefault(platform_of(row), []).append(FileView(row, url))
    return [PlatformFiles(platform, groups[platform]) for platform in sorted(groups)]
