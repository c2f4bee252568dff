"""A process's memory as Linux reports it, for tests and benchmarks that bound it."""

from __future__ import annotations

from pathlib import Path

_KIB = 1024


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * _KIB
    raise LookupError(f"/proc/{pid}/status has no {field}")


def rss(pid: int) -> int:
    """Resident bytes now."""
    return _status(pid, "VmRSS")


def peak_rss(pid: int) -> int:
    """The most resident bytes since the process started, or since :func:`reset_peak`."""
    return _status(pid, "VmHWM")


def reset_peak(pid: int) -> None:
    """Start the peak over from the current resident size (Linux's ``clear_refs`` 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
