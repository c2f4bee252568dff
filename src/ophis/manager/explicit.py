"""``@EXPLICIT`` files (``conda list --explicit``, conda-lock's rendered locks): package URLs,
each optionally followed by ``#<md5>`` or ``#sha256:<hex>``, installed without solving.

Parsed here rather than with py-rattler's ``ExplicitEnvironmentSpec`` so that an error can
name the line it is on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ophis.core.errors import CondaValueError

MARKER = "@EXPLICIT"
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
_SHA256 = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


@dataclass(frozen=True)
class ExplicitPackage:
    url: str
    md5: str | None = None
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return unquote(urlsplit(self.url).path.rsplit("/", 1)[-1])

    @property
    def channel_url(self) -> str:
        """The channel part of the URL (before ``/<subdir>/<file>``)."""
        return self.url.rsplit("/", 2)[0]

    @property
    def subdir(self) -> str:
        return self.url.rsplit("/", 2)[1]


@dataclass(frozen=True)
class ExplicitFile:
    packages: tuple[ExplicitPackage, ...]
    #: ``# platform: linux-64`` when the file says so
    platform: str | None = None


def is_explicit(text: str) -> bool:
    return any(line.strip() == MARKER for line in text.splitlines())


def read_explicit_file(path: Path) -> ExplicitFile:
    return parse_explicit(Path(path).read_text(encoding="utf-8"), str(path))


def parse_explicit(text: str, source: str = "explicit file") -> ExplicitFile:
    platform = None
    packages: list[ExplicitPackage] = []
    seen_marker = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("# platform:"):
            platform = line.split(":", 1)[1].strip()
        if not line or line.startswith("#"):
            continue
        if line == MARKER:
            seen_marker = True
            continue
        if not seen_marker:
            raise _error(source, number, f"'{line}' comes before the {MARKER} line")
        packages.append(_package(line, source, number))
    if not seen_marker:
        raise _error(source, 1, f"has no {MARKER} line", "This is not an explicit file.")
    return ExplicitFile(tuple(packages), platform)


def _package(line: str, source: str, number: int) -> ExplicitPackage:
    # here: the archive module (tarfile, zstd) is not needed to read the specs of a request
    from ophis.core.package_file import split_package_filename

    url, _, fragment = line.partition("#")
    url = url.strip()
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https", "file", "s3") or url.count("/") < 3:
        raise _error(source, number, f"'{line}' is not a package URL")
    try:
        split_package_filename(unquote(url.rsplit("/", 1)[-1]))
    except Exception:
        raise _error(source, number, f"'{url}' does not end in a .conda or .tar.bz2 file") from None
    fragment = fragment.strip()
    if not fragment:
        return ExplicitPackage(url)
    if _MD5.match(fragment):
        return ExplicitPackage(url, md5=fragment.lower())
    sha = _SHA256.match(fragment)
    if sha:
        return ExplicitPackage(url, sha256=sha.group(1).lower())
    raise _error(source, number, f"'#{fragment}' is neither an md5 nor a sha256:<hex> checksum")


def _error(source: str, number: int, what: str, remedy: str = "") -> CondaValueError:
    return CondaValueError(
        f"{source}, line {number}: {what}",
        remedy or "Fix that line, or write the file again with `ophis list --explicit --md5`.",
    )


def dumps_explicit(packages: list[ExplicitPackage], platform: str, *, checksums: bool) -> str:
    lines = [
        "# This file may be used to create an environment using:",
        "# $ ophis create --name <env> --file <this file>",
        f"# platform: {platform}",
        MARKER,
    ]
    for package in packages:
        suffix = f"#{package.md5}" if checksums and package.md5 else ""
        lines.append(package.url + suffix)
    return "\n".join(lines) + "\n"
