"""``ophis upload``, ``label``, ``copy``, ``move``, ``delete``, ``show``, ``download`` and
``search --on-server``: packages on a channel server, as the ``anaconda`` client handles
them, through the same API (so both stay interchangeable)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from ophis.cli.output import emit_json, fail, progress_bar, stderr
from ophis.cli.remote import JSON, OWNER, SERVER, connect, say, show_facts, show_table
from ophis.client.api import ApiClient, Spec
from ophis.client.download import download as download_files
from ophis.client.download import files_of
from ophis.client.upload import (
    FAIL,
    FORCE,
    SKIP,
    Distribution,
    UploadError,
    UploadOptions,
    UploadReport,
    describe,
    upload_files,
)
from ophis.core.errors import OphisError


def register(app: typer.Typer) -> None:
    app.command("upload")(upload)
    label = typer.Typer(help="Labels of a channel (main, dev, ...).", no_args_is_help=True)
    label.command("list")(label_list)
    label.command("show")(label_show)
    label.command("copy")(label_copy)
    label.command("lock")(label_lock)
    label.command("unlock")(label_unlock)
    label.command("remove")(label_remove)
    app.add_typer(label, name="label")
    app.command("copy")(copy)
    app.command("move")(move)
    app.command("delete")(delete)
    app.command("show")(show)
    app.command("download")(download)


# --- upload ----------------------------------------------------------------------------------


def upload(
    files: list[Path] = typer.Argument(
        ..., exists=True, dir_okay=False, help=".conda, .tar.bz2, wheel or sdist files."
    ),
    owner: str = typer.Option(
        None, "--user", "-u", help="The user or organization to upload to (default: you)."
    ),
    labels: list[str] = typer.Option([], "--label", "-l", help="Label them (default: main)."),
    force: bool = typer.Option(False, "--force", help="Replace files already there."),
    skip_existing: bool = typer.Option(
        False, "--skip-existing", help="Keep files already there, even with other contents."
    ),
    private: bool = typer.Option(False, "--private", help="Create new packages private."),
    parallel: int = typer.Option(4, "--parallel", "-j", min=1, help="Files sent at a time."),
    server: str = SERVER,
    as_json: bool = JSON,
) -> None:
    """Upload packages to a channel server (resumable).

    Each file is checked here first; nothing is sent if one fails. Files go a few at a
    time. Resumable: a file the server already has (same sha256) is not sent again, so
    running the same command after an interruption uploads only what is missing."""
    if force and skip_existing:
        fail(UploadError("--force and --skip-existing contradict.", "Choose one."), as_json)
    dists = _checked_files(files, as_json)
    on_existing = FORCE if force else SKIP if skip_existing else FAIL
    options = UploadOptions(tuple(labels), on_existing, public=not private)
    with connect(server, as_json) as api, progress_bar("Uploading", not as_json) as progress:
        report = upload_files(api, dists, owner, options, parallel=parallel, progress=progress)
    _report_upload(report, as_json)
    if report.failed:
        raise typer.Exit(1)


def _checked_files(files: list[Path], as_json: bool) -> list[Distribution]:
    dists, problems = [], []
    for path in dict.fromkeys(p.absolute() for p in files):
        try:
            dists.append(describe(path))
        except OphisError as error:
            problems.append(f"  {path.name}: {error.message}")
        except OSError as error:
            problems.append(f"  {path.name}: {error.strerror}")
    if problems:
        fail(
            UploadError(
                f"{len(problems)} file(s) failed the package checks:\n" + "\n".join(problems),
                "Fix or leave out these files; nothing was uploaded.",
            ),
            as_json,
        )
    return dists


def _report_upload(report: UploadReport, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "success": not report.failed,
                "owner": report.owner,
                "files": [
                    {
                        "path": str(item.distribution.path),
                        "name": item.distribution.name,
                        "version": item.distribution.version,
                        "basename": item.distribution.basename,
                        "type": item.distribution.distribution_type,
                        "sha256": item.distribution.sha256,
                        "status": item.status,
                        "labels": item.file.get("labels"),
                        "install": report.install_command(item),
                    }
                    for item in report.done
                ],
                "failed": [{"path": str(path), **e.to_json()} for path, e in report.failed],
            }
        )
        return
    for item in report.done:
        dist = item.distribution
        labels = ", ".join(item.file.get("labels") or [])
        say(
            f"{item.status:<9} {report.owner}/{dist.name}/{dist.version}/{dist.basename} [{labels}]"
        )
        say(f"{'':<9} {report.install_command(item)}")
    for path, error in report.failed:
        stderr.print(f"[bold red]failed[/]    {path.name}: {error.message}", highlight=False)
        if error.remedy:
            stderr.print(f"{'':<9} {error.remedy}", highlight=False)


# --- labels ----------------------------------------------------------------------------------


def label_list(owner: str = OWNER, server: str = SERVER, as_json: bool = JSON) -> None:
    """The labels of a channel, with how many files each has."""
    with connect(server, as_json) as api:
        labels = api.labels(api.login_name(owner))
    rows = [{"name": name, **value} for name, value in sorted(labels.items())]
    show_table(rows, ("name", "num_files", "is_locked"), as_json)


def label_show(label: str, owner: str = OWNER, server: str = SERVER, as_json: bool = JSON) -> None:
    """The files a label holds."""
    with connect(server, as_json) as api:
        shown = api.label(api.login_name(owner), label)
    if as_json:
        emit_json(shown)
        return
    say(f"{label}{' (locked)' if shown['is_locked'] else ''}: {len(shown['files'])} files")
    for file in shown["files"]:
        say(f"  {file['full_name']}")


def label_copy(
    from_label: str = typer.Argument(..., metavar="FROM"),
    to_label: str = typer.Argument(..., metavar="TO"),
    owner: str = OWNER,
    server: str = SERVER,
    as_json: bool = JSON,
) -> None:
    """Give every file of one label another label too."""
    with connect(server, as_json) as api:
        login = api.login_name(owner)
        api.copy_label(login, from_label, to_label)
    _done(f"Copied {login}'s label {from_label} to {to_label}.", as_json)


def label_lock(label: str, owner: str = OWNER, server: str = SERVER, as_json: bool = JSON) -> None:
    """Lock a label: only the owner's administrators may change it."""
    _lock(label, True, owner, server, as_json)


def label_unlock(
    label: str, owner: str = OWNER, server: str = SERVER, as_json: bool = JSON
) -> None:
    """Unlock a label."""
    _lock(label, False, owner, server, as_json)


def _lock(label: str, locked: bool, owner: str | None, server: str | None, as_json: bool) -> None:
    with connect(server, as_json) as api:
        login = api.login_name(owner)
        api.lock_label(login, label, locked)
    _done(f"{'Locked' if locked else 'Unlocked'} {login}'s label {label}.", as_json)


def label_remove(
    label: str, owner: str = OWNER, server: str = SERVER, as_json: bool = JSON
) -> None:
    """Remove a label (its files stay under their other labels; main stays, empty)."""
    with connect(server, as_json) as api:
        login = api.login_name(owner)
        api.remove_label(login, label, {"package": None, "version": None, "basename": None})
    _done(f"Removed {login}'s label {label}.", as_json)


def _done(message: str, as_json: bool) -> None:
    if as_json:
        emit_json({"success": True, "message": message})
    else:
        say(message)


# --- copy, move, delete ----------------------------------------------------------------------

SPEC = typer.Argument(..., metavar="OWNER/PACKAGE/VERSION[/FILE]")


def copy(
    spec: str = SPEC,
    to_owner: str = typer.Option(
        None, "--to-owner", help="The owner to copy to (default: the same)."
    ),
    from_label: str = typer.Option("main", "--from-label"),
    to_label: str = typer.Option("main", "--to-label"),
    replace: bool = typer.Option(False, "--replace", help="Replace what the target has."),
    update: bool = typer.Option(False, "--update", help="Keep what the target has."),
    server: str = SERVER,
    as_json: bool = JSON,
) -> None:
    """Copy a release (or one file) to another owner or label on a channel server."""
    with connect(server, as_json) as api:
        target = Spec.parse(spec).require("package", "version")
        body = {"to_owner": to_owner, "from_channel": from_label, "to_channel": to_label}
        method = "PUT" if replace else "PATCH" if update else "POST"
        copied = api.copy(target, body, method)
    if as_json:
        emit_json(copied)
        return
    say(f"Copied {len(copied)} file(s) to {to_owner or target.owner}, label {to_label}:")
    for file in copied:
        say(f"  {file['basename']}")


def move(
    spec: str = typer.Argument(..., metavar="OWNER/PACKAGE[/VERSION[/FILE]]"),
    from_label: str = typer.Option(..., "--from-label"),
    to_label: str = typer.Option(..., "--to-label"),
    server: str = SERVER,
    as_json: bool = JSON,
) -> None:
    """Move files from one label to another on a channel server."""
    with connect(server, as_json) as api:
        target = Spec.parse(spec).require("package")
        selection = {
            "package": target.package,
            "version": target.version,
            "basename": target.basename,
        }
        api.add_label(target.owner, to_label, selection)
        api.remove_label(target.owner, from_label, selection)
    _done(f"Moved {target} from {from_label} to {to_label}.", as_json)


def delete(
    spec: str = typer.Argument(..., metavar="OWNER/PACKAGE[/VERSION[/FILE]]"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    server: str = SERVER,
    as_json: bool = JSON,
) -> None:
    """Delete a package, a release or a file from a channel server.

    This is `anaconda remove`; `ophis remove` removes packages from an environment."""
    with connect(server, as_json) as api:
        target = Spec.parse(spec).require("package")
        if not yes:
            _confirm(f"Delete {target} and every file in it?")
        api.remove(target)
    _done(f"Deleted {target}.", as_json)


def _confirm(question: str) -> None:
    if not sys.stdin.isatty():
        raise OphisError(f"{question} Not confirmed.", "Add --yes to confirm.")
    if not typer.confirm(question, err=True):
        raise typer.Exit(1)


# --- show, download, search ---------------------------------------------------------------------


def show(
    spec: str = typer.Argument(..., metavar="OWNER[/PACKAGE[/VERSION[/FILE]]]"),
    server: str = SERVER,
    as_json: bool = JSON,
) -> None:
    """Show an owner's packages, a package, a release or a file on a channel server."""
    with connect(server, as_json) as api:
        target = Spec.parse(spec)
        if target.basename:
            show_facts(_file_facts(api.dist(target)), as_json)
        elif target.version:
            release = api.release(target)
            _show_files(release, release["distributions"], as_json)
        elif target.package:
            package = api.package(target)
            _show_files(package, package["files"], as_json)
        else:
            _show_owner(api, target.owner, as_json)


def _show_owner(api: ApiClient, owner: str, as_json: bool) -> None:
    account, packages = api.account(owner), api.packages(owner)
    if as_json:
        emit_json({**account, "packages": packages})
        return
    say(f"{account['login']} ({account.get('user_type')}): {len(packages)} packages")
    show_table(
        [{**p, "access": "public" if p["public"] else "private"} for p in packages],
        ("full_name", "latest_version", "access", "package_types", "summary"),
        as_json,
    )


def _show_files(head: dict[str, Any], files: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        emit_json(head)
        return
    access = "" if head.get("public", True) else " (private)"
    say(f"{head['full_name']}{access}: {head.get('summary') or ''}")
    show_table(files, ("version", "basename", "labels", "size", "upload_time"), as_json)


def _file_facts(file: dict[str, Any]) -> dict[str, Any]:
    keys = ("full_name", "type", "labels", "size", "md5", "sha256", "upload_time", "ndownloads")
    return {key: file.get(key) for key in keys}


def download(
    spec: str = typer.Argument(..., metavar="OWNER/PACKAGE[/VERSION[/FILE]]"),
    output: Path = typer.Option(Path(), "--output", "-o", help="The folder to write to."),
    server: str = SERVER,
    as_json: bool = JSON,
) -> None:
    """Download a package's files from a channel server.

    Conda files go under their subdir. Each is checked against the server's sha256; files
    already here with that sha256 are not fetched again."""
    with connect(server, as_json) as api:
        files = files_of(api, Spec.parse(spec))
        with progress_bar("Downloading", not as_json) as progress:
            done = download_files(api, files, output, progress)
    rows = [{"path": str(d.path), "status": d.status, "sha256": d.file["sha256"]} for d in done]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        say(f"{row['status']:<10} {row['path']}")


def search_on_server(query: str, platform: str | None, server: str | None, as_json: bool) -> None:
    """``ophis search --on-server``: the server's own package search (names containing
    ``query``), including the private packages you may see."""
    with connect(server, as_json) as api:
        found = api.search(query.strip("*"), platform, None)
    rows = [{**p, "access": "public" if p["public"] else "private"} for p in found]
    columns = ("full_name", "latest_version", "access", "conda_platforms", "summary")
    show_table(rows, columns, as_json)
