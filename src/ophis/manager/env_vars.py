"""An environment's own variables, set on activation: conda's ``conda-meta/state``.

conda keeps ``environment.yml``'s ``variables:`` (and ``conda env config vars set``) in
``<prefix>/conda-meta/state`` as ``{"env_vars": {"NAME": "value"}}``; packages can add theirs
as JSON files in ``<prefix>/etc/conda/env_vars.d/``. The environment's own win over the
packages'. A value of ``***unset***`` means "unset this variable on activation".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ophis.core.atomic_file import write_atomic
from ophis.core.errors import EnvironmentLocationNotFound, OphisError

STATE_FILE = Path("conda-meta") / "state"
PACKAGE_ENV_VARS_DIR = Path("etc") / "conda" / "env_vars.d"
#: conda's ``CONDA_ENV_VARS_UNSET_VAR``
UNSET_MARKER = "***unset***"


#: A name every shell can export. Activation writes names into shell code unquoted (no shell
#: quotes a variable's name), so a name like ``X=1; rm -rf ~; Y`` from an environment file or a
#: package's ``env_vars.d`` would run as code: such names are refused when written and skipped,
#: with a warning, when read.
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def invalid_variable_names(names: object) -> list[str]:
    """The names in ``names`` that are no shell variable name."""
    return [str(name) for name in names if not _VARIABLE_NAME.fullmatch(str(name))]


class InvalidVariableName(OphisError):
    """A variable name that is no shell identifier."""

    exception_name = "CondaValueError"

    @classmethod
    def of(cls, names: list[str]) -> InvalidVariableName:
        return cls(
            f"Invalid environment variable name(s): {', '.join(map(repr, names))}",
            "Use letters, digits and underscores only, not starting with a digit.",
        )


class EnvironmentStateError(OphisError):
    """``conda-meta/state`` or an ``env_vars.d`` file cannot be read."""

    exception_name = "CondaError"


def read_env_vars(prefix: Path) -> dict[str, str]:
    """The variables stored in the environment's state file (empty when it has none)."""
    variables = _read_state(Path(prefix) / STATE_FILE).get("env_vars", {})
    if not isinstance(variables, Mapping):
        raise _corrupt(Path(prefix) / STATE_FILE, "'env_vars' is not a mapping")
    return {str(k): str(v) for k, v in variables.items()}


def write_env_vars(prefix: Path, variables: Mapping[str, str]) -> None:
    """Replace the environment's stored variables with ``variables``, keeping the state file's
    other keys; written atomically, in conda's layout (``json.dump`` defaults)."""
    path = Path(prefix) / STATE_FILE
    if not path.parent.is_dir():
        raise EnvironmentLocationNotFound.at(prefix, "Create the environment before its variables.")
    if bad := invalid_variable_names(variables):
        raise InvalidVariableName.of(bad)
    state = _read_state(path)
    state["env_vars"] = {str(k): str(v) for k, v in variables.items()}
    write_atomic(path, json.dumps(state).encode("utf-8"), durable=True)


def environment_env_vars(prefix: Path) -> tuple[dict[str, str], list[str]]:
    """conda's ``_get_environment_env_vars``: the packages' variables (files in name order),
    then the state file's over them; and conda's warnings for each variable both define."""
    merged: dict[str, str] = {}
    directory = Path(prefix) / PACKAGE_ENV_VARS_DIR
    for path in sorted(directory.iterdir()) if directory.is_dir() else ():
        merged.update({str(k): str(v) for k, v in _read_json(path).items()})
    own = read_env_vars(prefix)
    warnings = [
        "WARNING: duplicate env vars detected. Vars from the environment will overwrite "
        f"those from packages\nvariable {name} duplicated"
        for name in merged
        if name in own
    ]
    variables = {**merged, **own}
    if bad := invalid_variable_names(variables):
        warnings.append(f"WARNING: skipping invalid environment variable name(s): {bad}")
        variables = {k: v for k, v in variables.items() if k not in bad}
    return variables, warnings


def _read_state(path: Path) -> dict[str, Any]:
    return _read_json(path) if path.is_file() else {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _corrupt(path, str(error)) from None
    if not isinstance(document, dict):
        raise _corrupt(path, "it is not a JSON object")
    return document


def _corrupt(path: Path, why: str) -> EnvironmentStateError:
    return EnvironmentStateError(
        f"Cannot read the environment variables in {path}: {why}",
        'Fix or delete that file; conda writes it as {"env_vars": {"NAME": "value"}}.',
    )
