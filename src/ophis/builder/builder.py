"""``ophis build``: a recipe folder into tested, indexed (and optionally uploaded) packages.

The steps: find the recipe; for a meta.yaml, render and convert it into a recipe.yaml in a
staging copy of the recipe folder; run the engine (py-rattler-build) in the sandbox against
the channels given, and nothing else; move each package whose tests passed into the output
channel, and each one whose tests failed into ``broken/`` beside it; index the channel.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ophis.builder.engine import BuildJob, BuiltPackage, result_path
from ophis.builder.errors import BuildError, RecipeError
from ophis.builder.recipe import (
    META_YAML,
    RECIPE_YAML,
    RecipeSource,
    check_inside,
    convert_meta,
    dump_yaml,
    find_recipe,
    host_subdir,
    is_skipped,
    load_meta_yaml,
)
from ophis.builder.sandbox import (
    NOT_CONTAINED,
    python_command,
    run_contained,
    worker_env,
    worker_pythonpath,
)
from ophis.builder.variants import variant_files, variant_keys

BROKEN = "broken"
_FORMATS = {".conda": "conda", ".tar.bz2": "tar.bz2", "conda": "conda", "tar.bz2": "tar.bz2"}


@dataclass(frozen=True)
class BuildOptions:
    output_dir: Path
    #: channel URLs (``file://``, ``https://``), highest priority first
    channels: Sequence[str]
    variant_configs: Sequence[Path] = ()
    package_format: str = "conda"
    target_platform: str | None = None
    test: bool = True
    #: run scripts where only the staging folder is writable (when the OS allows)
    contain: bool = True
    #: keep the staging folder (build logs, work folders) for debugging
    keep_stage: bool = False


@dataclass
class BuildReport:
    recipe: Path
    output_dir: Path
    packages: list[BuiltPackage] = field(default_factory=list)
    broken: list[BuiltPackage] = field(default_factory=list)
    skipped: bool = False
    contained: bool = False
    seconds: float = 0.0
    log: str = ""
    #: the staging folder, when kept (--keep-stage)
    stage: Path | None = None
    #: what Ophis solved: "<variant> build|host" -> {"specs": [...], "packages": [...]}
    environments: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def shown(p: BuiltPackage) -> dict[str, Any]:
            return {
                "path": p.path,
                "name": p.name,
                "version": p.version,
                "build": p.build_string,
                "subdir": p.subdir,
                "variant": p.variant,
                "tests": [{"index": t["index"], "success": t["success"]} for t in p.tests],
            }

        return {
            "success": not self.broken,
            "recipe": str(self.recipe),
            "output_dir": str(self.output_dir),
            "packages": [shown(p) for p in self.packages],
            "broken": [shown(p) for p in self.broken],
            "skipped": self.skipped,
            "contained": self.contained,
            "seconds": round(self.seconds, 3),
            "stage": str(self.stage) if self.stage else None,
            "environments": self.environments,
        }


def build_recipe(where: Path, options: BuildOptions) -> BuildReport:
    """Build the recipe in ``where`` into ``options.output_dir``."""
    started = time.perf_counter()
    source = find_recipe(where)
    output_dir = options.output_dir.resolve()
    report = BuildReport(source.path, output_dir)
    # the output channel is searched too, after the given ones (conda-build's "local"
    # channel): packages built before can be dependencies, and the list is never empty, so
    # py-rattler-build never falls back to its default channel
    _index(output_dir)
    with _stage(options.keep_stage) as stage:
        report.stage = stage if options.keep_stage else None
        job = _job(source, options, stage, render_only=False)
        if job is None:
            report.skipped = True
        else:
            job.channels.append(output_dir.as_uri())
            _pin_environments(job, stage, report)
            payload, report.contained, report.log = _run_worker(job, stage, options.contain)
            built = [BuiltPackage(**_fields(p)) for p in payload["packages"]]
            report.skipped = not built and payload.get("skipped", 0) > 0
            for package in built:
                _place(package, output_dir, report)
            _index(output_dir)
    report.seconds = time.perf_counter() - started
    return report


def _pin_environments(job: BuildJob, stage: Path, report: BuildReport) -> None:
    """Ophis solves the build and host environments; the build sees only what it chose
    (the tests still solve their environments from the given channels and the output)."""
    from ophis.builder.engine import rendered_documents
    from ophis.builder.environments import pin_environments

    pinned = pin_environments(rendered_documents(job), job.channels, stage, host_subdir())
    report.environments = pinned.solved
    job.test_channels = [*job.channels]
    job.channels = [pinned.url]


def render_recipe(where: Path, options: BuildOptions) -> list[dict[str, Any]]:
    """Each variant's rendered recipe (for ``ophis render``); nothing is built."""
    source = find_recipe(where)
    with _stage(False) as stage:
        job = _job(source, options, stage, render_only=True)
        if job is None:
            return []
        payload, _, _ = _run_worker(job, stage, contain=False)
    return payload["rendered"]


def channel_urls(channels: Sequence[str]) -> list[str]:
    """The URLs of -c values (names, URLs, folders) as ``ophis install`` resolves them (the
    .condarc's channel_alias, custom channels, tokens); the configured channels when none is
    given. Only these are contacted."""
    from ophis.core.channel import expand_channels
    from ophis.manager.config import load_config_from_os

    config = load_config_from_os()
    names = list(channels) or list(config.channels)
    resolved = expand_channels(names, config.channel_context(os.getcwd()))
    return [c.url("noarch", with_token=True).removesuffix("/noarch") for c in resolved]


def archive_format(value: str) -> str:
    try:
        return _FORMATS[value]
    except KeyError:
        raise BuildError(f"Unknown package format {value!r}.", "Use .conda or .tar.bz2.") from None


# --- preparing the job ---------------------------------------------------------------------------


@contextmanager
def _stage(keep: bool) -> Iterator[Path]:
    """A private staging folder: the worker's only writable place."""
    stage = Path(tempfile.mkdtemp(prefix="ophis-build-")).resolve()
    try:
        yield stage
    finally:
        if not keep:
            shutil.rmtree(stage, ignore_errors=True)


def _job(
    source: RecipeSource, options: BuildOptions, stage: Path, *, render_only: bool
) -> BuildJob | None:
    """The engine's job, on a staged copy of the recipe folder; None when a meta.yaml says
    ``skip: true`` for this platform."""
    files = variant_files(source.folder, options.variant_configs)
    target = options.target_platform or host_subdir()
    converted = None
    if source.kind == META_YAML:
        meta = load_meta_yaml(source.path.read_text(), target, os.environ, variant_keys(files))
        if is_skipped(meta):
            return None
        converted = convert_meta(meta, source.folder)
    copy = stage_recipe_folder(source.folder, stage / "recipe", options.output_dir)
    recipe = copy / source.path.name
    if converted is not None:
        # the original meta.yaml stays beside it, so info/recipe holds both
        recipe = copy / RECIPE_YAML
        recipe.write_text(dump_yaml(converted))
    return BuildJob(
        recipe=str(recipe),
        recipe_dir=str(copy),
        output_dir=str(stage / "out"),
        channels=list(options.channels),
        variant_files=[str(f) for f in files],
        target_platform=options.target_platform,
        package_format=options.package_format,
        test=options.test,
        render_only=render_only,
    )


def stage_recipe_folder(folder: Path, copy: Path, output_dir: Path) -> Path:
    """Copy the recipe folder (py-rattler-build packs all of it into info/recipe) without
    the output channel when it lies inside, refusing symlinks that lead out of the folder
    (a source or test file could otherwise be read through them)."""
    output = output_dir.resolve()

    def ignore(where: str, names: list[str]) -> list[str]:
        skipped = []
        for name in names:
            path = Path(where) / name
            if path.resolve() == output:
                skipped.append(name)
            elif path.is_symlink():
                relative = path.relative_to(folder).as_posix()
                check_inside(folder, relative, "the symlink")
        return skipped

    shutil.copytree(folder, copy, symlinks=True, ignore=ignore)
    return copy


# --- running the worker ----------------------------------------------------------------------


def _run_worker(job: BuildJob, stage: Path, contain: bool) -> tuple[dict[str, Any], bool, str]:
    job_path = stage / "job.json"
    job.save(job_path)
    env = worker_env(stage, os.environ)
    worker_pythonpath(env)
    done, contained = run_contained(
        python_command("ophis.builder.engine", str(job_path)), stage, env, contain
    )
    log = done.stdout + done.stderr
    if contained and done.returncode == NOT_CONTAINED:
        raise BuildError(
            "The sandbox could not make the file system read-only for the build.",
            "Run the build where user namespaces may remount, or pass --no-sandbox.",
        )
    result = result_path(job_path)
    if not result.is_file():
        raise BuildError(
            f"The build worker ended without a result (exit code {done.returncode}).\n{log}",
            "See the output above.",
        )
    payload = json.loads(result.read_text())
    if "error" in payload:
        raise _error_from(payload, log)
    return payload, contained, log


def _error_from(payload: Mapping[str, Any], log: str) -> BuildError:
    error = payload["error"]
    message = error["message"]
    if error.get("exception_name") == RecipeError.exception_name:
        return RecipeError(message, error.get("remedy", ""), line=payload.get("line"))
    tail = "\n".join(log.strip().splitlines()[-40:])
    return BuildError(f"{message}\n{tail}" if tail else message, error.get("remedy", ""))


def _fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: raw[k] for k in BuiltPackage.__dataclass_fields__ if k in raw}


# --- the output channel --------------------------------------------------------------------------


def _place(package: BuiltPackage, output_dir: Path, report: BuildReport) -> None:
    """Into ``<output>/<subdir>/`` when its tests passed, else into ``<output>/broken/``."""
    built = Path(package.path)
    passed = package.passed
    folder = output_dir / package.subdir if passed else output_dir / BROKEN
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / built.name
    shutil.move(built, final)
    package.path = str(final)
    (report.packages if passed else report.broken).append(package)


def _index(output_dir: Path) -> None:
    from ophis.indexer.channel_index import index_channel

    output_dir.mkdir(parents=True, exist_ok=True)
    index_channel(output_dir)
