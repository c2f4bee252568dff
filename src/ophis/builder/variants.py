"""Variant configs: ``variants.yaml`` (rattler-build's) and ``conda_build_config.yaml``
(conda-build's, with selectors), found next to the recipe or given with --variant-config.
Each combination of their values is one package."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ophis.builder.errors import RecipeError

#: the files read from the recipe folder when present, as rattler-build and conda-build do
DISCOVERED = ("variants.yaml", "conda_build_config.yaml")


def variant_files(recipe_dir: Path, given: Iterable[Path] = ()) -> list[Path]:
    """The recipe folder's own variant files, then the ones given (later ones win)."""
    found = [recipe_dir / name for name in DISCOVERED if (recipe_dir / name).is_file()]
    for path in given:
        if not Path(path).is_file():
            raise RecipeError(f"No variant config at {path}.", "Check the --variant-config path.")
        found.append(Path(path).resolve())
    return found


def load_variant_config(files: Sequence[Path], target_platform: str) -> Any:
    """A py-rattler-build ``VariantConfig`` merging ``files`` in order."""
    from rattler_build import JinjaConfig, PlatformConfig, VariantConfig

    config = VariantConfig()
    jinja = JinjaConfig(platform=PlatformConfig(target_platform=target_platform))
    for path in files:
        try:
            if path.name == "conda_build_config.yaml":
                loaded = VariantConfig.from_conda_build_config(path, jinja)
            else:
                loaded = VariantConfig.from_file_with_context(path, jinja)
        except Exception as error:  # py-rattler-build raises its own error types
            raise RecipeError(f"{path}: {error}", "Fix the variant config.") from None
        config = config.merge(loaded)
    return config


def variant_keys(files: Sequence[Path]) -> list[str]:
    """The keys the files define (for meta.yaml's Jinja2: ``{{ python }}``)."""
    from ruamel.yaml import YAML

    keys: list[str] = []
    for path in files:
        data = YAML(typ="safe").load(path.read_text()) or {}
        keys.extend(k for k in data if isinstance(k, str) and k not in keys)
    return keys
