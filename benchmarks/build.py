"""How long ``ophis build`` takes for a noarch python recipe, against py-rattler-build
invoked directly on the same recipe.yaml in the same run.

Both build the recipe (the ``greet`` recipe of ophis.testing.build_channels, converted once
from its meta.yaml into recipe.yaml) against the same offline local channel and run its
tests (an import test and a command running the entry point) in a fresh environment.
Ophis adds: a worker process in a sandbox, the staging folder, sorting and indexing the
output channel. Each is run --repeat times on a fresh output folder; the median is shown.
Usage: python benchmarks/build.py [--repeat 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ophis.builder.builder import BuildOptions, build_recipe
from ophis.builder.recipe import RECIPE_YAML, convert_meta, dump_yaml, host_subdir, load_meta_yaml
from ophis.builder.sandbox import namespaces_available
from ophis.testing.build_channels import make_build_channel, write_recipe


def recipe_yaml_folder(workdir: Path) -> Path:
    """The greet recipe as a recipe.yaml (what both builders read)."""
    folder = write_recipe(workdir, "greet")
    meta = folder / "meta.yaml"
    converted = convert_meta(load_meta_yaml(meta.read_text(), host_subdir()), folder)
    meta.unlink()
    (folder / RECIPE_YAML).write_text(dump_yaml(converted))
    return folder


def run_ophis(recipe: Path, channel: str, output: Path) -> None:
    report = build_recipe(recipe, BuildOptions(output_dir=output, channels=[channel]))
    assert len(report.packages) == 1 and not report.broken, report.to_json()


def run_rattler_build(recipe: Path, channel: str, output: Path) -> None:
    from rattler_build import Stage0Recipe, ToolConfiguration, VariantConfig

    tools = ToolConfiguration(test_strategy="native")
    for variant in Stage0Recipe.from_file(recipe / RECIPE_YAML).render(VariantConfig()):
        result = variant.run_build(tool_config=tools, output_dir=output, channels=[channel])
        assert len(result.packages) == 1


def median_seconds(run: Callable[[Path], None], workdir: Path, repeat: int) -> list[float]:
    times = []
    for attempt in range(repeat):
        output = workdir / f"out-{attempt}"
        started = time.perf_counter()
        run(output)
        times.append(time.perf_counter() - started)
        shutil.rmtree(output, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ophis-bench-build-", dir=args.workdir))
    try:
        channel = make_build_channel(workdir / "channel", host_subdir()).as_uri()
        recipe = recipe_yaml_folder(workdir / "recipes")
        print(f"sandbox: {'user namespaces' if namespaces_available() else 'none available'}")
        runs = {
            "ophis build": lambda out: run_ophis(recipe, channel, out),
            "py-rattler-build run_build": lambda out: run_rattler_build(recipe, channel, out),
        }
        medians = {}
        for name, run in runs.items():
            times = median_seconds(run, workdir / name.replace(" ", "_"), args.repeat)
            medians[name] = statistics.median(times)
            shown = " ".join(f"{t:.2f}" for t in times)
            print(f"{name:<28} median {medians[name]:6.3f} s   runs: {shown}")
        ratio = medians["ophis build"] / medians["py-rattler-build run_build"]
        print(f"ratio ophis/py-rattler-build: {ratio:.2f}x  (>1 means ophis is slower)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
