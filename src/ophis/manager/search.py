"""``search``: the records that match a spec, across channels and subdirs, newest last."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import rattler

from ophis.core.channel import Channel
from ophis.core.errors import InvalidMatchSpecError, PackagesNotFoundError
from ophis.manager.records import base_url


@dataclass(frozen=True)
class Found:
    record: rattler.RepoDataRecord
    channel: Channel


def search(
    spec: str, channels: list[Channel], repodata: dict[tuple[str, str], Path]
) -> list[Found]:
    """Every record matching ``spec`` (name globs allowed), sorted by name then version."""
    try:
        match_spec = rattler.MatchSpec(spec, strict=False, exact_names_only=False)
    except Exception as error:  # rattler's parse errors carry the reason
        raise InvalidMatchSpecError(
            f"Invalid spec '{spec}': {error}",
            "Use e.g. 'numpy', 'numpy>=1.26' or '*numpy*'.",
            invalid_spec=spec,
            details=str(error),
        ) from None
    found: list[Found] = []
    for channel in channels:
        for (url, subdir), path in repodata.items():
            if url != channel.base_url:
                continue
            sparse = rattler.SparseRepoData(channel.to_rattler(), subdir, path)
            found.extend(
                Found(r, channel)
                for r in sparse.load_matching_records(
                    [match_spec], rattler.PackageFormatSelection.BOTH
                )
            )
    if not found:
        searched = [
            f"{c.redacted_url}/{subdir}"
            for c in channels
            for url, subdir in repodata
            if url == c.base_url
        ]
        raise PackagesNotFoundError([spec], searched)
    found.sort(key=lambda f: (f.record.name.normalized, f.record.version, f.record.build_number))
    return found


def search_json(found: list[Found]) -> dict[str, list[dict]]:
    """conda's ``search --json`` shape: ``{name: [record + channel, fn, url]}``."""
    out: dict[str, list[dict]] = {}
    for item in found:
        record = item.record
        entry = json.loads(record.to_json())
        entry.update(
            channel=f"{base_url(record)}/{record.subdir}",
            fn=record.file_name,
            url=str(record.url),
            name=record.name.normalized,
        )
        out.setdefault(record.name.normalized, []).append(entry)
    return out


def newest(
    channels: list[Channel],
    repodata: dict[tuple[str, str], Path],
    *,
    names: set[str] | None = None,
    contains: str = "",
    limit: int | None = None,
) -> dict[str, Found]:
    """The newest record of each package name the channels offer (a package table's
    "latest" column): of ``names`` only, else of every name containing ``contains``, the
    first ``limit`` names alphabetically. Only those names' records are read, so a big
    channel costs its name list, not all its records."""
    sources = [
        (channel, rattler.SparseRepoData(channel.to_rattler(), subdir, path))
        for channel in channels
        for (url, subdir), path in repodata.items()
        if url == channel.base_url
    ]
    offered = {n for _, sparse in sources for n in sparse.package_names()}
    chosen = sorted(offered & names if names is not None else (n for n in offered if contains in n))
    best: dict[str, Found] = {}
    for name in chosen[:limit]:
        for channel, sparse in sources:  # channels in priority order: the first wins a tie
            for record in sparse.load_records(name, rattler.PackageFormatSelection.BOTH):
                have = best.get(name)
                if have is None or _newer(record, have.record):
                    best[name] = Found(record, channel)
    return best


def _newer(record: rattler.RepoDataRecord, than: rattler.RepoDataRecord) -> bool:
    return (record.version, record.build_number) > (than.version, than.build_number)
