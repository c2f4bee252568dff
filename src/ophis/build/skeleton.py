"""``ophis skeleton pypi``: a starter recipe.yaml for a Python package.

Offline from a local sdist (its PKG-INFO gives name, version, summary, licence, Python
requirement and dependencies); otherwise from PyPI through py-rattler-build's generator
(grayskull's job, done by rattler-build).
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from ophis.build.errors import BuildError
from ophis.build.recipe import RECIPE_YAML, dump_yaml

_MARKER = re.compile(r"\s*;.*$")


def write_pypi_recipe(name: str, output_dir: Path, sdist: Path | None = None) -> Path:
    """Write ``<output_dir>/<name>/recipe.yaml`` and return its path."""
    if sdist is None and name.endswith((".tar.gz", ".zip")) and Path(name).is_file():
        sdist = Path(name)
    if sdist is not None:
        recipe = recipe_from_sdist(sdist)
        text = dump_yaml(recipe)
        folder_name = recipe["package"]["name"]
    else:
        text, folder_name = _from_pypi(name)
    folder = output_dir / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECIPE_YAML).write_text(text)
    return folder / RECIPE_YAML


def recipe_from_sdist(sdist: Path) -> dict[str, Any]:
    """A noarch python recipe for a local sdist, built with pip."""
    meta = _pkg_info(sdist)
    name = meta["Name"].lower().replace("_", "-")
    python = f"python {meta['Requires-Python']}".strip() if meta.get("Requires-Python") else ""
    run = [python or "python", *(_conda_spec(r) for r in meta.get_all("Requires-Dist") or [])]
    return {
        "context": {"version": meta["Version"]},
        "package": {"name": name, "version": "${{ version }}"},
        "source": {
            "url": sdist.resolve().as_uri(),
            "sha256": hashlib.sha256(sdist.read_bytes()).hexdigest(),
        },
        "build": {
            "number": 0,
            "noarch": "python",
            "script": "${{ PYTHON }} -m pip install . --no-deps --no-build-isolation -vv",
        },
        "requirements": {"host": [python or "python", "pip", "setuptools"], "run": run},
        "tests": [{"python": {"imports": [name.replace("-", "_")]}}],
        "about": _about(meta),
    }


def _about(meta: Any) -> dict[str, str]:
    about = {
        "summary": meta.get("Summary"),
        "license": meta.get("License-Expression") or meta.get("License"),
        "homepage": meta.get("Home-page"),
    }
    return {key: value for key, value in about.items() if value}  # empty URLs do not parse


def _conda_spec(requirement: str) -> str:
    """A PEP 508 requirement as a conda spec, markers dropped (``a>=1; extra=='x'``)."""
    spec = _MARKER.sub("", requirement).strip()
    name, _, version = re.match(r"([A-Za-z0-9._-]+)\s*(.*)", spec).groups()  # type: ignore[union-attr]
    return f"{name.lower().replace('_', '-')} {version.strip('() ')}".strip()


def _pkg_info(sdist: Path) -> Any:
    try:
        with tarfile.open(sdist) as tar:
            member = next(
                m
                for m in tar.getmembers()
                if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
            )
            raw = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
    except (OSError, tarfile.TarError, StopIteration) as error:
        raise BuildError(
            f"{sdist}: no PKG-INFO found ({error or 'not in the archive'}).",
            "Give a source distribution made by `python -m build --sdist`.",
        ) from None
    return HeaderParser().parsestr(raw)


def _from_pypi(name: str) -> tuple[str, str]:
    from rattler_build import generate_pypi_recipe

    try:
        recipe = generate_pypi_recipe(name)
    except Exception as error:
        raise BuildError(
            f"Could not make a recipe for {name} from PyPI: {error}",
            "Check the name and your network, or pass --sdist with a local sdist.",
        ) from None
    return dump_yaml(recipe.to_dict()), name.lower()
