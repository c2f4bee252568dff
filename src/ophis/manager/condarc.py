"""Editing one ``.condarc`` file (``ophis config --add/--set/--remove``) and printing settings.

Edits keep the file's comments and key order (ruamel.yaml round-trip) and are written
atomically.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ophis.core.errors import CondaValueError, ConfigurationError
from ophis.manager.config import (
    _bad_value,
    _jsonable,
    _load_yaml_text,
    _Raw,
    _yaml,
)
from ophis.manager.config_parameters import (
    _CLI,
    _HIDDEN,
    _M,
    _P,
    _S,
    PARAMETERS,
    CondaKeyError,
    Parameter,
    _Bad,
    parameter_for,
    unknown_key_error,
)

# --- editing one .condarc (``conda config --add/--set/...``) ---------------------------------


def read_rc_file(path: Path) -> CommentedMap:
    """A ``.condarc`` for round-trip editing (comments and order kept); empty when absent."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return CommentedMap()
    doc = _load_yaml_text(text, str(path))
    if doc is None:
        return CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise ConfigurationError(
            f"Unable to load configuration file {path}: the top level must be a mapping",
            "Write the file as 'key: value' lines.",
        )
    return doc


def write_rc_file(path: Path, doc: Mapping[str, Any]) -> None:
    """Write atomically: a temporary file in the same folder, then a rename over ``path``."""
    buffer = StringIO()
    _yaml().dump(doc, buffer)
    text = "" if not doc else buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigurationError(
            f"Cannot write to condarc file at {path}: {error}",
            "Check that the folder exists and is writable, or choose another with --file.",
        ) from None


def _canonical(key: str, warnings: list[str]) -> tuple[Parameter, list[str]]:
    first, *rest = key.split(".")
    param = parameter_for(first)
    if param is None:
        raise unknown_key_error(key)
    if param.name != first:
        warnings.append(f"Key {first} is an alias of {param.name}; setting value with latter")
    return param, rest


def add_item(doc: CommentedMap, key: str, item: str, *, prepend: bool) -> list[str]:
    """``--add``/``--prepend`` (top) or ``--append`` (bottom) one item of a list key."""
    warnings: list[str] = []
    param, rest = _canonical(key, warnings)
    if param.kind == _S and not rest:
        target_map, target_key = doc, param.name
    elif param.kind == _M and param.value_kind == _S and len(rest) == 1:
        target_map, target_key = doc.setdefault(param.name, CommentedMap()), rest[0]
    else:
        raise CondaValueError(
            f"Key '{key}' is not a known sequence parameter.",
            "Use --set for single values; --add/--append work on list keys such as channels.",
        )
    current = target_map.get(target_key)
    if current is None:
        current = target_map[target_key] = CommentedSeq()
    if not isinstance(current, list):
        raise ConfigurationError(
            f"key {key!r} should be a list, not {type(current).__name__}.",
            f"Fix it in the file, or remove it with --remove-key {key}.",
        )
    if item in current:
        where = "top" if prepend else "bottom"
        warnings.append(f"Warning: '{item}' already in '{key}' list, moving to the {where}")
        while item in current:
            current.remove(item)
    current.insert(0 if prepend else len(current), item)
    return warnings


def set_key(doc: CommentedMap, key: str, value: str) -> list[str]:
    """``--set KEY VALUE`` for a single-valued key, or ``--set MAP.NAME VALUE``."""
    warnings: list[str] = []
    param, rest = _canonical(key, warnings)
    if param.kind == _P and not rest:
        raw = _Raw("--set parameter", param.name, value)
        try:
            typed = param.coerce(value)
        except _Bad as error:
            raise _bad_value(param, raw, value, str(error)) from None
        doc[param.name] = typed
    elif param.kind == _M and len(rest) == 1:
        doc.setdefault(param.name, CommentedMap())[rest[0]] = value
    else:
        raise CondaKeyError(key, "invalid parameter", "Use --add/--append/--remove for list keys.")
    return warnings


def remove_item(doc: CommentedMap, key: str, item: str) -> None:
    """``--remove KEY VALUE``: drop every occurrence of the item from a list key."""
    param, rest = _canonical(key, [])
    if param.kind != _S or rest:
        raise CondaKeyError(key, "invalid parameter", "--remove works on list keys.")
    if param.name not in doc:
        if param.name != "channels":
            raise CondaKeyError(key, "undefined in config")
        doc["channels"] = CommentedSeq(["defaults"])  # conda's reading of an absent list
    current = doc[param.name]
    if not isinstance(current, list) or item not in current:
        raise CondaKeyError(param.name, f"value {item!r} not present in config")
    while item in current:
        current.remove(item)


def move_item(doc: CommentedMap, key: str, item: str, offset: int) -> None:
    """Move one item of a list key ``offset`` places (negative: towards the top, where the
    highest priority is); clamped at either end."""
    param, rest = _canonical(key, [])
    current = doc.get(param.name)
    if param.kind != _S or rest or not isinstance(current, list) or item not in current:
        raise CondaKeyError(param.name, f"value {item!r} not present in config")
    start = current.index(item)
    current.pop(start)
    current.insert(max(0, min(len(current), start + offset)), item)


def remove_key(doc: CommentedMap, key: str) -> None:
    """``--remove-key KEY``: delete a key (``a.b`` for a map entry) and all its values."""
    candidates = [key]
    param = parameter_for(key.split(".")[0])
    if param is not None and param.name != key.split(".")[0]:
        candidates.append(".".join([param.name, *key.split(".")[1:]]))
    for candidate in candidates:
        *parents, last = candidate.split(".")
        node: Any = doc
        for part in parents:
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping) and last in node:
            del node[last]
            return
    raise CondaKeyError(key, "undefined in config")


def get_lines(key: str, value: Any) -> list[str]:
    """``--get`` output: the commands that would recreate the value (conda's format)."""
    if isinstance(value, Mapping):
        return [line for k, v in value.items() for line in get_lines(f"{key}.{k}", v)]
    if isinstance(value, list | tuple):
        lines = []
        count = len(value)
        for index, item in enumerate(reversed(value)):
            line = f"--add {key} {item!r}"
            if key == "channels" and index in (0, count - 1):
                line += "   # lowest priority" if index == 0 else "   # highest priority"
            lines.append(line)
        return lines
    return [f"--set {key} {value}"]


def format_settings(settings: Mapping[str, Any]) -> list[str]:
    """conda's ``format_dict``: ``key: value``, lists as ``- item`` lines, maps as ``k: v``."""
    lines = []
    for key, value in settings.items():
        if isinstance(value, Mapping):
            lines.append(f"{key}:" if value else f"{key}: {{}}")
            for k, v in value.items():
                shown = list(v) if isinstance(v, tuple) else v
                lines.append(f"  {k}: {shown}")
        elif isinstance(value, list | tuple):
            lines.append(f"{key}:" if value else f"{key}: []")
            lines.extend(f"  - {item}" for item in value)
        else:
            lines.append(f"{key}: {'None' if value is None else value}")
    return lines


def describe_parameter(param: Parameter) -> dict[str, Any]:
    """``conda config --describe --json``: one parameter's details."""
    details: dict[str, Any] = {
        "name": param.name,
        "aliases": list(param.aliases),
        "parameter_type": param.kind,
        "element_types": list(param.element_types),
        "default_value": _jsonable(param.default),
        "description": param.description,
    }
    if param.kind == _S:
        details["string_delimiter"] = param.delimiter
    return details


def describe_lines(param: Parameter) -> list[str]:
    """``conda config --describe``: a commented block ending in the default as YAML."""
    types = ", ".join(sorted(set(param.element_types)))
    kind = types if param.kind == _P else f"{param.kind}: {types}"
    head = f"{param.name} ({kind})"
    lines = [head]
    if param.aliases:
        lines.append(f"  aliases: {', '.join(param.aliases)}")
    if param.kind == _S:
        lines.append(f"  env var string delimiter: '{param.delimiter}'")
    if param.description:
        lines.append(f"  {param.description}")
    buffer = StringIO()
    _yaml().dump({param.name: _jsonable(param.default)}, buffer)
    dumped = buffer.getvalue().rstrip("\n").splitlines()
    return [f"# {line}" for line in [*lines, ""]] + [f"# {line}" for line in dumped] + [""]


def documented_parameters() -> list[Parameter]:
    """Parameters ``--describe`` lists: all but the CLI-only and hidden ones."""
    return [p for p in PARAMETERS if p.category not in {_CLI, _HIDDEN}]
