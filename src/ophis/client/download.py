"""Downloading a package's files from a channel server (``ophis download``): each file is
written next to a ``.part`` file first and kept only when its sha256 is the server's. A
file already there with that sha256 is not fetched again."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ophis.client.api import ApiClient, NotFound, Spec
from ophis.core.errors import OphisError
from ophis.core.package_file import file_digests


class DownloadError(OphisError):
    exception_name = "DownloadError"


@dataclass(frozen=True)
class Downloaded:
    file: dict[str, Any]
    path: Path
    #: "downloaded" or "exists"
    status: str


def files_of(api: ApiClient, spec: Spec) -> list[dict[str, Any]]:
    """The files ``OWNER/PACKAGE[/VERSION[/FILE]]`` names."""
    package = api.package(spec.require("package"))
    files = [
        f
        for f in package.get("files") or []
        if spec.version in (None, f["version"]) and spec.basename in (None, f["basename"])
    ]
    if not files:
        raise NotFound(f"{spec} has no files.", "Check the version and file name (`ophis show`).")
    return files


def download(
    api: ApiClient,
    files: list[dict[str, Any]],
    folder: Path,
    progress: Callable[[str, int, int], None] = lambda *_: None,
) -> list[Downloaded]:
    """Each file into ``folder`` under its basename (a conda file keeps its subdir)."""
    done = []
    for count, file in enumerate(files, 1):
        done.append(_one(api, file, folder))
        progress(file["basename"], count, len(files))
    return done


def _one(api: ApiClient, file: dict[str, Any], folder: Path) -> Downloaded:
    name = Path(file["basename"])
    if name.is_absolute() or ".." in name.parts:  # a hostile server's path
        raise DownloadError(
            f"The server named a file {file['basename']!r}, outside the download folder.",
            "Do not trust this server's answers.",
        )
    target = folder / name
    if target.is_file() and file_digests(target)[2] == file["sha256"]:
        return Downloaded(file, target, "exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.part")
    digest = hashlib.sha256()
    with api.download(file) as response, partial.open("wb") as handle:
        for chunk in response.iter_bytes():
            digest.update(chunk)
            handle.write(chunk)
    if digest.hexdigest() != file["sha256"]:
        partial.unlink()
        raise DownloadError(
            f"{file['basename']} arrived with sha256 {digest.hexdigest()}, not the "
            f"server's {file['sha256']}.",
            "Download it again; if it persists, the server's copy is damaged.",
        )
    partial.replace(target)
    return Downloaded(file, target, "downloaded")
