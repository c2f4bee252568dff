"""The project manifest: ``ophis.toml`` in pixi's layout, so a pixi user reads it at once.

    [workspace]                  # pixi's name; [project] is read too
    name = "model"
    channels = ["conda-forge"]
    platforms = ["linux-64"]

    [dependencies]               # conda packages: name = "version spec"
    python = ">=3.11"

    [pypi-dependencies]          # PyPI packages, installed with pip after the conda ones
    requests = ">=2"

    [activation.env]             # environment variables of every task
    MODEL = "iris"

    [tasks]                      # name = "command", or {cmd = "...", description = "..."}
    serve = "python -m uvicorn app:app --port ${PORT:-8000}"

A ``pixi.toml`` is read the same way when there is no ``ophis.toml``. Pure: parsing and
checks only (the file is read by :func:`load_manifest`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ophis.core.errors import OphisError

MANIFEST = "ophis.toml"
PIXI_MANIFEST = "pixi.toml"
LOCK_FILE = "ophis.lock"
#: where a project's environment lives, as pixi keeps ``.pixi/envs/default``
ENVIRONMENT_DIR = ".ophis/envs/default"


class ProjectError(OphisError):
    exception_name = "ProjectError"


@dataclass(frozen=True)
class Task:
    name: str
    cmd: str
    description: str = ""


@dataclass(frozen=True)
class Manifest:
    path: Path
    name: str
    channels: tuple[str, ...]
    platforms: tuple[str, ...]
    dependencies: dict[str, str] = field(default_factory=dict)
    pypi_dependencies: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    #: needed to upload the project as a template (``ophis project upload``)
    version: str = ""
    description: str = ""

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def prefix(self) -> Path:
        return self.root / ENVIRONMENT_DIR

    @property
    def specs(self) -> tuple[str, ...]:
        """The conda dependencies as match specs (``python >=3.11``)."""
        return tuple(_spec(name, version) for name, version in self.dependencies.items())

    def task(self, name: str) -> Task:
        try:
            return self.tasks[name]
        except KeyError:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise ProjectError(
                f"{self.path.name} has no task named {name!r} (its tasks: {known}).",
                f"Add it under [tasks] in {self.path.name}, or run one of those.",
            ) from None


def find_manifest(start: Path) -> Path:
    """The manifest of the project ``start`` is in (itself or a parent folder)."""
    for folder in (start.resolve(), *start.resolve().parents):
        for name in (MANIFEST, PIXI_MANIFEST):
            if (folder / name).is_file():
                return folder / name
    raise ProjectError(
        f"No {MANIFEST} in {start} or any folder above it.",
        "Run this inside a project, or make one with `ophis project init`.",
    )


def load_manifest(path: Path) -> Manifest:
    try:
        document = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ProjectError(f"{path.name} is not valid TOML: {error}", "Fix the file.") from None
    return parse_manifest(document, path)


def parse_manifest(document: dict[str, Any], path: Path) -> Manifest:
    workspace = document.get("workspace") or document.get("project")
    if not isinstance(workspace, dict):
        raise ProjectError(
            f"{path.name} has no [workspace] table.",
            'Start it with [workspace], name = "...", channels = [...], platforms = [...].',
        )
    channels = _strings(workspace, "channels", path)
    if not channels:
        raise ProjectError(
            f"{path.name}: [workspace] channels is empty.",
            'List where the packages come from, e.g. channels = ["conda-forge"].',
        )
    return Manifest(
        path=path,
        name=str(workspace.get("name") or path.parent.name),
        channels=tuple(channels),
        platforms=tuple(_strings(workspace, "platforms", path)),
        dependencies=_table(document, "dependencies", path),
        pypi_dependencies=_table(document, "pypi-dependencies", path),
        env=_table(document.get("activation") or {}, "env", path),
        tasks=_tasks(document.get("tasks") or {}, path),
        version=str(workspace.get("version") or ""),
        description=str(workspace.get("description") or ""),
    )


def _strings(table: dict[str, Any], key: str, path: Path) -> list[str]:
    value = table.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProjectError(f"{path.name}: {key} must be a list of strings.", "Fix it.")
    return value


def _table(document: dict[str, Any], key: str, path: Path) -> dict[str, str]:
    table = document.get(key) or {}
    if not isinstance(table, dict):
        raise ProjectError(f"{path.name}: [{key}] must be a table.", "Fix it.")
    out = {}
    for name, value in table.items():
        if isinstance(value, dict) and "version" in value:
            value = value["version"]
        if not isinstance(value, str):
            raise ProjectError(
                f'{path.name}: [{key}] {name} must be a string (e.g. {name} = ">=1.0").',
                "Write the version spec as a string; '*' means any version.",
            )
        out[str(name)] = value
    return out


def _tasks(table: dict[str, Any], path: Path) -> dict[str, Task]:
    tasks = {}
    for name, value in table.items():
        if isinstance(value, str):
            tasks[name] = Task(name, value)
        elif isinstance(value, dict) and isinstance(value.get("cmd"), str):
            tasks[name] = Task(name, value["cmd"], str(value.get("description", "")))
        else:
            raise ProjectError(
                f'{path.name}: task {name!r} needs a command (a string, or {{cmd = "..."}}).',
                "Fix the [tasks] table.",
            )
    return tasks


def _spec(name: str, version: str) -> str:
    version = version.strip()
    if version in ("", "*"):
        return name
    return f"{name} {version}"
