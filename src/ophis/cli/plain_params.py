"""Typer's parameter coercion without pydantic for the plain values a command line carries.

Typer (0.29 and later) checks every non-flag parameter through a pydantic ``TypeAdapter``:
importing pydantic and building the adapters costs a tenth of a second on every call, more
than most local commands take to run. Here a string, an integer, a path, a choice or a list
of them is converted directly, as typer's own adapter would convert it; anything else, and
every value the direct path cannot take, goes to typer's adapter, so its results and its
error messages stay typer's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from typer import _coercion, _param_types, core
from typer._click import Context

_typer_runtime_param = _coercion.build_runtime_param
_INTEGER = re.compile(r"[+-]?[0-9]+")


class _NotPlain(Exception):
    """The value needs typer's own (pydantic) coercion."""


@dataclass(frozen=True)
class PlainRuntimeParam(_coercion.RuntimeParam):
    descriptor: _coercion.TypeDescriptor

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        try:
            if get_origin(self.annotation) is list:
                (item,) = get_args(self.annotation)
                items = value if isinstance(value, (list, tuple)) else [value]
                return [self._leaf(item, one, param, ctx) for one in items]
            return self._leaf(self.annotation, value, param, ctx)
        except (_NotPlain, ValueError):
            typer_param = _typer_runtime_param(self.descriptor)
            return typer_param._coerce_value(value, param=param, ctx=ctx)

    def _leaf(self, annotation: Any, value: Any, param: Any, ctx: Context) -> Any:
        info = self.parameter_info
        if info.parser is not None:
            raise _NotPlain
        choice = _param_types.choice_coercion_annotation(annotation, info)
        if choice is not None:
            return _param_types.coerce_cli_choice(
                value, choices=choice[0], case_sensitive=choice[1], ctx=ctx
            )
        if annotation in (str, bool) and type(value) is annotation:
            return value
        if annotation is int and info.min is None and info.max is None:
            if type(value) is int:
                return value
            if isinstance(value, str) and _INTEGER.fullmatch(value):
                return int(value)
        if _param_types.routes_to_path(annotation, info):
            return self._path(annotation, value, param, ctx)
        raise _NotPlain

    def _path(self, annotation: Any, value: Any, param: Any, ctx: Context) -> Any:
        info = self.parameter_info
        path_type = info.path_type
        if path_type is None and _param_types.lenient_issubclass(annotation, Path):
            path_type = annotation
        if isinstance(path_type, type) and issubclass(path_type, Path):
            if not isinstance(value, str):
                raise _NotPlain
            value = path_type(value)
        return _param_types.coerce_cli_path(value, info, path_type=path_type, param=param, ctx=ctx)


def _runtime_param(descriptor: _coercion.TypeDescriptor) -> _coercion.RuntimeParam:
    if descriptor.file_annotation is not None:
        return _typer_runtime_param(descriptor)
    return PlainRuntimeParam(
        parameter_info=descriptor.parameter_info,
        annotation=descriptor.annotation,
        descriptor=descriptor,
    )


def use_plain_params() -> None:
    """Make typer's commands coerce plain values without pydantic (idempotent)."""
    core.build_runtime_param = _runtime_param
