"""How a package record is named and summarised, the way conda's ``--json`` output does it.

conda's ``dist_fields_dump``: ``base_url``, ``build_number``, ``build_string``, ``channel``
(the channel's *name*: ``channel-1`` for ``file:///x/channel-1``), ``dist_name``, ``name``,
``platform`` (the subdir) and ``version``. Scripts read these keys, so they are kept exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeAlias

from ophis.core.channel import Channel
from ophis.core.lazy import LazyModule
from ophis.core.paths import check_record_fields

if TYPE_CHECKING:
    import rattler
else:  # py-rattler is imported when first used
    rattler = LazyModule("rattler")

#: a record from a channel or from an environment (a name for annotations only)
AnyRecord: TypeAlias = "rattler.RepoDataRecord | rattler.PrefixRecord"


def dist_name(record: rattler.PackageRecord) -> str:
    """``<name>-<version>-<build>``, the stem conda gives record files and cache folders."""
    return f"{record.name.source}-{record.version}-{record.build}"


def checked_records(records: Iterable[AnyRecord]) -> list[AnyRecord]:
    """``records``, each checked (UnsafeRecordError naming its channel and file) to have a
    name, version, build, subdir and file name that can safely become part of a path."""
    checked = []
    for record in records:
        fields = {
            "name": record.name.source,
            "version": str(record.version),
            "build": str(record.build),
            "subdir": str(record.subdir),
        }
        check_record_fields(_without_token(base_url(record)), record.file_name, fields)
        checked.append(record)
    return checked


def base_url(record: AnyRecord) -> str:
    """The channel URL a record came from: its URL minus ``/<subdir>/<file>``."""
    url = str(record.url)
    suffix = f"/{record.subdir}/{record.file_name}"
    return url[: -len(suffix)] if url.endswith(suffix) else url.rsplit("/", 2)[0]


def channel_for(record: AnyRecord, channels: Iterable[Channel]) -> Channel | None:
    url = _without_token(base_url(record))
    return next((c for c in channels if c.base_url.rstrip("/") == url.rstrip("/")), None)


def channel_name(record: AnyRecord, channels: Iterable[Channel]) -> str:
    """conda's ``channel`` field: the channel's name, else the last part of its URL."""
    channel = channel_for(record, channels)
    if channel is not None:
        return channel.name
    return _without_token(base_url(record)).rstrip("/").rsplit("/", 1)[-1]


def dist_fields(record: AnyRecord, channels: Iterable[Channel]) -> dict[str, Any]:
    return {
        "base_url": _without_token(base_url(record)),
        "build_number": int(record.build_number),
        "build_string": str(record.build),
        "channel": channel_name(record, channels),
        "dist_name": dist_name(record),
        "name": record.name.normalized,
        "platform": str(record.subdir),
        "version": str(record.version),
    }


def _without_token(url: str) -> str:
    parts = url.split("/")
    for i, part in enumerate(parts[:-1]):
        if part == "t" and i > 2:
            return "/".join(parts[:i] + parts[i + 2 :])
    return url


#: conda's ``PackageRecord`` fields in the order its ``dump()`` writes them
_DUMP_ORDER = (
    "name",
    "version",
    "build",
    "build_number",
    "channel",
    "subdir",
    "fn",
    "md5",
    "legacy_bz2_md5",
    "legacy_bz2_size",
    "url",
    "sha256",
    "arch",
    "platform",
    "depends",
    "constrains",
    "flags",
    "track_features",
    "features",
    "noarch",
    "preferred_env",
    "python_site_packages_path",
    "license",
    "license_family",
    "package_type",
    "timestamp",
    "date",
    "size",
)
_ALWAYS = {"depends": [], "constrains": []}


def record_dump(record: rattler.RepoDataRecord) -> dict[str, Any]:
    """The whole record as conda's ``actions.FETCH`` lists it (``PackageRecord.dump()``):
    its fields in conda's order, those with no value left out, ``channel`` as the subdir's
    URL, ``track_features`` as one string, ``package_type`` derived from ``noarch``."""
    fields = {**_ALWAYS, **json.loads(record.to_json())}
    subdir_url = f"{_without_token(base_url(record))}/{record.subdir}"
    fields.update(channel=subdir_url, url=_without_token(str(record.url)))
    if isinstance(fields.get("track_features"), list):
        fields["track_features"] = " ".join(fields["track_features"])
    if fields.get("noarch") and "package_type" not in fields:
        fields["package_type"] = f"noarch_{fields['noarch']}"
    return {key: fields[key] for key in _DUMP_ORDER if fields.get(key) not in (None, "", ())}
