"""The Rich progress bars behind :func:`ophis.cli.output.progress_bar` (imported only when
bars are drawn)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text


class _CountColumn(ProgressColumn):
    """Bytes (``1.2/3.4 MB``) on the download bar, ``done/total`` on the others."""

    _bytes = DownloadColumn()
    _items = MofNCompleteColumn()

    def render(self, task: Task) -> Text:
        return (self._bytes if task.fields.get("unit") == "bytes" else self._items).render(task)


class _SpeedColumn(ProgressColumn):
    """Transfer speed on the download bar only."""

    _speed = TransferSpeedColumn()

    def render(self, task: Task) -> Text:
        return self._speed.render(task) if task.fields.get("unit") == "bytes" else Text("")


def progress_bars(console: Console) -> Progress:
    """The bars: the stage and its count, or the bytes and the speed of a download."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        _CountColumn(),
        _SpeedColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[item]}"),
        console=console,
        transient=True,
    )
