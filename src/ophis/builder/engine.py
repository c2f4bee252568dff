"""The part that drives py-rattler-build: render a recipe.yaml over its variants, build each
variant (tests skipped there), then test each package in a fresh environment.

It runs as its own process (``python -m ophis.builder.engine JOB.json``), usually inside the
sandbox of :mod:`ophis.builder.sandbox`: the recipe's scripts run in it, so it must not share
the user's process, and py-rattler-build's native threads end with it. It reads a job and
writes a result, both JSON, into the staging folder.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ophis.builder.errors import BuildError, RecipeError
from ophis.builder.recipe import check_rendered_paths
from ophis.builder.variants import load_variant_config


@dataclass
class BuildJob:
    recipe: str  # the recipe.yaml to build
    recipe_dir: str  # the folder its paths must stay in (the user's recipe folder)
    output_dir: str  # where py-rattler-build writes (inside the staging folder)
    channels: list[str]  # channel URLs, in priority order; nothing else is contacted
    variant_files: list[str] = field(default_factory=list)
    target_platform: str | None = None
    package_format: str = "conda"  # or "tar.bz2"
    test: bool = True
    render_only: bool = False
    #: where the tests' environments come from (``channels`` when empty): the build's
    #: channels are the pinned one, which holds only the build and host environments
    test_channels: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> BuildJob:
        return cls(**json.loads(path.read_text()))


@dataclass
class BuiltPackage:
    path: str
    name: str
    version: str
    build_string: str
    subdir: str
    variant: dict[str, Any]
    tests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(t["success"] for t in self.tests)


def result_path(job_path: Path) -> Path:
    return job_path.with_name(job_path.stem + ".result.json")


def render(job: BuildJob) -> list[Any]:
    """The recipe's rendered variants, each checked for paths leaving the recipe folder."""
    from rattler_build import PlatformConfig, RenderConfig, Stage0Recipe

    try:
        recipe = Stage0Recipe.from_file(job.recipe)
        platform = PlatformConfig(target_platform=job.target_platform)
        variants = load_variant_config([Path(p) for p in job.variant_files], job.target_platform)
        rendered = recipe.render(variants, RenderConfig(platform=platform))
    except RecipeError:
        raise
    except Exception as error:  # py-rattler-build's parse and render errors
        raise RecipeError(f"{Path(job.recipe).name}: {error}", "Fix the recipe.") from None
    for variant in rendered:
        check_rendered_paths(variant.recipe.to_dict(), Path(job.recipe_dir))
    return rendered


def rendered_documents(job: BuildJob) -> list[dict[str, Any]]:
    """Each variant's fully rendered recipe, with the variant it was rendered for."""
    skips = _skip_expressions(job)
    return [
        {"variant": dict(v.variant), "recipe": v.recipe.to_dict(), "skipped": _skipped(v, skips)}
        for v in render(job)
    ]


def build(job: BuildJob) -> tuple[list[BuiltPackage], int]:
    """Build every variant not skipped, then test every package (when ``job.test``); the
    packages, and how many variants were skipped."""
    from rattler_build import ToolConfiguration

    # tests run after the build, by Ophis: py-rattler-build's own test step deletes a package
    # that fails, and Ophis keeps it aside (broken/) for the author to look at
    tools = ToolConfiguration(test_strategy="skip")
    built: list[BuiltPackage] = []
    rendered = render(job)
    skips = _skip_expressions(job)
    skipped = 0
    for variant in rendered:
        if _skipped(variant, skips):
            skipped += 1
            continue
        try:
            result = variant.run_build(
                tool_config=tools,
                output_dir=job.output_dir,
                channels=job.channels,
                package_format=job.package_format,
                no_build_id=False,
            )
        except Exception as error:
            raise BuildError(
                f"Building {variant.recipe.package.name} ({_describe(variant.variant)}) "
                f"failed: {error}",
                "Read the build log above; fix the recipe or the channels it builds from.",
            ) from None
        for package in result.packages:
            built.append(
                BuiltPackage(
                    str(package),
                    result.name,
                    result.version,
                    result.build_string,
                    result.platform,
                    dict(result.variant),
                )
            )
    if job.test:
        for package in built:
            package.tests = run_tests(Path(package.path), job.test_channels or job.channels)
    return built, skipped


def _skip_expressions(job: BuildJob) -> list[str]:
    """The recipe's ``build: skip:`` conditions (py-rattler-build renders but does not apply
    them)."""
    from rattler_build import Stage0Recipe

    try:
        skip = Stage0Recipe.from_file(job.recipe).build.to_dict().get("skip") or []
    except AttributeError:  # a multi-output recipe: its outputs' skips are not read
        return []
    except Exception as error:  # py-rattler-build's parse errors
        raise RecipeError(f"{Path(job.recipe).name}: {error}", "Fix the recipe.") from None
    items = skip if isinstance(skip, list) else [skip]
    return [str(item).lower() if isinstance(item, bool) else str(item) for item in items]


def _skipped(variant: Any, expressions: list[str]) -> bool:
    """Whether any skip condition holds for ``variant``, evaluated by rattler-build's own
    Jinja in a one-line recipe rendered for the same platform and variant values."""
    if not expressions:
        return False
    from rattler_build import PlatformConfig, RenderConfig, Stage0Recipe, VariantConfig

    values = {k: [v] for k, v in variant.variant.items() if k != "target_platform"}
    probe = {
        "context": {f"skip{i}": "${{ " + e + " }}" for i, e in enumerate(expressions)},
        "package": {"name": "skip-probe", "version": "0"},
        "requirements": {"host": [k for k in values if k.isidentifier()]},
    }
    platform = PlatformConfig(target_platform=variant.variant.get("target_platform"))
    try:
        recipe = Stage0Recipe.from_yaml(json.dumps(probe))  # JSON is YAML
        [probed] = recipe.render(VariantConfig(values), RenderConfig(platform=platform))
    except Exception as error:
        raise RecipeError(f"build/skip {expressions}: {error}", "Fix the condition.") from None
    return any(str(value).lower() == "true" for value in probed.recipe.context.values())


def _describe(variant: dict[str, Any]) -> str:
    shown = {k: v for k, v in variant.items() if k != "target_platform"}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "no variant"


def run_tests(package: Path, channels: list[str]) -> list[dict[str, Any]]:
    """The package's own tests, each in a fresh environment solved from ``channels``."""
    from rattler_build import Package

    results = []
    for index in range(Package.from_file(package).test_count):
        try:
            outcome = Package.from_file(package).run_test(
                index, channel=channels, channel_priority="strict"
            )
            results.append({"index": index, "success": outcome.success, "output": outcome.output})
        except Exception as error:  # a failing test raises
            results.append({"index": index, "success": False, "output": [str(error)]})
    return results


def main(argv: list[str]) -> int:
    job_path = Path(argv[0])
    job = BuildJob.load(job_path)
    try:
        if job.render_only:
            payload: dict[str, Any] = {"rendered": rendered_documents(job)}
        else:
            packages, skipped = build(job)
            payload = {
                "packages": [{**asdict(p), "passed": p.passed} for p in packages],
                "skipped": skipped,
            }
    except BuildError as error:
        payload = {"error": error.to_json(), "line": getattr(error, "line", None)}
    result_path(job_path).write_text(json.dumps(payload, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
