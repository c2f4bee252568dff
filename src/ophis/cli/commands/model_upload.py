"""``ophis model upload``: model files (GGUF, safetensors) as the variants of one release of
a model on a channel server."""

from __future__ import annotations

from pathlib import Path

import typer

from ophis.cli.output import emit_json, fail, progress_bar
from ophis.cli.remote import JSON, OWNER, SERVER, connect, say
from ophis.client.upload import UploadError, UploadOptions, UploadReport, upload_files
from ophis.core.errors import OphisError
from ophis.core.model_files import TASKS


def register(group: typer.Typer) -> None:
    group.command("upload")(upload)


def upload(
    files: list[Path] = typer.Argument(
        ..., exists=True, dir_okay=False, help="Model files: .gguf or .safetensors."
    ),
    name: str = typer.Option(..., "--name", "-n", help="The model's name on the server."),
    version: str = typer.Option("1.0", "--version", "-v", help="The release they belong to."),
    owner: str = OWNER,
    labels: list[str] = typer.Option([], "--label", "-l", help="Label them (default: main)."),
    private: bool = typer.Option(False, "--private", help="Create the model private."),
    summary: str = typer.Option("", "--summary", help="One line about the model."),
    license_: str = typer.Option(
        "", "--license", help="Its license, for files that name none themselves."
    ),
    task: str = typer.Option(
        "", "--task", help=f"{' or '.join(TASKS)}, when the weights do not say."
    ),
    server: str = SERVER,
    as_json: bool = JSON,
) -> None:
    """Upload model files as the variants of one release of a model (one file per
    quantization or format). Each header is checked here and again by the server;
    parameters, quantization and architecture are read from the files."""
    from ophis.client.model_upload import ModelCard, describe_model

    card = ModelCard(name, version, summary, task, license_)
    described, problems = [], []
    for path in dict.fromkeys(p.absolute() for p in files):
        try:
            described.append(describe_model(path, card))
        except OphisError as error:
            problems.append(f"  {path.name}: {error.message}")
    if problems:
        fail(
            UploadError(
                f"{len(problems)} file(s) failed the model checks:\n" + "\n".join(problems),
                "Fix or leave out these files; nothing was uploaded.",
            ),
            as_json,
        )
    options = UploadOptions(tuple(labels), public=not private)
    dists = [dist for dist, _ in described]
    with connect(server, as_json) as api, progress_bar("Uploading", not as_json) as progress:
        report = upload_files(api, dists, owner, options, progress=progress)
    facts = {dist.path: found for dist, found in described}
    _report(report, facts, as_json)
    if report.failed:
        raise typer.Exit(1)


def _report(report: UploadReport, facts: dict, as_json: bool) -> None:
    rows = []
    for item in report.done:
        dist, found = item.distribution, facts[item.distribution.path]
        rows.append(
            {
                "path": str(dist.path),
                "owner": item.owner,
                "name": dist.name,
                "version": dist.version,
                "basename": dist.basename,
                "format": found.format,
                "quantization": found.quantization,
                "parameters": found.parameters,
                "sha256": dist.sha256,
                "status": item.status,
                "labels": item.file.get("labels"),
            }
        )
    failed = [{"path": str(path), **error.to_json()} for path, error in report.failed]
    if as_json:
        emit_json({"success": not failed, "owner": report.owner, "files": rows, "failed": failed})
        return
    for row in rows:
        say(
            f"{row['status']}: {row['owner']}/{row['name']} {row['version']} {row['basename']}"
            f" ({row['format']} {row['quantization']}, {row['parameters']:,} parameters)"
        )
    for path, error in report.failed:
        say(f"failed: {path.name}: {error}")
