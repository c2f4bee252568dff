"""``ophis index CHANNEL_DIR``: write repodata for a directory of packages."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ophis.cli.output import emit_json, fail, progress_bar, stderr, stdout
from ophis.core.errors import OphisError
from ophis.indexer.channel_index import IndexOptions, IndexSummary, index_channel


def register(app: typer.Typer) -> None:
    app.command("index")(index)


def index(
    channel_dir: Path = typer.Argument(
        ..., help="The channel folder: it holds noarch/, linux-64/, ..."
    ),
    subdir: list[str] = typer.Option(
        [], "--subdir", "-s", help="Index only this subdir (repeatable)."
    ),
    channel_name: str = typer.Option(None, "--channel-name", help="Name shown in index.html."),
    patch_package: str = typer.Option(
        None, "--patch-package", help="A repodata-patches package: a file, or a name in noarch/."
    ),
    no_zst: bool = typer.Option(False, "--no-zst", help="Do not write .zst twins."),
    no_bz2: bool = typer.Option(False, "--no-bz2", help="Do not write .bz2 twins."),
    no_shards: bool = typer.Option(False, "--no-shards", help="Do not write sharded repodata."),
    no_current: bool = typer.Option(
        False, "--no-current-repodata", help="Do not write current_repodata.json."
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Re-read every package."),
    workers: int = typer.Option(None, "--workers", "-j", help="Processes reading packages."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Index a channel directory (the conda-index job): repodata, shards and channeldata."""
    options = IndexOptions(
        subdirs=tuple(subdir),
        channel_name=channel_name,
        patch_package=patch_package,
        write_zst=not no_zst,
        write_bz2=not no_bz2,
        write_shards=not no_shards,
        write_current_repodata=not no_current,
        force=force,
        workers=workers,
    )
    try:
        with progress_bar("Reading packages", enabled=not (json_output or quiet)) as progress:
            summary = index_channel(channel_dir, options, progress)
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json(summary.to_json())
    else:
        _render(summary, quiet)


def _render(summary: IndexSummary, quiet: bool) -> None:
    for rejected in summary.rejected:
        stderr.print(
            f"[yellow]Skipped[/] {rejected.subdir}/{rejected.filename}: {rejected.error}",
            highlight=False,
            soft_wrap=True,
        )
    if quiet:
        return
    table = Table("subdir", "packages", "read", "reused", "removed", "rejected", "written")
    for s in summary.subdirs:
        table.add_row(
            s.subdir,
            *(str(n) for n in (s.packages, s.read, s.reused, s.removed, s.rejected)),
            "yes" if s.written else "unchanged",
        )
    stdout.print(table)
    patches = f", hotfixes from {summary.patches}" if summary.patches else ""
    stdout.print(f"Indexed {summary.channel} in {summary.seconds:.2f} s{patches}.", highlight=False)
