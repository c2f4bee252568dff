"""An installed environment (conda's ``PrefixData``): the records in ``<prefix>/conda-meta``.

conda's rules (``conda/core/prefix_data.py``), and where this differs on purpose:

* records are the ``conda-meta/*.json`` files; hidden files (``._valid-1.0-0.json``, the
  AppleDouble files macOS leaves behind) are not records, because conda globs ``*.json``;
* a record file that is not UTF-8 JSON (or not a record at all) is skipped with a warning
  naming the file. conda raises ``CorruptedEnvironmentError`` instead, which leaves the user
  unable even to list the environment to repair it; :func:`read_prefix_record` still raises
  that error for callers that read one file;
* a record whose file name is not ``<name>-<version>-<build>.json`` is ignored with a
  warning (conda logs "Ignoring malformed prefix record");
* of two records for one package name, the later file (in sorted order) is used, with a
  warning naming both.

Records are read with ``rattler.PrefixRecord.from_path``. rattler refuses records that lack
``url`` (conda itself never needed it: old conda and hand-made records have only
``channel`` and ``fn``); those are completed here with the URL conda would derive
(``<channel>/<subdir>/<fn>``) and read again, so that every record is a real
``rattler.PrefixRecord`` that ``rattler.install`` accepts.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ophis.core.errors import OphisError
from ophis.core.lazy import LazyModule
from ophis.manager.records import dist_name

if TYPE_CHECKING:
    import rattler
else:  # py-rattler is imported when first used
    rattler = LazyModule("rattler")

CONDA_META = "conda-meta"


class CorruptedEnvironmentError(OphisError):
    """A ``conda-meta`` record cannot be read (conda's ``CorruptedEnvironmentError``)."""

    exception_name = "CorruptedEnvironmentError"

    def __init__(self, prefix: Path, record_file: Path, detail: str = "") -> None:
        super().__init__(
            "The target environment has been corrupted. Corrupted environments most commonly "
            "occur when the conda process is force-terminated while in an unlink-link "
            f"transaction.\n  environment location: {prefix}\n  corrupted file: {record_file}"
            + (f"\n  problem: {detail}" if detail else ""),
            "Remove the corrupted file and reinstall the package it described, or recreate "
            "the environment.",
        )
        self.prefix = prefix
        self.record_file = record_file
        self.detail = detail


class PrefixData:
    """The packages installed in ``prefix``, read from ``conda-meta`` on first use."""

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        self.prefix = Path(prefix)
        self._records: dict[str, rattler.PrefixRecord] | None = None
        #: messages about records that were skipped (conda logs these as warnings)
        self.warnings: list[str] = []
        #: record files that are not readable records (skipped, named in the warnings)
        self.unreadable: list[Path] = []

    @property
    def conda_meta(self) -> Path:
        return self.prefix / CONDA_META

    def exists(self) -> bool:
        return self.prefix.is_dir()

    def is_environment(self) -> bool:
        """True when ``conda-meta`` exists (conda's ``is_conda_environment``)."""
        return self.conda_meta.is_dir()

    def reload(self) -> PrefixData:
        self._records = None
        self.warnings = []
        self.unreadable = []
        return self

    def records(self) -> dict[str, rattler.PrefixRecord]:
        """Installed records by package name (sorted by name)."""
        if self._records is None:
            self._records = dict(sorted(self._load().items()))
        return dict(self._records)

    def get(
        self, name: str, default: rattler.PrefixRecord | None = None
    ) -> rattler.PrefixRecord | None:
        return self.records().get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self.records()

    def __iter__(self) -> Iterator[rattler.PrefixRecord]:
        return iter(self.records().values())

    def record_file(self, record: rattler.PackageRecord) -> Path:
        """Where conda keeps ``record``: ``conda-meta/<name>-<version>-<build>.json``."""
        return self.conda_meta / f"{dist_name(record)}.json"

    def _load(self) -> dict[str, rattler.PrefixRecord]:
        found: dict[str, rattler.PrefixRecord] = {}
        if not self.conda_meta.is_dir():
            return found
        for path in sorted(self.conda_meta.glob("*.json")):
            if path.name.startswith(".") or not path.is_file():
                continue  # conda's glob skips hidden files; our own journal lives here too
            try:
                record = read_prefix_record(path, self.prefix)
            except CorruptedEnvironmentError as error:
                self.warnings.append(f"Ignoring corrupt prefix record at: {path} ({error.detail})")
                self.unreadable.append(path)
                continue
            stem = path.name[: -len(".json")]
            if stem != dist_name(record):
                self.warnings.append(f"Ignoring malformed prefix record at: {path}")
                continue
            if (other := found.get(record.name.normalized)) is not None:
                # conda keeps whichever its glob lists last; here the last in sorted order
                self.warnings.append(
                    f"Two records for the package '{record.name.normalized}': using {path}, "
                    f"ignoring {self.record_file(other)}"
                )
            found[record.name.normalized] = record
        return found


def read_prefix_record(path: Path, prefix: Path | None = None) -> rattler.PrefixRecord:
    """Read one ``conda-meta`` record; CorruptedEnvironmentError names the file if it is bad."""
    where = prefix if prefix is not None else path.parent.parent
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptedEnvironmentError(where, path, str(error)) from None
    except OSError as error:
        raise CorruptedEnvironmentError(where, path, error.strerror or str(error)) from None
    if not isinstance(data, dict):
        raise CorruptedEnvironmentError(where, path, "the record is not a JSON object")
    try:
        return rattler.PrefixRecord.from_path(path)
    except Exception as error:  # rattler raises its own exception types
        completed = _complete_record(data)
        if completed is None:
            raise CorruptedEnvironmentError(where, path, str(error)) from None
        try:
            return prefix_record_from_json(completed)
        except Exception as second:
            raise CorruptedEnvironmentError(where, path, str(second)) from None


def prefix_record_from_json(data: dict[str, Any]) -> rattler.PrefixRecord:
    """A ``rattler.PrefixRecord`` from its JSON form (py-rattler reads records only from files)."""
    fd, temp = tempfile.mkstemp(suffix=".json", prefix="ophis-record-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
        return rattler.PrefixRecord.from_path(temp)
    finally:
        os.unlink(temp)


def _complete_record(data: dict[str, Any]) -> dict[str, Any] | None:
    """Add the fields old conda records lack and rattler requires; None if nothing to add."""
    fixed = dict(data)
    name, version, build = (data.get(k) for k in ("name", "version", "build"))
    if not all(isinstance(v, str) and v for v in (name, version, build)):
        return None
    fn = fixed.setdefault("fn", f"{name}-{version}-{build}.tar.bz2")
    fixed.setdefault("build_number", 0)
    fixed.setdefault("depends", [])
    subdir = fixed.setdefault("subdir", "noarch")
    channel = str(fixed.get("channel") or "")
    if "url" not in fixed:
        fixed["url"] = _url_for(channel, subdir, fn)
    if not channel:
        fixed["channel"] = fixed["url"].rsplit("/", 2)[0]
    fixed.setdefault("files", [])
    fixed.setdefault("paths_data", {"paths_version": 1, "paths": []})
    return fixed if fixed != data else None


def _url_for(channel: str, subdir: str, fn: str) -> str:
    from ophis.core.channel import ChannelContext, parse_channel

    try:
        parsed = parse_channel(channel or "defaults", ChannelContext())
        base = parsed.channels[0].base_url
    except OphisError:
        base = channel.rstrip("/")
    if base.endswith("/" + subdir):
        base = base[: -len(subdir) - 1]
    return f"{base}/{subdir}/{fn}"
