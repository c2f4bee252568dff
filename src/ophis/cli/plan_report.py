"""conda's human report of a change, line for line: the stage lines ("Collecting package
metadata", "Solving environment", "Executing transaction"), the package plan with its
download table and its sections (NEW, REMOVED, UPDATED, SUPERSEDED, DOWNGRADED, REVISED),
the dry run's exit and the activation hint.

Scripts grep these lines, so their labels, columns and streams are conda's: everything on
stdout except ``DryRunExit`` (stderr, exit code 0); nothing of it in ``--json`` mode.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ophis.cli.output import write
from ophis.cli.sizes import human_bytes
from ophis.core.channel import Channel, ChannelContext, parse_channel
from ophis.core.errors import OphisError
from ophis.core.lazy import LazyModule
from ophis.manager.records import AnyRecord, base_url

if TYPE_CHECKING:  # the solver is imported only by the commands that solve
    import rattler

    from ophis.manager.solve import SolveResult
else:  # py-rattler is imported when first used ('info' prints with write() only)
    rattler = LazyModule("rattler")

#: the stages conda reports once the user has said yes, each with "done"
TRANSACTION_STAGES = ("Preparing transaction", "Verifying transaction", "Executing transaction")
#: the metadata conda's solver reads (shards and zst are fetched in its place, same data)
REPODATA_FN = "repodata.json"

#: conda's widths: download table columns, plan keys, the left side of "old --> new"
_NAME_COLUMN, _BUILD_COLUMN, _SIZE_COLUMN = 27, 17, 15
_KEY_WIDTH, _LEFT_WIDTH = 18, 38


# --- stage lines -------------------------------------------------------------------------


def _animated(quiet: bool) -> bool:
    """conda animates its spinners only on a terminal, and not when asked to be quiet."""
    on_terminal = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
    return on_terminal and not quiet and os.environ.get("TERM") not in ("dumb", "unknown")


@contextmanager
def stage(message: str, quiet: bool) -> Iterator[None]:
    """``<message>: done`` (``failed`` when the stage raises); off a terminal, or quiet,
    conda writes ``...working...`` before the outcome."""
    write(f"{message}: " + ("" if _animated(quiet) else "...working... "))
    try:
        yield
    except BaseException:
        write("failed\n")
        raise
    write("done\n")


def report_done_stages(quiet: bool) -> None:
    for message in TRANSACTION_STAGES:
        with stage(message, quiet):
            pass


@contextmanager
def downloading(quiet: bool) -> Iterator[None]:
    """conda's "Downloading and Extracting Packages:" around the download (its bars are
    drawn on stderr); not shown when quiet."""
    if quiet:
        yield
        return
    animated = _animated(quiet)
    write("\nDownloading and Extracting Packages:" + ("\n" if animated else " ...working..."))
    yield
    write("\n" if animated else " done\n")


class ConsoleStages:
    """The planning stages as conda's solver reports them (the ``PlanStages`` of
    :func:`ophis.manager.operations.plan_change`)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def collecting(self, channels: list[Channel], subdir: str) -> AbstractContextManager[None]:
        names = dict.fromkeys(c.canonical_name for c in channels)
        listed = "".join(f" - {name}\n" for name in names)
        message = f"Channels:\n{listed}Platform: {subdir}\nCollecting package metadata"
        return stage(f"{message} ({REPODATA_FN})", self.quiet)

    def solving(self) -> AbstractContextManager[None]:
        return stage("Solving environment", self.quiet)


def dry_run_exit() -> None:
    """conda's DryRunExit: on stderr, and the command still succeeds."""
    sys.stderr.write("\nDryRunExit: Dry run. Exiting.\n\n")


def activation_hint(name_or_prefix: str) -> str:
    """What conda prints after creating an environment, with ``ophis`` for ``conda``."""
    target = f'"{name_or_prefix}"' if " " in name_or_prefix else name_or_prefix
    return (
        f"#\n# To activate this environment, use\n#\n#     $ ophis activate {target}\n#\n"
        "# To deactivate an active environment, use\n#\n#     $ ophis deactivate\n\n"
    )


# --- the package plan --------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A record as the plan shows it: its fields and its channel's two names."""

    name: str
    version: str
    build: str
    build_number: int
    subdir: str
    channel: str  #: conda's ``channel.name``: ``pkgs/main``, ``conda-forge``, ``chan``
    canonical: str  #: ``defaults``, ``conda-forge``, ``file:///srv/chan``
    size: int

    @property
    def record_id(self) -> str:
        return f"{self.channel}/{self.subdir}::{self.name}-{self.version}-{self.build}"

    @property
    def identity(self) -> tuple[str, str, str, str, int, str]:
        return (self.canonical, self.subdir, self.name, self.version, self.build_number, self.build)


@dataclass
class ChangeReport:
    """conda's change report: every package the change touches, in one class each."""

    new: dict[str, Shown] = field(default_factory=dict)
    removed: dict[str, Shown] = field(default_factory=dict)
    updated: dict[str, tuple[Shown, Shown]] = field(default_factory=dict)
    superseded: dict[str, tuple[Shown, Shown]] = field(default_factory=dict)
    downgraded: dict[str, tuple[Shown, Shown]] = field(default_factory=dict)
    revised: dict[str, tuple[Shown, Shown]] = field(default_factory=dict)


def as_shown(record: AnyRecord, ctx: ChannelContext) -> Shown:
    url = base_url(record)
    try:
        channel = parse_channel(url, ctx)
        name, canonical = channel.name, channel.canonical_name
    except OphisError:  # no channel URL conda could read: show the URL's last part
        name = canonical = url.rstrip("/").rsplit("/", 1)[-1]
    return Shown(
        name=record.name.source,
        version=str(record.version),
        build=str(record.build),
        build_number=int(record.build_number),
        subdir=str(record.subdir),
        channel=name,
        canonical=canonical,
        size=int(getattr(record, "size", None) or 0),
    )


def change_report(link: Iterable[Shown], unlink: Iterable[Shown]) -> ChangeReport:
    """conda's classes: UPDATED is a higher version (or the same with a higher build
    number); DOWNGRADED a lower one from the same channel and subdir; REVISED the same
    version there with another build; SUPERSEDED anything else from another channel.
    An unchanged record (a noarch package relinked) is left out."""
    linked = {r.name: r for r in link}
    unlinked = {r.name: r for r in unlink}
    report = ChangeReport(
        new={n: r for n, r in linked.items() if n not in unlinked},
        removed={n: r for n, r in unlinked.items() if n not in linked},
    )
    for name in linked.keys() & unlinked.keys():
        old, new = unlinked[name], linked[name]
        old_version, new_version = rattler.Version(old.version), rattler.Version(new.version)
        same_place = (old.channel, old.subdir) == (new.channel, new.subdir)
        if new_version > old_version or (
            new_version == old_version and new.build_number > old.build_number
        ):
            report.updated[name] = (old, new)
        elif not same_place:
            report.superseded[name] = (old, new)
        elif old.identity == new.identity:
            continue
        elif new_version == old_version and new.build != old.build:
            report.revised[name] = (old, new)
        else:
            report.downgraded[name] = (old, new)
    return report


def _key(name: str) -> str:
    return name if len(name) <= _KEY_WIDTH else name[: _KEY_WIDTH - 1] + "~"


def _difference(old: Shown, new: Shown) -> tuple[str, str]:
    """The two sides of an "old --> new" row: only what changed (channel, subdir,
    version-build), as conda writes them."""
    moved = old.channel != new.channel or old.subdir != new.subdir
    rebuilt = old.version != new.version or old.build != new.build
    sides = []
    for record in (old, new):
        text = record.channel if moved else ""
        if old.subdir != new.subdir:
            text += f"/{record.subdir}"
        if moved and rebuilt:
            text += f"::{record.name}-"
        if rebuilt:
            text += f"{record.version}-{record.build}"
        sides.append(text)
    return sides[0], sides[1]


def _pair_rows(pairs: dict[str, tuple[Shown, Shown]]) -> list[str]:
    rows = []
    for name in sorted(pairs):
        left, right = _difference(*pairs[name])
        if len(left) > _LEFT_WIDTH:
            left = left[: _LEFT_WIDTH - 1] + "~"
        # conda ends the row with the record's (empty) metadata after a space
        rows.append(f"  {_key(name):<{_KEY_WIDTH}} {left:>{_LEFT_WIDTH}} --> {right} ")
    return rows


def _download_table(fetch: Sequence[Shown], show_channel_urls: bool | None) -> list[str]:
    def row(name: str, build: str) -> str:
        return f"    {name:<{_NAME_COLUMN}}|{build:>{_BUILD_COLUMN}}"

    lines = [
        "\nThe following packages will be downloaded:\n",
        row("package", "build"),
        row("-" * _NAME_COLUMN, "-" * _BUILD_COLUMN),
    ]
    for record in sorted(fetch, key=lambda r: r.name):
        line = row(f"{record.name}-{record.version}", record.build)
        line += f"{human_bytes(record.size):>{_SIZE_COLUMN}}"
        hidden = show_channel_urls is False or (
            show_channel_urls is None and record.canonical == "defaults"
        )
        if not hidden:
            line += f"  {record.canonical}"
        lines.append(line)
    total = human_bytes(sum(r.size for r in fetch))
    lines += ["    " + "-" * 60, " " * 43 + f"Total: {total:>14}"]
    return lines


@dataclass(frozen=True)
class PlanView:
    """What the package plan shows of one change."""

    prefix: Path
    solution: SolveResult
    fetch: Sequence[AnyRecord]
    ctx: ChannelContext
    show_channel_urls: bool | None = None
    notes: tuple[str, ...] = ()  #: Ophis's own lines at the end (the link scripts)


def package_plan(view: PlanView) -> str:
    """conda's "## Package Plan ##" text, ending with its two blank lines."""
    lines = ["", "## Package Plan ##\n", f"  environment location: {view.prefix}", ""]
    for title, specs in (
        ("removed specs", view.solution.remove_specs),
        ("added / updated specs", view.solution.update_specs),
    ):
        if specs:
            lines += [f"  {title}:" + "".join(f"\n    - {s}" for s in sorted(specs)), ""]
    if view.fetch:
        fetch = [as_shown(r, view.ctx) for r in view.fetch]
        lines += _download_table(fetch, view.show_channel_urls)
    report = change_report(
        (as_shown(r, view.ctx) for r in view.solution.link),
        (as_shown(r, view.ctx) for r in view.solution.unlink),
    )
    if report.new:
        lines.append("\nThe following NEW packages will be INSTALLED:\n")
        for name in sorted(report.new):
            lines.append(f"  {_key(name):<{_KEY_WIDTH}} {report.new[name].record_id} ")
    if report.removed:
        lines.append("\nThe following packages will be REMOVED:\n")
        for name in sorted(report.removed):
            record = report.removed[name]
            lines.append(f"  {record.name}-{record.version}-{record.build}")
    for title, pairs in (
        ("UPDATED", report.updated),
        ("SUPERSEDED by a higher-priority channel", report.superseded),
        ("DOWNGRADED", report.downgraded),
        ("REVISED", report.revised),
    ):
        if pairs:
            lines += [f"\nThe following packages will be {title}:\n", *_pair_rows(pairs)]
    lines += [*view.notes, "", ""]
    return "\n".join(lines) + "\n"
