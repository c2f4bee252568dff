"""Project archives: a project folder as one ``<name>-<version>.project.tar.gz``, the file a
project template or a deployment travels as (``distribution_type: project`` on a server).

Reading checks what a hostile archive could do: member names that are absolute or climb
out (``..``), links, devices, a manifest that is not at the top, and sizes beyond limits;
unpacking goes through tarfile's ``data`` filter as well.
"""

from __future__ import annotations

import io
import tarfile
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ophis.core.archive_limits import ExtractionLimits, bounded_tarinfo
from ophis.core.errors import InvalidPackageError

SUFFIX = ".project.tar.gz"
MANIFESTS = ("ophis.toml", "pixi.toml")
#: never archived: environments, caches, version control
NOT_ARCHIVED = frozenset({".ophis", ".pixi", ".git", "__pycache__", ".ipynb_checkpoints"})
MAX_MEMBERS = 10_000
MAX_UNPACKED_BYTES = 1024**3


@dataclass(frozen=True)
class ProjectFacts:
    name: str
    version: str
    summary: str


def archive_name(name: str, version: str) -> str:
    return f"{name}-{version}{SUFFIX}"


def is_project_archive(filename: str) -> bool:
    return filename.endswith(SUFFIX)


def make_archive(root: Path) -> bytes:
    """``root``'s files as a .tar.gz, paths relative to ``root``."""

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if NOT_ARCHIVED & set(PurePosixPath(info.name).parts) else info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for entry in sorted(root.iterdir()):
            tar.add(entry, arcname=entry.name, filter=keep)
    return buffer.getvalue()


def read_facts(data: bytes, filename: str = "the archive") -> ProjectFacts:
    """The name, version and description its manifest declares; InvalidPackageError when
    the archive is unsafe or has no usable manifest."""
    workspace = _workspace(data, filename)
    name, version = workspace.get("name"), workspace.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        raise InvalidPackageError(
            filename, "its manifest's [workspace] needs a name and a version (version = '1.0')"
        )
    return ProjectFacts(name, version, str(workspace.get("description") or ""))


def unpack(data: bytes, target: Path, filename: str = "the archive") -> None:
    """Into ``target`` (created), after the same checks as :func:`read_facts`."""
    _workspace(data, filename)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(target, filter="data")


def _workspace(data: bytes, filename: str) -> dict:
    """The manifest's [workspace] table, after checking every member."""
    try:
        bounded = bounded_tarinfo(filename, ExtractionLimits(max_members=MAX_MEMBERS))
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz", tarinfo=bounded) as tar:
            members = tar.getmembers()
            _check_members(members, filename)
            manifest = next((m for m in members if m.name in MANIFESTS and m.isfile()), None)
            if manifest is None:
                raise InvalidPackageError(filename, "has no ophis.toml (or pixi.toml) at its top")
            text = tar.extractfile(manifest).read().decode()  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as error:
        raise InvalidPackageError(filename, f"is not a readable .tar.gz ({error})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidPackageError(filename, f"its manifest is not valid TOML ({error})") from None
    workspace = document.get("workspace") or document.get("project")
    if not isinstance(workspace, dict):
        raise InvalidPackageError(filename, "its manifest has no [workspace] table")
    return workspace


def _check_members(members: Iterable[tarfile.TarInfo], filename: str) -> None:
    total = 0
    for count, member in enumerate(members, 1):
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts:
            raise InvalidPackageError(filename, f"has a member outside the project: {member.name}")
        if not (member.isfile() or member.isdir()):
            raise InvalidPackageError(filename, f"has a link or special file: {member.name}")
        total += member.size
        if count > MAX_MEMBERS or total > MAX_UNPACKED_BYTES:
            raise InvalidPackageError(filename, "is too large to unpack")
