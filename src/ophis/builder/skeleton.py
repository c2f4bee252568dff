"""``ophis skeleton pypi``: a starter recipe for a Python package, written by grayskull.

grayskull reads the package (from PyPI, or offline from a local sdist: its pyproject.toml,
setup.cfg or setup.py), maps PyPI names to conda-forge's, and writes a conda-build
``meta.yaml``. Ophis keeps that meta.yaml when asked for it; otherwise it renders and converts
it into a ``recipe.yaml`` with the same converter ``ophis build`` uses for meta.yaml, so the
starter recipe is known to render.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ophis.builder.errors import BuildError
from ophis.builder.recipe import (
    META_YAML,
    RECIPE_YAML,
    convert_meta,
    dump_yaml,
    host_subdir,
    load_meta_yaml,
)

FORMATS = (RECIPE_YAML, META_YAML)
#: what grayskull writes where it could not find a value: left out of a recipe.yaml, which
#: would not build with them, and named in the notes instead
_PLACEHOLDERS = {
    "license": ("IT-WAS-NOT-POSSIBLE-TO-RECOVER-LICENCE",),
    "license_file": ("PLEASE_ADD_LICENSE_FILE",),
}


def write_pypi_recipe(
    name: str, output_dir: Path, sdist: Path | None = None, recipe_format: str = RECIPE_YAML
) -> tuple[Path, list[str]]:
    """Write ``<output_dir>/<package>/<recipe_format>``; its path, and notes on what the
    author must still fill in."""
    if sdist is None and name.endswith((".tar.gz", ".zip")) and Path(name).is_file():
        sdist = Path(name)
    if recipe_format not in FORMATS:
        raise BuildError(f"Unknown recipe format {recipe_format!r}.", f"Use one of {FORMATS}.")
    meta_text, package = _grayskull_meta_yaml(str(sdist.resolve()) if sdist else name, sdist)
    folder = output_dir / package
    folder.mkdir(parents=True, exist_ok=True)
    if recipe_format == META_YAML:
        notes = [f"{key}: {value}" for key, value in _placeholders_in(meta_text)]
        text = meta_text
    else:
        recipe, notes = recipe_from_meta_yaml(meta_text, folder)
        text = dump_yaml(recipe)
    path = folder / recipe_format
    path.write_text(text)
    return path, notes


def recipe_from_meta_yaml(meta_text: str, folder: Path) -> tuple[dict[str, Any], list[str]]:
    """grayskull's meta.yaml as a recipe.yaml document, its version in ``context``."""
    meta = load_meta_yaml(meta_text, host_subdir(), variant=("python",))
    recipe = convert_meta(meta, folder)
    version = recipe["package"]["version"]
    recipe = {"context": {"version": version}, **recipe}
    recipe["package"]["version"] = "${{ version }}"
    notes = []
    about = recipe.get("about", {})
    for key, placeholders in _PLACEHOLDERS.items():
        if about.get(key) in placeholders:
            del about[key]
        if key not in about:
            notes.append(f"about/{key}: not found in the package; add it.")
    return recipe, notes


def _placeholders_in(meta_text: str) -> list[tuple[str, str]]:
    return [
        (key, "not found in the package; add it.")
        for key, values in _PLACEHOLDERS.items()
        if any(value in meta_text for value in values)
    ]


def _grayskull_meta_yaml(source: str, sdist: Path | None) -> tuple[str, str]:
    """grayskull's meta.yaml text for ``source`` (a PyPI name or a local sdist's path), and
    the package's name."""
    from grayskull.cli import CLIConfig
    from grayskull.main import create_python_recipe
    from grayskull.utils import generate_recipe

    config = CLIConfig()
    config.stdout = False  # grayskull prints its own progress; Ophis reports the result
    if sdist is not None:
        if not sdist.is_file():
            raise BuildError(f"{sdist} does not exist.", "Give the path of a local sdist.")
        config.package_indexes = []  # offline: do not ask anaconda.org which names exist
    try:
        with _quiet(offline=sdist is not None):
            recipe, recipe_config = create_python_recipe(source, from_local_sdist=bool(sdist))
            with tempfile.TemporaryDirectory() as scratch:
                generate_recipe(recipe, recipe_config, scratch, False)
                [written] = Path(scratch).glob(f"*/{META_YAML}")
                return written.read_text(), written.parent.name
    except BuildError:
        raise
    except Exception as error:  # grayskull's errors are plain exceptions and HTTP errors
        where = f"the sdist {sdist}" if sdist else f"{source} on PyPI"
        raise BuildError(
            f"grayskull could not make a recipe from {where}: {error}",
            "Give a source distribution made by `python -m build --sdist` (with a "
            "pyproject.toml, setup.cfg or setup.py), or check the name and your network.",
        ) from None


@contextmanager
def _quiet(offline: bool) -> Iterator[None]:
    """grayskull's log lines go away; offline, the pip it runs to read a setup.py looks at no
    package index (it fails fast, and grayskull falls back to reading setup.cfg)."""
    saved = os.environ.get("PIP_NO_INDEX")
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    if offline:
        os.environ["PIP_NO_INDEX"] = "1"
    try:
        yield
    finally:
        logger.setLevel(level)
        if saved is None:
            os.environ.pop("PIP_NO_INDEX", None)
        else:
            os.environ["PIP_NO_INDEX"] = saved
