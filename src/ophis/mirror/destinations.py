"""Where a mirror goes: a local channel folder, or a channel on an Ophis server.

Both are driven the same way by :mod:`ophis.mirror.sync`: read what the mirror publishes
now, download into a staging folder, then ``publish`` once every file of a subdir is
staged and verified.

Local folder — why the mirror writes upstream's repodata itself instead of running the
indexer over the files: upstream's ``repodata.json`` is the *patched* one (hotfixes change
``depends``, ``constrains``, ``license`` ... without touching the files, and may hide files
through ``removed``). An index rebuilt from the files would give the unpatched records,
so the mirror would differ from upstream exactly where upstream fixed something. The
mirror's ``repodata.json`` is therefore the filtered upstream records, written with the
same writers the indexer uses (``.zst``/``.bz2`` twins, CEP-16 shards,
``current_repodata.json``). Do not run ``ophis index`` over a mirror: it would replace
these records with the ones read from the files.

The switch is atomic per document: staged files are moved in first, then the shards, then
the compressed twins, then ``repodata.json`` (each replaced by a rename), and only then are
files that upstream removed deleted. A client reading at any moment sees the old or the new
repodata, and every file either names is there. The one exception is a file upstream
replaced under the same name (a rebuilt upload, rare): from its move to the switch, the
old record names the new file.

Server channel — files are uploaded through the ordinary upload API; the server lists a
file in its repodata only once it is stored and committed, so clients never see a record
without its file. The server builds its records from the files, so upstream's metadata-only
hotfixes cannot be carried there (reported as ``patched`` but not applied).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from ophis.client.api import ApiClient, NotFound, Spec
from ophis.client.repodata_cache import FetchOptions, fetch_all
from ophis.client.upload import FORCE, UploadOptions, describe, upload_files
from ophis.client.verified_download import file_digest
from ophis.core import repodata as rd
from ophis.core.channel import Channel, ChannelContext, parse_channel
from ophis.core.channeldata import ChanneldataEntry, build_channeldata, package_facts
from ophis.core.errors import OphisError
from ophis.core.package_file import PACKAGE_EXTENSIONS
from ophis.core.shards import (
    SHARDS_DIR,
    SHARDS_INDEX,
    build_shards,
    read_shards_index,
    shard_filename,
)
from ophis.indexer.output import write_atomic, write_with_twins
from ophis.mirror.plan import Record, SubdirPlan, records_of

#: the mirror's own folder inside a local destination: staging, upstream repodata cache
STATE_DIR = ".ophis-mirror"


class MirrorError(OphisError):
    exception_name = "MirrorError"


class Destination(Protocol):
    """What a mirror writes to."""

    #: where downloads are staged and upstream's repodata is cached between runs
    work_dir: Path

    def describe(self) -> str: ...

    def current(self, subdir: str) -> dict[str, Any] | None:
        """The repodata the mirror publishes now (None: nothing yet)."""

    def present(self, subdir: str) -> dict[str, int]:
        """The package files the mirror holds, with their sizes."""

    def holds(self, subdir: str, filename: str, expected: tuple[str, str] | None) -> bool:
        """Whether a file with this digest is already in place (no download needed)."""

    def publish(
        self,
        plan: SubdirPlan,
        records: Mapping[str, Record],
        staged: Mapping[str, Path],
        remove: Sequence[str],
    ) -> None:
        """Put ``staged`` files in place, then publish ``records``, then delete ``remove``."""

    def finish(self, subdirs: Sequence[str]) -> None:
        """After every subdir: channel-wide files."""


@dataclass
class LocalChannelDestination:
    root: Path
    write_shards: bool = True
    work_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.root.expanduser().absolute()
        self.work_dir = self.root / STATE_DIR

    def describe(self) -> str:
        return str(self.root)

    def current(self, subdir: str) -> dict[str, Any] | None:
        path = self.root / subdir / "repodata.json"
        try:
            return orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except orjson.JSONDecodeError as error:
            raise MirrorError(
                f"{path} is not valid JSON: {error}",
                "Delete it: the next run rewrites it from upstream.",
            ) from None

    def present(self, subdir: str) -> dict[str, int]:
        folder = self.root / subdir
        if not folder.is_dir():
            return {}
        with os.scandir(folder) as entries:
            return {
                e.name: e.stat().st_size
                for e in entries
                if e.name.endswith(PACKAGE_EXTENSIONS) and e.is_file()
            }

    def holds(self, subdir: str, filename: str, expected: tuple[str, str] | None) -> bool:
        path = self.root / subdir / filename
        if not path.is_file() or expected is None:
            return False
        return file_digest(path, expected[0]) == expected[1]

    def publish(
        self,
        plan: SubdirPlan,
        records: Mapping[str, Record],
        staged: Mapping[str, Path],
        remove: Sequence[str],
    ) -> None:
        folder = self.root / plan.subdir
        folder.mkdir(parents=True, exist_ok=True)
        for filename, path in staged.items():
            os.replace(path, folder / filename)  # same file system: a rename
        self._write_repodata(folder, plan.repodata(records))
        for filename in remove:  # after the switch: the old repodata named them until now
            (folder / filename).unlink(missing_ok=True)
        if self.write_shards:
            _prune_shards(folder)

    def _write_repodata(self, folder: Path, document: dict[str, Any]) -> None:
        if self.write_shards:
            _write_shards(folder, document)
        current = rd.dumps(rd.build_current_repodata(document))
        write_with_twins(folder / "current_repodata.json", current)
        write_with_twins(folder / "repodata.json", rd.dumps(document), zst=True, bz2_twin=True)

    def finish(self, subdirs: Sequence[str]) -> None:
        # conda refuses a channel without noarch/repodata.json, even if noarch is not mirrored
        noarch = self.root / "noarch"
        if not (noarch / "repodata.json").exists():
            noarch.mkdir(parents=True, exist_ok=True)
            self._write_repodata(noarch, rd.build_repodata("noarch", {}))
        self._write_channeldata()

    def _write_channeldata(self) -> None:
        """channeldata.json: the mirrored packages and subdirs (what ``ophis mirror`` reads
        to find an upstream's subdirs). Facts only package files hold (paths, scripts) are
        left out: the mirror reads repodata, never the packages."""
        entries = []
        subdirs = sorted(p.parent.name for p in self.root.glob("*/repodata.json"))
        for subdir in subdirs:
            for record in records_of(self.current(subdir)).values():
                facts = package_facts(record["name"], record, [], {})
                entries.append(ChanneldataEntry(subdir, record, facts))
        body = rd.dumps(build_channeldata(entries, subdirs))
        path = self.root / "channeldata.json"
        if not path.is_file() or path.read_bytes() != body:  # unchanged: keep its mtime
            write_atomic(path, body)


def _write_shards(folder: Path, document: dict[str, Any]) -> None:
    """CEP-16 shards: content-addressed shard files first, then the index naming them."""
    sharded = build_shards(document)
    shards_dir = folder / SHARDS_DIR
    shards_dir.mkdir(exist_ok=True)
    existing = {p.name for p in shards_dir.iterdir()}
    for digest, body in sharded.shards.items():
        if shard_filename(digest) not in existing:
            write_atomic(shards_dir / shard_filename(digest), body)
    write_atomic(folder / SHARDS_INDEX, sharded.index)


def _prune_shards(folder: Path) -> None:
    """Delete shards the new index no longer names (after the switch, like files)."""
    wanted = read_shards_index((folder / SHARDS_INDEX).read_bytes())["shards"].values()
    keep = {shard_filename(digest) for digest in wanted}
    for path in (folder / SHARDS_DIR).glob("*.msgpack.zst"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


@dataclass
class ServerChannelDestination:
    """``<root>/<owner>`` on an Ophis (or anaconda.org-API) server, written as ``token``."""

    root: str
    owner: str
    token: str | None
    work_dir: Path
    _api: ApiClient | None = field(default=None, init=False, repr=False)
    _published: dict[str, dict[str, Any] | None] = field(default_factory=dict, init=False)

    def describe(self) -> str:
        return f"{self.root}/{self.owner}"

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            self._api = ApiClient(f"{self.root}/api", self.token)
        return self._api

    def _channel(self) -> Channel:
        site = self.api.site()
        channel = parse_channel(f"{site['conda_url']}/{self.owner}", ChannelContext())
        assert isinstance(channel, Channel)
        return dataclasses.replace(channel, token=self.token)

    def current(self, subdir: str) -> dict[str, Any] | None:
        if subdir not in self._published:
            options = FetchOptions(cache_dir=self.work_dir / "destination", ttl_seconds=0)
            found = fetch_all([self._channel()], [subdir], options)[0].path
            self._published[subdir] = orjson.loads(found.read_bytes()) if found else None
        return self._published[subdir]

    def present(self, subdir: str) -> dict[str, int]:
        # the server lists a file only once it is stored: what it publishes, it holds
        records = records_of(self.current(subdir))
        return {fn: int(r.get("size") or 0) for fn, r in records.items()}

    def holds(self, subdir: str, filename: str, expected: tuple[str, str] | None) -> bool:
        return False

    def publish(
        self,
        plan: SubdirPlan,
        records: Mapping[str, Record],
        staged: Mapping[str, Path],
        remove: Sequence[str],
    ) -> None:
        if staged:
            dists = [describe(path) for path in staged.values()]
            # FORCE: a file upstream replaced (same name, other sha256) replaces ours
            report = upload_files(self.api, dists, self.owner, UploadOptions(on_existing=FORCE))
            if report.failed:
                path, error = report.failed[0]
                raise MirrorError(f"Uploading {path.name} failed: {error.message}", error.remedy)
            for path in staged.values():
                path.unlink(missing_ok=True)  # stored on the server now
        published = records_of(self.current(plan.subdir))
        for filename in remove:
            record = published.get(filename)
            if record is None:
                continue
            spec = Spec(self.owner, record["name"], record["version"], f"{plan.subdir}/{filename}")
            with contextlib.suppress(NotFound):  # removed already
                self.api.remove(spec)
        self._published.pop(plan.subdir, None)

    def finish(self, subdirs: Sequence[str]) -> None:
        if self._api is not None:
            self._api.__exit__(None, None, None)
            self._api = None
