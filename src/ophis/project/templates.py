"""Project templates shipped with Ophis, and ``ophis project init``."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from ophis.core import project_archive
from ophis.core.errors import OphisError
from ophis.project.manifest import MANIFEST, PIXI_MANIFEST, ProjectError

TEMPLATES_DIR = Path(__file__).parent / "templates"
DEFAULT_TEMPLATE = "python"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def template_names() -> list[str]:
    return sorted(p.name for p in TEMPLATES_DIR.iterdir() if (p / MANIFEST).is_file())


def check_target(folder: Path) -> None:
    """A project is made in a new or empty folder only."""
    if folder.exists() and any(folder.iterdir()):
        if (folder / MANIFEST).exists():
            raise ProjectError(
                f"{folder} is a project already ({MANIFEST} exists).",
                "Edit its manifest, or init another folder.",
            )
        raise ProjectError(f"{folder} is not empty.", "Init a new or empty folder.")


def init_from_archive(folder: Path, archive: bytes, source: str) -> Path:
    """A project made from a template downloaded from a server (a project archive)."""
    check_target(folder)
    try:
        project_archive.unpack(archive, folder, source)
    except OphisError as error:
        raise ProjectError(error.message, "Ask the template's owner to upload it again.") from None
    if not (folder / MANIFEST).is_file() and not (folder / PIXI_MANIFEST).is_file():
        raise ProjectError(f"{source} has no manifest.", "It is not a project template.")
    return folder / (MANIFEST if (folder / MANIFEST).is_file() else PIXI_MANIFEST)


def init_project(
    folder: Path,
    template: str = DEFAULT_TEMPLATE,
    *,
    name: str | None = None,
    channels: Sequence[str] = (),
    platforms: Sequence[str] = (),
) -> Path:
    """Write the template's files into ``folder`` (new or empty); the manifest's path."""
    source = TEMPLATES_DIR / template
    if template not in template_names():
        raise ProjectError(
            f"There is no project template named {template!r}.",
            f"Choose one of: {', '.join(template_names())}.",
        )
    check_target(folder)
    name = name or folder.resolve().name
    if not _NAME.match(name):
        raise ProjectError(f"{name!r} is not a valid project name.", "Use letters, digits, -_.")
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        target = folder / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.name == MANIFEST:
            target.write_text(_render(path.read_text(), name, channels, platforms))
        else:
            shutil.copyfile(path, target)
    (folder / ".gitignore").write_text(".ophis/\n")
    return folder / MANIFEST


def _render(text: str, name: str, channels: Sequence[str], platforms: Sequence[str]) -> str:
    # TOML arrays of strings are JSON arrays of strings
    values = {
        "name": name,
        "channels": json.dumps(list(channels) or ["conda-forge"]),
        "platforms": json.dumps(list(platforms) or _default_platforms()),
    }
    for key, value in values.items():
        text = text.replace("{{ " + key + " }}", value)
    return text


def _default_platforms() -> list[str]:
    from ophis.manager.config import load_config_from_os

    return [load_config_from_os().subdir]
