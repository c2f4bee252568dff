"""``environment.yml``: conda's environment files, read and written.

Keys as conda reads them: ``name``, ``prefix``, ``channels``, ``dependencies`` (conda specs,
and a ``pip:`` list of pip requirements), ``variables`` (set on activation); rattler's and
pixi's ``platforms`` is kept; other keys (``category``, ...) are carried along untouched.
Every error names the file and the line, because these files are written by hand.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from ophis.core.errors import InvalidMatchSpecError, OphisError
from ophis.manager.env_vars import invalid_variable_names
from ophis.manager.specs import parse_spec

_KNOWN = ("name", "prefix", "channels", "dependencies", "variables", "platforms")


class EnvironmentFileError(OphisError):
    """An environment file that cannot be read; the message names the file and line."""

    exception_name = "CondaValueError"


class EnvironmentFileNotFound(EnvironmentFileError):
    exception_name = "EnvironmentFileNotFound"


@dataclass(frozen=True)
class EnvironmentFile:
    name: str | None = None
    prefix: str | None = None
    channels: tuple[str, ...] = ()
    #: conda match specs, as written
    dependencies: tuple[str, ...] = ()
    #: pip requirements (the ``pip:`` subsection), as written
    pip: tuple[str, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    #: keys conda ignores but a user may rely on (kept when the file is rewritten)
    extra: dict[str, Any] = field(default_factory=dict)


def read_environment_file(path: Path) -> EnvironmentFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvironmentFileNotFound(
            f"The environment file {path} does not exist.", "Check the path given with -f."
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise EnvironmentFileError(f"Cannot read {path}: {error}", "Check the file.") from None
    return parse_environment_file(text, str(path))


def parse_environment_file(text: str, source: str = "environment.yml") -> EnvironmentFile:
    document = _load(text, source)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise _error(source, 1, "is not a mapping of keys (name:, channels:, dependencies:)")
    reader = _Reader(document, source)
    dependencies, pip = reader.dependencies()
    return EnvironmentFile(
        name=reader.text("name"),
        prefix=reader.text("prefix"),
        channels=tuple(reader.strings("channels")),
        dependencies=tuple(dependencies),
        pip=tuple(pip),
        variables=reader.variables(),
        platforms=tuple(reader.strings("platforms")),
        extra={k: _plain(v) for k, v in document.items() if k not in _KNOWN},
    )


def _load(text: str, source: str) -> Any:
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise _error(source, line, f"is not valid YAML: {error.problem or error.context}") from None


def _error(source: str, line: int, what: str) -> EnvironmentFileError:
    return EnvironmentFileError(
        f"{source}, line {line}: {what}", "Fix that line of the environment file and run again."
    )


class _Reader:
    def __init__(self, document: Any, source: str) -> None:
        self.document = document
        self.source = source

    def _line(self, key: str, index: int | None = None) -> int:
        node = self.document
        try:
            if index is None:
                return node.lc.key(key)[0] + 1
            return node[key].lc.item(index)[0] + 1
        except (AttributeError, KeyError, TypeError, IndexError):
            return 1

    def text(self, key: str) -> str | None:
        value = self.document.get(key)
        if value is None:
            return None
        if not isinstance(value, str | int | float):
            raise _error(self.source, self._line(key), f"'{key}' must be a single value")
        return str(value)

    def _list(self, key: str) -> list[Any]:
        value = self.document.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _error(self.source, self._line(key), f"'{key}' must be a list ('- item' lines)")
        return value

    def strings(self, key: str) -> list[str]:
        items = self._list(key)
        for index, item in enumerate(items):
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise _error(self.source, self._line(key, index), f"'{key}' entries must be text")
        return [str(item) for item in items]

    def dependencies(self) -> tuple[list[str], list[str]]:
        specs: list[str] = []
        pip: list[str] = []
        for index, item in enumerate(self._list("dependencies")):
            line = self._line("dependencies", index)
            if isinstance(item, dict):
                pip += self._pip_section(item, line)
            elif isinstance(item, str | int | float) and not isinstance(item, bool):
                specs.append(self._spec(str(item).strip(), line))
            else:
                raise _error(self.source, line, f"{item!r} is not a package spec")
        return specs, pip

    def _spec(self, text: str, line: int) -> str:
        try:
            parse_spec(text)
        except InvalidMatchSpecError as error:
            raise _error(
                self.source, line, f"'{text}' is not a valid spec ({error.message})"
            ) from None
        return text

    def _pip_section(self, item: dict[str, Any], line: int) -> list[str]:
        if set(item) != {"pip"} or not isinstance(item["pip"], list):
            raise _error(self.source, line, "only a 'pip:' list may be nested in dependencies")
        requirements = item["pip"]
        for index, requirement in enumerate(requirements):
            if not isinstance(requirement, str):
                at = _item_line(requirements, index, line)
                raise _error(self.source, at, f"{requirement!r} is not a pip requirement")
        return [r.strip() for r in requirements]

    def variables(self) -> dict[str, str]:
        value = self.document.get("variables")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _error(self.source, self._line("variables"), "'variables' must be a mapping")
        if bad := invalid_variable_names(value):
            names = ", ".join(map(repr, bad))
            raise _error(self.source, self._line("variables"), f"invalid variable name(s) {names}")
        return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _item_line(sequence: Any, index: int, default: int) -> int:
    try:
        return sequence.lc.item(index)[0] + 1
    except (AttributeError, KeyError, IndexError):
        return default


def _plain(value: Any) -> Any:
    """ruamel's round-trip containers as plain ones."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def dumps_environment_file(environment: EnvironmentFile) -> str:
    """The file as conda writes it (``conda env export``): name, channels, dependencies
    (with a trailing ``pip:`` list), variables, prefix."""
    document: dict[str, Any] = {}
    if environment.name:
        document["name"] = environment.name
    document["channels"] = list(environment.channels)
    dependencies: list[Any] = list(environment.dependencies)
    if environment.pip:
        dependencies.append({"pip": list(environment.pip)})
    document["dependencies"] = dependencies
    if environment.variables:
        document["variables"] = dict(environment.variables)
    if environment.platforms:
        document["platforms"] = list(environment.platforms)
    document.update(environment.extra)
    if environment.prefix:
        document["prefix"] = environment.prefix
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)  # conda's layout: "  - numpy"
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()
