"""``ophis config``: show and edit configuration, as ``conda config`` does."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ophis.cli.declared import declared
from ophis.cli.output import emit_json, fail
from ophis.core.errors import CondaValueError, OphisError
from ophis.manager import condarc
from ophis.manager import config as cfg
from ophis.manager import config_parameters as parameters

_PAIR_FLAGS = {"--add": "prepend", "--prepend": "prepend", "--append": "append", "--set": "set_",
               "--remove": "remove"}  # fmt: skip


if TYPE_CHECKING:
    import typer


def register(app: typer.Typer) -> None:
    import typer

    option = typer.Option
    command = declared(
        config,
        ctx=typer.Context,
        show=option(
            False, "--show", help="Show the computed values of KEYs (all when none are given)."
        ),
        show_sources=option(
            False, "--show-sources", help="Show every configuration source and what it sets."
        ),
        validate=option(False, "--validate", help="Check every source for errors."),
        describe=option(
            False, "--describe", help="Describe KEYs (all documented keys when none are given)."
        ),
        get=option(False, "--get", help="Print KEYs (all when none) as set in the chosen file."),
        system=option(False, "--system", help="Use the root prefix's .condarc."),
        env_file=option(
            False, "--env", help="Use the active environment's .condarc (else the user's)."
        ),
        file=option(None, "--file", help="Use this file."),
        json_output=option(False, "--json", help="Print JSON."),
    )
    app.command(
        "config",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(command)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


@dataclass
class _Edits:
    prepend: list[tuple[str, str]] = field(default_factory=list)
    append: list[tuple[str, str]] = field(default_factory=list)
    set_: list[tuple[str, str]] = field(default_factory=list)
    remove: list[tuple[str, str]] = field(default_factory=list)
    remove_key: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.prepend or self.append or self.set_ or self.remove or self.remove_key)


def _parse_rest(args: list[str]) -> tuple[list[str], _Edits]:
    """Split what click left over into KEYs and conda's two-value edit flags."""
    keys: list[str] = []
    edits = _Edits()
    index = 0
    while index < len(args):
        arg = args[index]
        flag, _, inline = arg.partition("=")
        if flag in _PAIR_FLAGS or flag == "--remove-key":
            wanted = 1 if flag == "--remove-key" else 2
            values = ([inline] if inline else []) + args[index + 1 : index + 1 + wanted]
            values = values[:wanted]
            index += 1 + wanted - (1 if inline else 0)
            if len(values) < wanted or any(v.startswith("--") for v in values):
                shape = "KEY" if wanted == 1 else "KEY VALUE"
                raise CondaValueError(
                    f"{flag} needs {shape}.", f"Usage: ophis config {flag} {shape}"
                )
            if wanted == 1:
                edits.remove_key.append(values[0])
            else:
                getattr(edits, _PAIR_FLAGS[flag]).append((values[0], values[1]))
            continue
        if arg.startswith("-"):
            raise CondaValueError(f"No such option: {arg}", "See 'ophis config --help'.")
        keys.append(arg)
        index += 1
    return keys, edits


def config(
    ctx: Any,  # Typer's Context; anything with the left-over ``args`` from the quick path
    show: bool = False,
    show_sources: bool = False,
    validate: bool = False,
    describe: bool = False,
    get: bool = False,
    system: bool = False,
    env_file: bool = False,
    file: Path | None = None,
    json_output: bool = False,
) -> None:
    """Show or change configuration values in .condarc files (like 'conda config').

    \b
    Edits (repeatable, applied in this order):
      --add/--prepend KEY VALUE   add VALUE to the top of list KEY
      --append KEY VALUE          add VALUE to the bottom of list KEY
      --set KEY VALUE             set a single-valued KEY (or MAP.NAME)
      --remove KEY VALUE          remove every VALUE from list KEY
      --remove-key KEY            remove KEY and all its values
    """
    env = dict(os.environ)
    try:
        keys, edits = _parse_rest(list(ctx.args))
        if sum((system, env_file, file is not None)) > 1:
            raise CondaValueError(
                "--system, --env and --file are mutually exclusive.", "Choose one of them."
            )
        if show_sources:
            _show_sources(cfg.load_config(env), json_output)
        elif show:
            _show(env, keys, file, json_output)
        elif describe:
            _describe(keys, json_output)
        elif validate:
            cfg.load_config(env)
            if json_output:
                emit_json({"success": True})
        else:
            rc_path = _rc_path(env, system, env_file, file)
            _edit(env, keys, get, edits, rc_path, json_output)
    except OphisError as error:
        fail(error, json_output)


def _rc_path(env: dict[str, str], system: bool, env_file: bool, file: Path | None) -> Path:
    if system:
        return cfg.system_rc_path(env)
    if env_file and env.get("CONDA_PREFIX"):
        return Path(env["CONDA_PREFIX"]) / ".condarc"
    if file is not None:
        return file
    return cfg.user_rc_path(env)


def _check_keys(keys: list[str]) -> list[str]:
    unknown = [k for k in keys if parameters.parameter_for(k) is None]
    if unknown:
        listed = "\n".join(f"  - {k}" for k in unknown)
        close = sorted({c for k in unknown for c in parameters.suggest_keys(k)})
        raise CondaValueError(
            f"Invalid configuration parameters: \n{listed}",
            f"Did you mean {', '.join(close)}?" if close else "See 'ophis config --describe'.",
        )
    return list(dict.fromkeys(parameters.parameter_for(k).name for k in keys))  # type: ignore[union-attr]


def _show(env: dict[str, str], keys: list[str], file: Path | None, as_json: bool) -> None:
    names = _check_keys(keys) if keys else None
    loaded = cfg.load_config(env, [file] if file is not None else None)
    settings = dict(sorted(loaded.to_json(names).items()))
    if as_json:
        # conda's JSON holds these as Channel objects, its text as URLs
        objects = loaded.channel_objects()
        emit_json({k: objects.get(k, v) for k, v in settings.items()})
    else:
        _out("\n".join(condarc.format_settings(settings)))


def _show_sources(loaded: cfg.Config, as_json: bool) -> None:
    if as_json:
        emit_json({s: _plain(v) for s, v in loaded.source_values.items()})
        return
    lines = []
    for source, values in loaded.source_values.items():
        lines.append(f"==> {source} <==")
        lines.extend(condarc.format_settings(values))
        lines.append("")
    _out("\n".join(lines))


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _describe(keys: list[str], as_json: bool) -> None:
    names = _check_keys(keys) if keys else [p.name for p in condarc.documented_parameters()]
    params = [parameters.PARAMETERS_BY_NAME[n] for n in names]
    if as_json:
        emit_json([condarc.describe_parameter(p) for p in sorted(params, key=lambda p: p.name)])
        return
    _out("\n".join(line for p in params for line in condarc.describe_lines(p)))


def _edit(
    env: dict[str, str], keys: list[str], get: bool, edits: _Edits, rc_path: Path, as_json: bool
) -> None:
    doc = condarc.read_rc_file(rc_path)
    warnings: list[str] = []
    got: dict[str, Any] = {}
    if get:
        cfg.load_config(env)  # conda validates every source first
        for key in keys or sorted(doc):
            param = parameters.parameter_for(key.split(".")[0])
            if param is None:
                message = f"Unknown key: {key!r}"
                if as_json:
                    warnings.append(message)
                else:
                    _err(message)
                continue
            name = ".".join([param.name, *key.split(".")[1:]])
            node: Any = doc
            for part in name.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                continue
            if as_json:
                got[name] = _plain(node)
            else:
                _out("\n".join(condarc.get_lines(name, node)))
    for pairs, at_top in ((edits.prepend, True), (edits.append, False)):
        for key, value in pairs:
            warnings += condarc.add_item(doc, key, value, prepend=at_top)
    for key, value in edits.set_:
        warnings += condarc.set_key(doc, key, value)
    for key, value in edits.remove:
        condarc.remove_item(doc, key, value)
    for key in edits.remove_key:
        condarc.remove_key(doc, key)
    if edits:
        condarc.write_rc_file(rc_path, doc)
    if as_json:
        emit_json({"success": True, "rc_path": str(rc_path), "warnings": warnings, "get": got})
    else:
        for message in warnings:
            _err(message)
