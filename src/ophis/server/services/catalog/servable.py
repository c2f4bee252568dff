"""The safety net of a channel's documents: a stored record that conda or rattler could not
read is left out of repodata.json (and so of current_repodata.json and the shards), of
channeldata.json and of SBOMs, and logged, instead of failing the whole document.

Uploads are checked (:mod:`ophis.core.index_json`), so only rows stored by an older version,
or written to the database by hand, can be left out here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from ophis.core import index_json
from ophis.core.channeldata import ChanneldataEntry
from ophis.core.repodata import PACKAGE_KEYS

log = logging.getLogger("ophis.server")


def servable(filename: str, record: Any, document: str) -> bool:
    """Whether the record of ``filename`` can go into ``document``; logs why not."""
    reason = index_json.problem(record)
    if reason is not None:
        log.warning("%s is left out of %s: its record: %s", filename, document, reason)
    return reason is None


def servable_repodata(repodata: Mapping[str, Any], document: str) -> dict[str, Any]:
    """``repodata`` without the records that are not servable."""
    kept = dict(repodata)
    for key in PACKAGE_KEYS:
        section = repodata.get(key) or {}
        kept[key] = {fn: r for fn, r in section.items() if servable(fn, r, document)}
    return kept


def servable_entries(entries: Iterable[ChanneldataEntry]) -> list[ChanneldataEntry]:
    """The channeldata entries whose record and about facts can be served."""
    kept = []
    for entry in entries:
        record = entry.record if isinstance(entry.record, dict) else {}
        name = f"{entry.subdir}/{record.get('name', '?')}"
        if not servable(name, entry.record, "channeldata.json"):
            continue
        reason = index_json.problem(entry.facts, index_json.check_facts)
        if reason is not None:
            log.warning("%s is left out of channeldata.json: its about facts: %s", name, reason)
            continue
        kept.append(entry)
    return kept


def unservable_reason(record: Any, facts: Any) -> str | None:
    """Why a stored file's record or about facts cannot be served (None when they can)."""
    return index_json.problem(record) or (
        index_json.problem(facts, index_json.check_facts) if facts else None
    )
