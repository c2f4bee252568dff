"""What is checked between filling the package cache and touching the prefix.

**Safety checks** (conda's ``safety_checks`` and ``extra_safety_checks``): every regular
file an extracted package lists in ``info/paths.json`` must still be in the package cache
with the ``size_in_bytes`` recorded there; with ``extra_safety_checks`` its ``sha256`` is
compared too (only when the size matched, as conda does: hashing is the expensive part).
A missing file always fails the transaction; a wrong size or hash fails it with
``safety_checks: enabled``, is a warning with ``warn`` (conda's default), and nothing is
checked with ``disabled``. Packages without ``info/paths.json`` (very old ones) list no
sizes and are not checked, as in conda.

**Link scripts**: ``pre-link`` and ``post-link`` scripts of the packages to link (found in
their extracted folders) and ``pre-unlink`` scripts of the packages to remove (in the
prefix) run code from the package on this machine. They are listed in the plan, and with
``ophis_link_scripts: refuse`` (or ``--refuse-link-scripts``) a transaction that would run
one is refused before anything changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import rattler

from ophis.client.verified_download import file_digest
from ophis.core.errors import TransactionError
from ophis.manager.records import dist_name
from ophis.manager.transaction import _extracted_dir

#: where conda looks for a package's link script: ``bin/`` on Unix, ``Scripts/`` on Windows
_SCRIPT_PLACES = (("bin", "sh"), ("Scripts", "bat"))


class SafetyError(TransactionError):
    """An extracted file's size or sha256 differs from the package's ``info/paths.json``."""

    exception_name = "SafetyError"


class CondaVerificationError(TransactionError):
    """A file the package lists is missing from its extracted folder."""

    exception_name = "CondaVerificationError"


class LinkScriptsRefusedError(TransactionError):
    """The plan would run link scripts and ``ophis_link_scripts`` is ``refuse``."""

    exception_name = "LinkScriptsRefusedError"


# --- safety checks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One file of one extracted package that does not match its ``info/paths.json``."""

    package: str  #: name-version-build
    folder: Path  #: the extracted package
    path: str  #: the file, relative to the package
    what: str  #: "size", "sha256" or "missing"
    expected: str = ""
    actual: str = ""

    def describe(self) -> str:
        where = f"The file '{self.path}' of {self.package} (extracted in {self.folder})"
        if self.what == "missing":
            return f"{where} is missing."
        unit = " bytes" if self.what == "size" else ""
        return (
            f"{where} has the wrong {self.what}: the package records {self.expected}{unit}, "
            f"the file has {self.actual}{unit}."
        )


def check_extracted(
    records: Iterable[Any], cache_dir: Path, *, level: str, extra: bool
) -> list[str]:
    """Check the extracted files of ``records`` in ``cache_dir`` (see the module's text).

    Returns the warnings to show (``warn``); raises :class:`SafetyError` (``enabled``) or
    :class:`CondaVerificationError` (a missing file, unless ``disabled``).
    """
    if level == "disabled":
        return []
    findings = [f for record in records for f in _findings(record, cache_dir, extra)]
    missing = [f for f in findings if f.what == "missing"]
    if missing:
        raise CondaVerificationError(
            "Packages in the package cache are incomplete:\n" + _bulleted(missing),
            _REMEDY,
        )
    if findings and level == "enabled":
        raise SafetyError(
            "Packages in the package cache differ from what they record "
            "(safety_checks: enabled):\n" + _bulleted(findings),
            _REMEDY,
        )
    return [f"SafetyError: {f.describe()}" for f in findings]


_REMEDY = (
    "Nothing was changed. Delete the damaged package folders named above from the package "
    "cache and run the command again: intact copies are extracted from the verified archives."
)


def _bulleted(findings: Sequence[Finding]) -> str:
    return "\n".join(f"  {f.describe()}" for f in findings)


def _findings(record: Any, cache_dir: Path, extra: bool) -> list[Finding]:
    folder = _extracted_dir(record, cache_dir)
    entries = _paths_entries(folder)
    package = dist_name(record)
    found: list[Finding] = []
    for entry in entries:
        relative = str(entry.get("_path", ""))
        if entry.get("path_type", "hardlink") != "hardlink" or not _inside(relative):
            continue
        source = folder / relative
        expected_size = entry.get("size_in_bytes")
        if not os.path.lexists(source):
            found.append(Finding(package, folder, relative, "missing"))
            continue
        if not expected_size:
            continue
        size = os.path.getsize(source)
        if size != expected_size:
            found.append(Finding(package, folder, relative, "size", str(expected_size), str(size)))
            continue
        expected_sha = entry.get("sha256")
        if extra and expected_sha and (actual := file_digest(source, "sha256")) != expected_sha:
            found.append(Finding(package, folder, relative, "sha256", expected_sha, actual))
    return found


def _paths_entries(folder: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads((folder / "info" / "paths.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # no paths.json: nothing recorded to check against, as in conda
    entries = document.get("paths", []) if isinstance(document, dict) else []
    return [e for e in entries if isinstance(e, dict)]


def _inside(relative: str) -> bool:
    path = PurePosixPath(relative)
    return bool(relative) and not path.is_absolute() and ".." not in path.parts


# --- link scripts -------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkScript:
    name: str  #: the package's name
    package: str  #: name-version-build
    action: str  #: "pre-link", "post-link" or "pre-unlink"
    path: str  #: the script, relative to the package (or the prefix)

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "dist_name": self.package,
            "script": self.action,
            "path": self.path,
        }


@dataclass(frozen=True)
class LinkScripts:
    """The link scripts a plan would run, and the packages not yet in the cache (a dry
    run does not download them, so their scripts are unknown)."""

    scripts: tuple[LinkScript, ...] = ()
    unchecked: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for the plan: "name (post-link), other (pre-unlink)", and how many
        packages were not looked into."""
        by_package: dict[str, list[str]] = {}
        for script in self.scripts:
            by_package.setdefault(script.name, []).append(script.action)
        parts = [f"{n} ({', '.join(a)})" for n, a in by_package.items()]
        if self.unchecked:
            parts.append(f"unknown for {len(self.unchecked)} package(s) not downloaded yet")
        return ", ".join(parts) or "none"


def find_link_scripts(
    link: Iterable[rattler.RepoDataRecord],
    unlink: Iterable[rattler.PrefixRecord],
    *,
    cache_dir: Path,
    prefix: Path,
) -> LinkScripts:
    """The pre-/post-link scripts of ``link`` (from the package cache) and the pre-unlink
    scripts of ``unlink`` (from the prefix)."""
    found: list[LinkScript] = []
    unchecked: list[str] = []
    for record in link:
        folder = _extracted_dir(record, cache_dir)
        if not (folder / "info").is_dir():
            unchecked.append(dist_name(record))
            continue
        found += _scripts_in(folder, record, ("pre-link", "post-link"))
    for record in unlink:
        found += _scripts_in(prefix, record, ("pre-unlink",))
    return LinkScripts(tuple(found), tuple(unchecked))


def _scripts_in(root: Path, record: Any, actions: Sequence[str]) -> list[LinkScript]:
    name = record.name.source
    return [
        LinkScript(record.name.normalized, dist_name(record), action, relative)
        for action in actions
        for folder, suffix in _SCRIPT_PLACES
        if (root / (relative := f"{folder}/.{name}-{action}.{suffix}")).is_file()
    ]


def refuse_link_scripts(found: LinkScripts, policy: str) -> None:
    """Raise :class:`LinkScriptsRefusedError` when ``policy`` refuses and scripts would run."""
    if policy != "refuse" or not found.scripts:
        return
    lines = "\n".join(f"  {s.package}: {s.action} script {s.path}" for s in found.scripts)
    raise LinkScriptsRefusedError(
        "These packages carry link scripts, which would run their code on this machine, "
        f"and link scripts are refused (ophis_link_scripts: refuse):\n{lines}\n"
        "Nothing was changed.",
        "If you trust these packages, allow link scripts: drop --refuse-link-scripts and set "
        "'ophis config --set ophis_link_scripts run' (or CONDA_OPHIS_LINK_SCRIPTS=run for one "
        "command). Otherwise leave these packages out.",
    )
