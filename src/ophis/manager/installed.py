"""An environment's records read straight from ``conda-meta``'s JSON, for ``ophis list``.

:class:`ophis.manager.prefix.PrefixData` reads each record with py-rattler, which takes
longer to import than ``list`` takes to run. Here a record is taken as it is written, but
only when every field ``list`` prints is plainly one py-rattler reads the same way; when any
record of the environment is not (an odd version, a URL py-rattler would rewrite, a missing
field, a file name that is not the record's, two records for one name), :func:`read_records`
gives None and the caller reads the environment with ``PrefixData``, warnings and all.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ophis.manager.prefix import CONDA_META

_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_SEGMENTS = r"[0-9A-Za-z]+(?:[._][0-9A-Za-z]+)*"
#: versions every conda reader spells the same: [epoch!]segments[+local]
_VERSION = re.compile(rf"(?:[0-9]+!)?{_SEGMENTS}(?:\+{_SEGMENTS})?")
_BUILD = re.compile(r"[A-Za-z0-9_.+]+")
#: URLs py-rattler keeps as written (no default port, no dot segment, nothing to escape)
_URL = re.compile(
    r"(?:https?://[a-z0-9.\-]+(?::(?!80/|443/)[0-9]+)?|file://)(?:/[A-Za-z0-9_.~%+@=\-]+)+"
)
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|$)")
_HEX = {"md5": re.compile(r"[0-9a-f]{32}"), "sha256": re.compile(r"[0-9a-f]{64}")}
_STRINGS = ("name", "version", "build", "subdir", "fn", "url", "channel")
_OPTIONAL_STRINGS = ("license", "license_family", "arch", "platform", "features", "noarch")


class RecordName:
    """A package name as py-rattler's ``PackageName`` gives it."""

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source

    @property
    def normalized(self) -> str:
        return self.source.lower()


class InstalledRecord:
    """One ``conda-meta`` record with the attributes of ``rattler.PrefixRecord`` that
    ``list`` reads."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.name = RecordName(data["name"])
        self.version: str = data["version"]
        self.build: str = data["build"]
        self.build_number: int = data["build_number"]
        self.subdir: str = data["subdir"]
        self.url: str = data["url"]
        self.file_name: str = data["fn"]
        self.depends: list[str] = data["depends"]
        self.constrains: list[str] = data.get("constrains") or []
        self.files: list[str] = data["files"]
        self.license: str | None = data.get("license")
        self.license_family: str | None = data.get("license_family")
        self.md5 = bytes.fromhex(data["md5"]) if data.get("md5") else None
        self.sha256 = bytes.fromhex(data["sha256"]) if data.get("sha256") else None


def read_records(prefix: Path) -> list[InstalledRecord] | None:
    """The records of ``prefix`` by name, or None when PrefixData must read them."""
    meta = prefix / CONDA_META
    if not meta.is_dir():
        return []
    found: dict[str, InstalledRecord] = {}
    for path in sorted(meta.glob("*.json")):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, ValueError):
            return None
        if not _plain(data):
            return None
        record = InstalledRecord(data)
        stem = f"{record.name.source}-{record.version}-{record.build}"
        if path.name != f"{stem}.json" or record.name.normalized in found:
            return None
        found[record.name.normalized] = record
    return [found[name] for name in sorted(found)]


def _plain(data: Any) -> bool:
    """True when py-rattler would read ``data`` as a record and print it as written."""
    if not isinstance(data, dict):
        return False
    if not all(isinstance(data.get(key), str) and data[key] for key in _STRINGS):
        return False
    if not all(isinstance(data.get(key), str | None) for key in _OPTIONAL_STRINGS):
        return False
    for key, pattern in _HEX.items():
        value = data.get(key)
        if value is not None and not (isinstance(value, str) and pattern.fullmatch(value)):
            return False
    for key in ("timestamp", "size"):
        if data.get(key) is not None and not _count(data[key]):
            return False
    return (
        _count(data.get("build_number"))
        and _NAME.fullmatch(data["name"]) is not None
        and _VERSION.fullmatch(data["version"]) is not None
        and _BUILD.fullmatch(data["build"]) is not None
        and _URL.fullmatch(data["url"]) is not None
        and _DOT_SEGMENT.search(data["url"]) is None
        and data["url"].endswith(f"/{data['subdir']}/{data['fn']}")
        and _strings(data.get("depends"))
        and (data.get("constrains") is None or _strings(data["constrains"]))
        and _strings(data.get("files"))
        and _paths_data(data.get("paths_data"))
    )


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _paths_data(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("paths"), list):
        return False
    return all(
        isinstance(entry, dict)
        and isinstance(entry.get("_path"), str)
        and entry.get("path_type") in ("hardlink", "softlink", "directory")
        for entry in value["paths"]
    )
