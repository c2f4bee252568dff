"""How every command prints: JSON for scripts, Rich for people, errors with a remedy."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ophis.core.errors import OphisError

stdout = Console()
stderr = Console(stderr=True)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


def fail(error: OphisError, as_json: bool) -> NoReturn:
    if as_json:
        emit_json(error.to_json())
    else:
        stderr.print(f"[bold red]Error:[/] {error.message}", highlight=False, soft_wrap=True)
        if error.remedy:
            stderr.print(error.remedy, highlight=False, soft_wrap=True)
    raise typer.Exit(error.exit_code)


@contextmanager
def progress_bar(description: str, enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar on stderr, driven by ``(item, done, total)`` callbacks."""
    if not enabled:
        yield lambda item, done, total: None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[item]}"),
        console=stderr,
        transient=True,
    )
    with progress:
        task = progress.add_task(description, total=None, item="")

        def update(item: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, item=item)

        yield update
