"""``ophis mirror SOURCE DEST``: sync an upstream channel into a channel folder or onto a
channel server (``--to <root>/<owner>``)."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table

from ophis.cli.output import emit_json, fail, progress_bar, stderr, stdout
from ophis.client.credentials import ClientConfig, api_url, token_for
from ophis.core.errors import OphisError
from ophis.mirror.destinations import (
    STATE_DIR,
    Destination,
    LocalChannelDestination,
    MirrorError,
    ServerChannelDestination,
)
from ophis.mirror.plan import Filters
from ophis.mirror.sync import DOWNLOAD_STAGE, MAX_PARALLEL, MirrorOptions, MirrorReport, mirror
from ophis.security.cve import load_feed


def register(app: typer.Typer) -> None:
    app.command("mirror")(mirror_command)


def mirror_command(
    source: str = typer.Argument(
        ..., help="The upstream channel: a URL (https://host/t/TOKEN/owner, file://...) or folder."
    ),
    dest: Path = typer.Argument(None, help="The local channel folder to mirror into."),
    to: str = typer.Option(
        None, "--to", help="Mirror onto a channel server instead: <server URL>/<owner>."
    ),
    token: str = typer.Option(
        None, "--token", envvar="OPHIS_TOKEN", help="Token for --to (default: your login)."
    ),
    subdir: list[str] = typer.Option(
        [], "--subdir", "-s", help="Mirror this subdir (repeatable; default: all upstream has)."
    ),
    include: list[str] = typer.Option(
        [], "--include", help="Only packages matching this spec, e.g. 'numpy >=1.26' (repeatable)."
    ),
    exclude: list[str] = typer.Option(
        [], "--exclude", help="Leave out packages matching this spec (repeatable)."
    ),
    license_: list[str] = typer.Option(
        [], "--license", help="Only packages whose license matches this glob (repeatable)."
    ),
    newest: int = typer.Option(None, "--newest", help="Only the N newest versions per package."),
    cve_feed: Path = typer.Option(
        None, "--cve-feed", help="Leave out packages a vulnerability of this OSV/CVE feed affects."
    ),
    max_score: float = typer.Option(
        None, "--max-score", help="With --cve-feed: only vulnerabilities scoring this or more."
    ),
    keep_removed: bool = typer.Option(
        False, "--keep-removed", help="Keep packages upstream removed."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only list what would be fetched and removed."
    ),
    parallel: int = typer.Option(
        MAX_PARALLEL, "--parallel", "-j", min=1, help="Downloads at once."
    ),
    work_dir: Path = typer.Option(
        None, "--work-dir", help="Staging and cache folder for --to (default: in your cache)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Mirror a conda channel: incremental, verified (sha256 and size), resumable.

    The mirror's repodata is switched only once every file it names is in place, so its
    clients never see a package whose file is missing."""
    try:
        destination = _destination(dest, to, token, work_dir)
        options = MirrorOptions(
            subdirs=tuple(subdir),
            filters=Filters.parse(
                tuple(include),
                tuple(exclude),
                tuple(license_),
                newest,
                vulnerabilities=tuple(load_feed(cve_feed)) if cve_feed else (),
                max_score=max_score,
            ),
            keep_removed=keep_removed,
            dry_run=dry_run,
            max_parallel=parallel,
        )
        enabled = not (json_output or quiet or dry_run)
        with progress_bar("Mirroring", enabled, bytes_stage=DOWNLOAD_STAGE) as progress:
            report = mirror(source, destination, options, progress)
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json(report.to_json())
    else:
        _render(report, quiet)
    if report.failures:
        raise typer.Exit(1)


def _destination(
    dest: Path | None, to: str | None, token: str | None, work_dir: Path | None
) -> Destination:
    if (dest is None) == (to is None):
        raise MirrorError(
            "Give one destination: a channel folder, or --to <server URL>/<owner>.",
            "For example: ophis mirror https://conda.anaconda.org/conda-forge ./mirror",
        )
    if dest is not None:
        return LocalChannelDestination(dest)
    assert to is not None
    root, _, owner = to.rstrip("/").rpartition("/")
    if not root or "://" not in root or not owner:
        raise MirrorError(
            f"--to {to} names no channel on a server.",
            "Write the server's URL and the owner: --to https://host/alice.",
        )
    if token is None:
        token = token_for(ClientConfig.load(os.environ).resolve(api_url(root)), os.environ)
    return ServerChannelDestination(root, owner, token, work_dir or _server_work_dir(to))


def _server_work_dir(to: str) -> Path:
    """A staging folder per server channel, in the user's cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    safe = "".join(c if c.isalnum() else "_" for c in to)
    return cache / "ophis" / "mirror" / safe / STATE_DIR


def _render(report: MirrorReport, quiet: bool) -> None:
    for failure in report.failures:
        stderr.print(
            f"[red]Not mirrored[/] {failure.subdir}/{failure.filename}: {failure.error}",
            highlight=False,
            soft_wrap=True,
        )
    for plan in report.plans:
        for filename, reason in plan.unreadable.items():
            stderr.print(
                f"[yellow]Skipped[/] {plan.subdir}/{filename}: its record is unreadable: {reason}",
                highlight=False,
                soft_wrap=True,
            )
    if report.dry_run:
        for plan in report.plans:
            for filename in plan.fetch:
                size = plan.publish[filename].get("size") or 0
                stdout.print(f"fetch  {plan.subdir}/{filename}  {size} bytes", highlight=False)
            for filename in plan.remove:
                stdout.print(f"remove {plan.subdir}/{filename}", highlight=False)
    if quiet:
        return
    fetched_column, removed_column = (
        ("to fetch", "to remove") if report.dry_run else ("fetched", "removed")
    )
    table = Table("subdir", "packages", fetched_column, removed_column, "patched")
    for plan in report.plans:
        fetched = sum(1 for s, _ in report.fetched if s == plan.subdir)
        shown = len(plan.fetch) if report.dry_run else fetched
        counts = (len(plan.publish), shown, len(plan.remove), len(plan.patched))
        table.add_row(plan.subdir, *map(str, counts))
    stdout.print(table)
    verb = "Would fetch" if report.dry_run else "Fetched"
    amount = sum(p.fetch_bytes for p in report.plans) if report.dry_run else report.bytes_received
    stdout.print(
        f"{verb} {amount} bytes; {report.source} -> {report.destination} "
        f"in {report.seconds:.2f} s.",
        highlight=False,
    )
