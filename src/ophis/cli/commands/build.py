"""``ophis build``, ``ophis render`` and ``ophis skeleton``: recipes into packages."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ophis.cli.output import emit_json, fail, stderr, stdout
from ophis.core.errors import OphisError

if TYPE_CHECKING:  # the build modules load only when a build command runs
    from ophis.builder.builder import BuildReport

CHANNEL = typer.Option(
    [], "--channel", "-c", help="Build and test from this channel (repeatable; first wins)."
)
VARIANTS = typer.Option(
    [], "--variant-config", "-m", help="A variants.yaml or conda_build_config.yaml (repeatable)."
)
TARGET = typer.Option(None, "--target-platform", help="Build for this subdir (default: here).")


_UPLOAD_STATUS = {
    "uploaded": "Uploaded",
    "replaced": "Replaced",
    "exists": "Already on the server:",
    "skipped": "Kept the server's other copy of",
}


def register(app: typer.Typer) -> None:
    app.command("build")(build)
    app.command("render")(render)
    skeleton = typer.Typer(help="Write a starter recipe.", no_args_is_help=True)
    skeleton.command("pypi")(skeleton_pypi)
    app.add_typer(skeleton, name="skeleton")


def build(
    recipe: Path = typer.Argument(..., help="The recipe folder (recipe.yaml or meta.yaml)."),
    output_dir: Path = typer.Option(
        Path("output"), "--output-dir", "-o", help="The channel folder the packages go into."
    ),
    channels: list[str] = CHANNEL,
    variant_configs: list[Path] = VARIANTS,
    package_format: str = typer.Option(
        ".conda", "--package-format", help="The archive format: .conda or .tar.bz2."
    ),
    target_platform: str = TARGET,
    no_test: bool = typer.Option(False, "--no-test", help="Do not run the package's tests."),
    no_sandbox: bool = typer.Option(
        False, "--no-sandbox", help="Let build scripts write outside the staging folder."
    ),
    keep_stage: bool = typer.Option(False, "--keep-stage", help="Keep the staging folder."),
    upload: str = typer.Option(
        None, "--upload", help="Then upload the packages to <server URL>/<owner>."
    ),
    labels: list[str] = typer.Option([], "--label", "-l", help="Upload under this label."),
    token: str = typer.Option(
        None, "--token", envvar="OPHIS_TOKEN", help="Token for --upload (default: your login)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Build a recipe into tested packages in a local channel (and upload them)."""
    from ophis.builder.builder import BuildOptions, archive_format, build_recipe, channel_urls
    from ophis.builder.upload import upload_built

    try:
        options = BuildOptions(
            output_dir=output_dir,
            channels=channel_urls(channels),
            variant_configs=variant_configs,
            package_format=archive_format(package_format),
            target_platform=target_platform,
            test=not no_test,
            contain=not no_sandbox,
            keep_stage=keep_stage,
        )
        report = build_recipe(recipe, options)
        uploaded = upload_built(report.packages, upload, token, labels) if upload else []
    except OphisError as error:
        fail(error, as_json)
    _show_build(report, uploaded, as_json)
    if report.broken:
        raise typer.Exit(1)


def _show_build(report: BuildReport, uploaded: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        emit_json({**report.to_json(), "uploaded": uploaded})
        return
    if report.skipped:
        stdout.print("The recipe skips this platform: nothing was built.", highlight=False)
        return
    for package in report.packages:
        stdout.print(f"Built and tested {package.path}", highlight=False, soft_wrap=True)
    for package in report.broken:
        failed = [t for t in package.tests if not t["success"]]
        stderr.print(f"[bold red]Tests failed[/]: kept aside as {package.path}", soft_wrap=True)
        for test in failed:
            stderr.print("\n".join(test["output"][-20:]), highlight=False, markup=False)
    for item in uploaded:
        done = _UPLOAD_STATUS.get(item["status"], item["status"])
        stdout.print(f"{done} {item['basename']} ({item['owner']})", highlight=False)
    if report.stage:
        stdout.print(f"Kept the staging folder {report.stage}", highlight=False)
    if not report.contained:
        stderr.print("Note: the build scripts ran without the sandbox (see --no-sandbox).")
    stdout.print(f"Indexed {report.output_dir} in {report.seconds:.2f} s.", highlight=False)


def render(
    recipe: Path = typer.Argument(..., help="The recipe folder (recipe.yaml or meta.yaml)."),
    variant_configs: list[Path] = VARIANTS,
    target_platform: str = TARGET,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the fully rendered recipe, once per variant (nothing is solved or built)."""
    from ophis.builder.builder import BuildOptions, render_recipe
    from ophis.builder.recipe import dump_yaml

    options = BuildOptions(
        output_dir=Path("output"),
        channels=(),
        variant_configs=variant_configs,
        target_platform=target_platform,
    )
    try:
        rendered = render_recipe(recipe, options)
    except OphisError as error:
        fail(error, as_json)
    if as_json:
        emit_json(rendered)
        return
    for document in rendered:
        variant = ", ".join(f"{k}={v}" for k, v in document["variant"].items())
        skipped = " (skipped: build/skip holds)" if document.get("skipped") else ""
        typer.echo(f"# variant: {variant or '(none)'}{skipped}")
        typer.echo(dump_yaml(document["recipe"]))


def skeleton_pypi(
    name: str = typer.Argument(..., help="The PyPI name, or a local sdist (.tar.gz)."),
    output_dir: Path = typer.Option(Path("."), "--output-dir", "-o", help="Where to write."),
    sdist: Path = typer.Option(None, "--sdist", help="Read this local sdist (offline)."),
    recipe_format: str = typer.Option(
        "recipe.yaml", "--format", help="recipe.yaml (rattler-build) or meta.yaml (conda-build)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Write a starter recipe for a Python package (with grayskull)."""
    from ophis.builder.skeleton import write_pypi_recipe

    try:
        path, notes = write_pypi_recipe(name, output_dir, sdist, recipe_format)
    except OphisError as error:
        fail(error, as_json)
    if as_json:
        emit_json({"success": True, "recipe": str(path), "notes": notes})
        return
    stdout.print(f"Wrote {path}", highlight=False)
    for note in notes:
        stderr.print(f"  To do: {note}", highlight=False)
