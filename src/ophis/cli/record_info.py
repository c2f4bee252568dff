"""``search --info``: conda's detailed view of one package record, field by field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ophis.cli.sizes import human_bytes

#: a timestamp above this is in milliseconds (repodata's unit), below it in seconds
_MILLISECONDS = 253402300799


def _dashes(items: list[str]) -> str:
    return "".join(f"\n  - {item}" for item in items)


def record_info(entry: dict[str, Any]) -> str:
    """One record (a ``search --json`` entry) as conda's ``search --info`` prints it: a
    title, a rule, then ``label       : value`` lines; dependencies always, as ``[]`` when
    there are none, and a blank line after."""
    title = f"{entry['name']} {entry['version']} {entry['build']}"
    lines = [title, "-" * len(title)]

    def line(label: str, value: Any) -> None:
        if value is not None:
            lines.append(f"{label:<12}: {value}")

    line("file name", entry.get("fn"))
    for key in ("name", "version", "build"):
        line(key, entry.get(key))
    line("build number", entry.get("build_number"))
    if entry.get("size") is not None:
        line("size", human_bytes(entry["size"]))
    for key in ("license", "subdir", "url", "md5"):
        line(key, entry.get(key))
    timestamp = entry.get("timestamp")
    if timestamp:
        seconds = timestamp / 1000 if timestamp > _MILLISECONDS else timestamp
        when = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        line("timestamp", when)
    features = entry.get("track_features") or []
    if isinstance(features, str):
        features = features.replace(",", " ").split()
    if features:
        line("track_features", _dashes(features))
    if entry.get("constrains"):
        line("constraints", _dashes(entry["constrains"]))
    depends = entry.get("depends") or []
    line("dependencies", _dashes(depends) if depends else "[]")
    return "\n".join(lines) + "\n\n"
