"""How every command prints: JSON for scripts, Rich for people, errors with a remedy."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from ophis.core.errors import OphisError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


class LazyConsole:
    """A Rich ``Console`` made when first used: Rich takes a tenth of a second to import,
    and the commands that print JSON or shell code never need it."""

    def __init__(self, **options: Any) -> None:
        object.__setattr__(self, "_options", options)
        object.__setattr__(self, "_console", None)

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            object.__setattr__(self, "_console", Console(**self._options))
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.console, name, value)


stdout = LazyConsole()
stderr = LazyConsole(stderr=True)

#: ``-q/--quiet`` was given: no progress bars, whatever the command asked for
_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def write(text: str) -> None:
    """Plain text on stdout, never wrapped or styled (a script reads it)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def emit_json(document: Any, *, sort_keys: bool = True) -> None:
    """One JSON document on stdout. conda sorts the keys of its error documents and keeps
    its own order in the others (``sort_keys=False``)."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=sort_keys) + "\n")


def warn(messages: list[str]) -> None:
    """Warnings go to stderr, so that --json output on stdout stays parseable."""
    if not messages:
        return
    from rich.markup import escape

    for message in messages:
        stderr.print(f"[yellow]Warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(error: OphisError, as_json: bool) -> NoReturn:
    import typer  # here: the quick commands (ophis.cli.quick) import Typer only to fail

    if as_json:
        emit_json(error.to_json())
    else:
        stderr.print(f"[bold red]Error:[/] {error.message}", highlight=False, soft_wrap=True)
        if error.remedy:
            stderr.print(error.remedy, highlight=False, soft_wrap=True)
    raise typer.Exit(error.exit_code)


class ProgressDisplay:
    """Rich progress bars on stderr, driven by ``(stage, done, total)`` callbacks.

    The ``bytes_stage`` counts bytes and gets its own bar with sizes and speed; every other
    stage counts items on the main bar, named by the stage."""

    def __init__(
        self, description: str, progress: Progress | None, bytes_stage: str | None = None
    ) -> None:
        self._progress = progress
        self._main = progress.add_task(description, total=None, item="") if progress else None
        self._bytes_stage = bytes_stage
        self._bytes: TaskID | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._progress is None or self._main is None:
            return
        if stage != self._bytes_stage:
            self._progress.update(self._main, completed=done, total=total, item=stage)
            return
        if self._bytes is None:
            self._bytes = self._progress.add_task("Downloading", item="", unit="bytes")
        self._progress.update(self._bytes, completed=done, total=total)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Take the bars off the screen while the user reads and answers something."""
        if self._progress is None:
            yield
            return
        self._progress.stop()
        try:
            yield
        finally:
            self._progress.start()


@contextmanager
def progress_bar(
    description: str, enabled: bool, bytes_stage: str | None = None
) -> Iterator[ProgressDisplay]:
    """Progress bars on stderr (nothing when not ``enabled``), removed when done; the
    ``bytes_stage`` (a download) is drawn in bytes, with the transfer speed. Like conda's,
    the bars are drawn on a terminal only (a script reading stderr gets no blank lines)."""
    if not (enabled and stderr.is_terminal) or _quiet:
        yield ProgressDisplay(description, None)
        return
    from ophis.cli.progress import progress_bars

    console = stderr.console if isinstance(stderr, LazyConsole) else stderr  # tests set one
    with progress_bars(console) as progress:
        yield ProgressDisplay(description, progress, bytes_stage)


def confirm_proceed(question: str = "Proceed", *, default: bool = True) -> bool:
    """conda's ``confirm_yn``: "Proceed ([y]/n)? " on stdout; an empty answer is the
    default (conda writes the default choice in brackets)."""
    answers = {"": default, "y": True, "yes": True, "n": False, "no": False}
    choices = "([y]/n)" if default else "(y/[n])"
    while True:
        sys.stdout.write(f"{question} {choices}? ")
        sys.stdout.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer in answers:
            sys.stdout.write("\n")
            return answers[answer]
        stdout.print(f"Invalid choice: {answer}", highlight=False, markup=False)


def exit_declined() -> NoReturn:
    """What conda does when the user answers no: CondaSystemExit, exit code 0."""
    import typer

    stderr.print("\nCondaSystemExit: Exiting.\n", highlight=False)
    raise typer.Exit(0)
