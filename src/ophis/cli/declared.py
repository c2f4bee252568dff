"""A plain function made a Typer command by declaring its parameters beside it.

The commands a shell or a script calls most are plain functions with plain defaults, so that
:mod:`ophis.cli.quick` can call them without importing Typer; their modules register them
with :func:`declared`, which gives Typer the options' names and help.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import types
from collections.abc import Callable
from typing import Any, get_args, get_origin


def declared(body: Callable[..., Any], **declarations: Any) -> Callable[..., Any]:
    """``body`` with each named parameter's default replaced by its Typer declaration (a
    ``typer.Option``/``typer.Argument``), or its annotation replaced when the declaration is
    a class (``ctx=typer.Context``). Typer sees ``X | None`` as ``X``, as it would see
    ``x: X = typer.Option(None, ...)``. A declaration whose default is not the body's own is
    refused: the quick path calls the body with its defaults, Typer with the declared ones."""
    signature = inspect.signature(body, eval_str=True)
    unknown = set(declarations) - set(signature.parameters)
    if unknown:
        raise TypeError(f"{body.__name__} has no parameters {sorted(unknown)}")
    parameters = []
    for parameter in signature.parameters.values():
        declaration = declarations.get(parameter.name)
        if isinstance(declaration, type):
            parameter = parameter.replace(annotation=declaration)
        elif declaration is not None:
            wanted = parameter.default if parameter.default is not inspect.Parameter.empty else ...
            if not _same_default(declaration.default, wanted):
                raise TypeError(
                    f"{body.__name__}({parameter.name}): Typer's default "
                    f"{declaration.default!r} is not the function's {wanted!r}"
                )
            parameter = parameter.replace(
                default=declaration, annotation=_without_none(parameter.annotation)
            )
        parameters.append(parameter)

    @functools.wraps(body)
    def command(*args: Any, **kwargs: Any) -> Any:
        return body(*args, **kwargs)

    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__annotations__["return"] = signature.return_annotation
    return command


def _same_default(declared_default: Any, own: Any) -> bool:
    """Typer's ``[]`` for a repeatable option is the function's ``()``: both say "none
    given" (a function's default is kept immutable)."""
    if declared_default == [] and own == ():
        return True
    return bool(declared_default == own)


def _without_none(annotation: Any) -> Any:
    """The type Typer reads: ``X`` for ``X | None``, ``list[X]`` for ``Sequence[X]``."""
    if isinstance(annotation, types.UnionType):
        kept = [a for a in get_args(annotation) if a is not type(None)]
        if len(kept) == 1:
            annotation = kept[0]
    if get_origin(annotation) is collections.abc.Sequence:
        return list[get_args(annotation)]  # type: ignore[misc]
    return annotation
