"""channeldata.json: one summary per package name across a channel's subdirs.

conda-index's format (``channeldata_version`` 1). The facts per package file come from
its ``info/`` folder (see :func:`package_facts`); this module folds them together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rattler import Version

#: about.json keys copied into channeldata when the newest package sets them.
ABOUT_KEYS = (
    "description",
    "dev_url",
    "doc_source_url",
    "doc_url",
    "home",
    "identifiers",
    "keywords",
    "license",
    "recipe_origin",
    "source_git_url",
    "source_url",
    "summary",
    "tags",
)


def package_facts(
    name: str,
    about: Mapping[str, Any],
    paths: Iterable[Mapping[str, Any]],
    run_exports: Mapping[str, Any],
) -> dict[str, Any]:
    """What channeldata needs from one package file, as a JSON-able dict (kept in caches)."""
    # Empty values are left out, as current conda-index does.
    facts: dict[str, Any] = {key: about[key] for key in ABOUT_KEYS if about.get(key)}
    path_names = []
    binary_prefix = text_prefix = False
    for entry in paths:
        path_names.append(str(entry.get("_path", "")))
        if entry.get("prefix_placeholder"):
            if entry.get("file_mode") == "binary":
                binary_prefix = True
            else:
                text_prefix = True
    facts.update(
        {
            "activate.d": any(p.startswith("etc/conda/activate.d/") for p in path_names),
            "deactivate.d": any(p.startswith("etc/conda/deactivate.d/") for p in path_names),
            "binary_prefix": binary_prefix,
            "text_prefix": text_prefix,
            "post_link": _has_script(path_names, name, "post-link"),
            "pre_link": _has_script(path_names, name, "pre-link"),
            "pre_unlink": _has_script(path_names, name, "pre-unlink"),
            "run_exports": dict(run_exports),
        }
    )
    return facts


def _has_script(paths: list[str], name: str, action: str) -> bool:
    scripts = {f"bin/.{name}-{action}.sh", f"Scripts/.{name}-{action}.bat"}
    return any(p in scripts for p in paths)


@dataclass(frozen=True)
class ChanneldataEntry:
    """One package file as channeldata sees it."""

    subdir: str
    record: Mapping[str, Any]
    facts: Mapping[str, Any]


def build_channeldata(entries: Iterable[ChanneldataEntry], subdirs: Iterable[str]) -> dict:
    """channeldata.json from every package file of a channel."""
    by_name: dict[str, list[ChanneldataEntry]] = {}
    for entry in entries:
        by_name.setdefault(entry.record["name"], []).append(entry)
    packages = {name: _summarise(group) for name, group in sorted(by_name.items())}
    return {"channeldata_version": 1, "packages": packages, "subdirs": sorted(set(subdirs))}


def _summarise(group: list[ChanneldataEntry]) -> dict[str, Any]:
    def newest_first(entry: ChanneldataEntry) -> tuple[Version, int]:
        return Version(str(entry.record["version"])), int(entry.record.get("timestamp", 0))

    group = sorted(group, key=newest_first, reverse=True)
    newest = group[0]
    summary: dict[str, Any] = {
        key: value for key, value in newest.facts.items() if key != "run_exports"
    }
    run_exports: dict[str, Any] = {}
    for entry in reversed(group):  # newer versions overwrite older ones
        if entry.facts.get("run_exports"):
            run_exports[str(entry.record["version"])] = entry.facts["run_exports"]
    timestamps = [int(e.record.get("timestamp", 0)) for e in group]
    summary.update(
        {
            "run_exports": run_exports,
            "subdirs": sorted({e.subdir for e in group}),
            "version": str(newest.record["version"]),
        }
    )
    if any(timestamps):
        summary["timestamp"] = _seconds(max(timestamps))
    return summary


def _seconds(timestamp: int) -> int:
    """Records carry milliseconds (or, in old packages, seconds); channeldata seconds."""
    return timestamp // 1000 if timestamp > 253402300799 else timestamp
