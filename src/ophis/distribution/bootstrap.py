"""Ophis as a conda package of its own (the bootstrap of an installer's base environment),
built with Ophis's builder from the recipe in the repository (``recipes/ophis``).

The recipe's source is the ``ophis`` Python package that runs this code, copied into a
staging copy of the recipe folder (a recipe may only read inside its folder), so the
package is exactly the Ophis that built it, whether it runs from a source tree or from an
installed environment.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ruamel.yaml import YAML

import ophis
from ophis.builder.builder import BuildOptions, BuildReport, build_recipe
from ophis.builder.errors import RecipeError

RECIPE_FILE = "recipe.yaml"


def build_ophis_package(
    recipe_dir: Path,
    output_dir: Path,
    channels: Sequence[str],
    *,
    run_requirements: Sequence[str] | None = None,
    test: bool = True,
    contain: bool = True,
) -> BuildReport:
    """Build the ``ophis`` package of ``recipe_dir`` into the channel ``output_dir``.

    ``run_requirements`` replaces the recipe's run requirements (``python`` is always one):
    a channel whose packages are named otherwise than conda-forge names them (for example
    wrapped from a virtual environment) says here what Ophis needs in its names."""
    recipe = recipe_dir / RECIPE_FILE
    if not recipe.is_file():
        raise RecipeError(
            f"{recipe_dir} has no {RECIPE_FILE}.",
            "Give the folder of Ophis's own recipe (recipes/ophis in Ophis's repository).",
        )
    with tempfile.TemporaryDirectory(prefix="ophis-bootstrap-") as folder:
        staged = Path(folder) / "ophis"
        _stage(recipe, staged, run_requirements)
        options = BuildOptions(
            output_dir=output_dir, channels=list(channels), test=test, contain=contain
        )
        return build_recipe(staged, options)


def _stage(recipe: Path, staged: Path, run_requirements: Sequence[str] | None) -> None:
    """The recipe (this Ophis's version, and the run requirements asked for) beside a copy
    of the ``ophis`` package, without caches."""
    source = Path(ophis.__file__).resolve().parent
    shutil.copytree(
        source, staged / "src" / "ophis", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    yaml = YAML()
    yaml.preserve_quotes = True
    document = yaml.load(recipe.read_text())
    document.setdefault("context", {})["version"] = ophis.__version__
    if run_requirements is not None:
        document["requirements"]["run"] = ["python", *run_requirements]
    with (staged / RECIPE_FILE).open("w") as out:
        yaml.dump(document, out)
