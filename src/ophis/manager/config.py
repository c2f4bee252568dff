"""Configuration as conda reads it: ``.condarc`` files, ``CONDA_*`` variables, command line.

Sources, lowest precedence first (conda's ``SEARCH_PATH`` then ``envvars`` then ``cmd_line``):

* ``/etc/conda/{.condarc,condarc,condarc.d/}``, ``/var/lib/conda/...`` (``C:/ProgramData/conda``
  on Windows), ``$CONDA_ROOT/...``, ``$XDG_CONFIG_HOME/conda/...``, ``~/.config/conda/...``,
  ``~/.conda/...``, ``~/.condarc``, ``$CONDA_PREFIX/...``, ``$CONDARC``; a ``condarc.d``
  directory contributes its ``*.yml``/``*.yaml`` files in name order. Entries whose variable
  is unset are skipped. With ``CONDA_RESTRICT_RC_SEARCH_PATH`` set only ``$CONDARC`` is read.
* ``CONDA_<KEY>`` variables (``CONDA_CHANNELS=a,b``; ``CONDA_ENVS_PATH`` split on
  ``os.pathsep``; ``CONDA_PINNED_PACKAGES`` on ``&``). A trailing ``!important`` makes the
  variable final.
* command-line values (``overrides``).

Merging, per key, as conda does: a scalar takes the last source's value; a list concatenates
the sources with the later ones first and drops duplicates (``-c`` channels come before
``.condarc`` channels); a mapping merges key by key. A ``#!final`` comment after a key makes
that source the last one read for the key; ``#!top`` / ``#!bottom`` after a list item pin it
to the top or bottom of the merged list; ``#!final`` after a mapping entry fixes that entry.
Defaults apply only to keys no source sets.

Ophis's root prefix (conda's base install) is ``$OPHIS_ROOT_PREFIX``, else the ``root_prefix``
setting (``CONDA_ROOT_PREFIX``, or ``root_prefix``/``root_dir`` in a ``.condarc``), else
``~/.ophis``. ``$CONDA_ROOT`` in the search path is ``$CONDA_ROOT`` when set, else that root.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ophis.core.channel import DEFAULT_CHANNEL_ALIAS, DEFAULT_CHANNELS, ChannelContext
from ophis.core.errors import CondaValueError, ConfigurationError, OphisError
from ophis.core.platform import MachineFacts, detect_machine_facts, native_subdir, parse_subdir

ENV_VARS_SOURCE = "envvars"
CMD_LINE_SOURCE = "cmd_line"
DEFAULT_ROOT_DIRNAME = ".ophis"
_RC_NAMES = (".condarc", "condarc", "condarc.d")

# --- the parameters conda knows --------------------------------------------------------------

_BOOL_TRUE = frozenset({"true", "yes", "on", "y"})
_BOOL_FALSE = frozenset({"false", "no", "off", "n", "non", "none", ""})
_NULLS = frozenset({"none", "null", "~"})


class _Bad(ValueError):
    """A value that cannot be coerced; its message lists what is allowed."""


def _boolify(value: Any, nullable: bool = False, keep_string: bool = False) -> Any:
    if isinstance(value, bool | int | float):
        return bool(value)
    text = str(value).strip().lower()
    if text.replace(".", "", 1).isnumeric():
        return bool(float(text))
    if text in _BOOL_TRUE:
        return True
    if nullable and text in _NULLS:
        return None
    if text in _BOOL_FALSE:
        return False
    if keep_string and isinstance(value, str):
        return value
    raise _Bad(f"expected a boolean (true/false, yes/no, on/off, 1/0), got {value!r}")


def _scalar(value: Any) -> Any:
    if isinstance(value, Mapping | list | tuple):
        raise _Bad(f"expected a single value, got a {type(value).__name__}")
    return value


def _to_str(value: Any) -> str:
    return str(_scalar(value))


def _to_opt_str(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in _NULLS):
        return None
    return _to_str(value)


def _to_int(value: Any) -> int:
    try:
        return int(_scalar(value))
    except (TypeError, ValueError):
        raise _Bad(f"expected an integer, got {value!r}") from None


def _to_float(value: Any) -> float:
    try:
        return float(_scalar(value))
    except (TypeError, ValueError):
        raise _Bad(f"expected a number, got {value!r}") from None


def _to_bool_or_int(value: Any) -> bool | int:
    if isinstance(value, bool | int):
        return value
    text = str(_scalar(value)).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return _boolify(text)


def _choices(*allowed: str) -> Callable[[Any], str]:
    def coerce(value: Any) -> str:
        text = str(_scalar(value)).strip()
        if text not in allowed:
            raise _Bad(f"{value!r} is not one of {', '.join(repr(a) for a in allowed)}")
        return text

    coerce.allowed = allowed  # type: ignore[attr-defined]
    return coerce


_PRIORITIES = ("strict", "flexible", "disabled")


def _channel_priority(value: Any) -> str:
    """conda's ``ChannelPriority``: a name, or the old booleans (true → flexible)."""
    if isinstance(value, bool):
        return "flexible" if value else "disabled"
    text = str(_scalar(value)).strip()
    if text in _PRIORITIES:
        return text
    lowered = text.lower()
    if lowered in {"true", "yes", "on"}:
        return "flexible"
    if lowered in {"false", "no", "off"}:
        return "disabled"
    raise _Bad(f"{value!r} is not one of 'strict', 'flexible', 'disabled' (or true/false)")


_ELEMENTS: dict[str, Callable[[Any], Any]] = {
    "str": _to_str,
    "str?": _to_opt_str,
    "bool": lambda v: _boolify(_scalar(v)),
    "bool?": lambda v: None if v is None else _boolify(_scalar(v), nullable=True),
    "int": _to_int,
    "float": _to_float,
    "bool|int": _to_bool_or_int,
    "str|bool": lambda v: _boolify(_scalar(v), keep_string=True),
    "channel_priority": _channel_priority,
}
_TYPE_NAMES = {
    "str": ("str",),
    "str?": ("NoneType", "str"),
    "bool": ("bool",),
    "bool?": ("NoneType", "bool"),
    "int": ("int",),
    "float": ("float",),
    "bool|int": ("bool", "int"),
    "str|bool": ("bool", "str"),
    "channel_priority": ("ChannelPriority",),
}


@dataclass(frozen=True)
class Parameter:
    """One configuration key: its kind, element type, default, aliases and description."""

    name: str
    kind: str  # "primitive" | "sequence" | "map"
    element: str | Callable[[Any], Any]
    default: Any
    category: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    delimiter: str = ","
    expandvars: bool = False
    #: for maps: the kind of each value ("primitive" or "sequence")
    value_kind: str = "primitive"

    def coerce(self, value: Any) -> Any:
        element = self.element
        func = _ELEMENTS[element] if isinstance(element, str) else element
        return func(value)

    @property
    def allowed(self) -> tuple[str, ...] | None:
        return getattr(self.element, "allowed", None)

    @property
    def element_types(self) -> tuple[str, ...]:
        if isinstance(self.element, str):
            return _TYPE_NAMES[self.element]
        return ("str",)


_CHAN, _BASIC, _NET, _SOLVE = (
    "Channel Configuration",
    "Basic Conda Configuration",
    "Network Configuration",
    "Solver Configuration",
)
_LINK, _BUILD, _OUT, _CLI, _HIDDEN = (
    "Package Linking and Install-time Configuration",
    "Conda-build Configuration",
    "Output, Prompt, and Flow Control Configuration",
    "CLI-only",
    "Hidden and Undocumented",
)


def _p(name: str, kind: str, element: Any, default: Any, category: str, doc: str = "", **kw: Any):
    return Parameter(name, kind, element, default, category, doc, **kw)


_P = "primitive"
_S = "sequence"
_M = "map"
PARAMETERS: tuple[Parameter, ...] = (
    # channels
    _p(
        "channels",
        _S,
        "str",
        (),
        _CHAN,
        "Channels searched, highest priority first.",
        aliases=("channel",),
        expandvars=True,
    ),
    _p(
        "channel_alias",
        _P,
        "str",
        DEFAULT_CHANNEL_ALIAS,
        _CHAN,
        "URL prepended to channel names such as 'conda-forge'.",
        expandvars=True,
    ),
    _p(
        "channel_settings",
        _S,
        "map",
        (),
        _CHAN,
        "Per-channel overrides: a list of mappings, each with a 'channel' key.",
    ),
    _p(
        "default_channels",
        _S,
        "str",
        DEFAULT_CHANNELS,
        _CHAN,
        "The channels the 'defaults' multichannel stands for.",
        expandvars=True,
    ),
    _p(
        "override_channels_enabled",
        _P,
        "bool",
        True,
        _CHAN,
        "Whether --override-channels is allowed.",
    ),
    _p(
        "allowlist_channels",
        _S,
        "str",
        (),
        _CHAN,
        "When set, the only channels that may be used.",
        aliases=("whitelist_channels",),
        expandvars=True,
    ),
    _p(
        "denylist_channels", _S, "str", (), _CHAN, "Channels that may not be used.", expandvars=True
    ),
    _p(
        "custom_channels",
        _M,
        "str",
        {"pkgs/pro": "https://repo.anaconda.com"},
        _CHAN,
        "Channel name → the base URL it lives under (overrides channel_alias for it).",
        expandvars=True,
    ),
    _p(
        "custom_multichannels",
        _M,
        "str",
        {},
        _CHAN,
        "Name → list of channels it stands for.",
        expandvars=True,
        value_kind=_S,
    ),
    _p(
        "migrated_channel_aliases",
        _S,
        "str",
        (),
        _CHAN,
        "Old channel_alias values whose URLs are read as the current alias.",
    ),
    _p(
        "migrated_custom_channels",
        _M,
        "str",
        {},
        _CHAN,
        "Old locations of custom channels.",
        expandvars=True,
    ),
    _p(
        "add_anaconda_token",
        _P,
        "bool",
        True,
        _CHAN,
        "Send the token saved by 'anaconda login' to matching channels.",
        aliases=("add_binstar_token",),
    ),
    _p(
        "allow_non_channel_urls",
        _P,
        "bool",
        False,
        _CHAN,
        "Warn rather than fail when a URL is not a valid channel.",
    ),
    _p(
        "repodata_fns",
        _S,
        "str",
        ("current_repodata.json", "repodata.json"),
        _CHAN,
        "Repodata file names to try, in order.",
    ),
    _p("use_only_tar_bz2", _P, "bool?", None, _CHAN, "Use only .tar.bz2 packages."),
    _p("repodata_threads", _P, "int", 0, _CHAN, "Threads fetching repodata (0: default)."),
    _p("fetch_threads", _P, "int", 0, _CHAN, "Threads downloading packages (0: default)."),
    _p("experimental", _S, "str", (), _CHAN, "Experimental features to turn on."),
    _p("no_lock", _P, "bool", False, _CHAN, "Do not lock the repodata cache."),
    _p("repodata_use_zst", _P, "bool", True, _CHAN, "Fetch repodata.json.zst when offered."),
    _p("repodata_use_shards", _P, "bool", False, _CHAN, "Fetch sharded repodata when offered."),
    # basic
    _p(
        "envs_dirs",
        _S,
        "str",
        (),
        _BASIC,
        "Directories holding named environments; new ones go in the first writable.",
        aliases=("envs_path",),
        delimiter=os.pathsep,
        expandvars=True,
    ),
    _p(
        "pkgs_dirs",
        _S,
        "str",
        (),
        _BASIC,
        "Package cache directories; the first writable is used.",
        expandvars=True,
    ),
    _p("default_threads", _P, "int", 0, _BASIC, "Threads for parallel work (0: choose)."),
    # network
    _p(
        "client_ssl_cert",
        _P,
        "str?",
        None,
        _NET,
        "Client certificate file (PEM).",
        aliases=("client_cert",),
        expandvars=True,
    ),
    _p(
        "client_ssl_cert_key",
        _P,
        "str?",
        None,
        _NET,
        "Key for client_ssl_cert.",
        aliases=("client_cert_key",),
        expandvars=True,
    ),
    _p(
        "local_repodata_ttl",
        _P,
        "bool|int",
        1,
        _NET,
        "Seconds to trust cached repodata; 1/true honours Cache-Control, 0/false refetches.",
    ),
    _p("offline", _P, "bool", False, _NET, "Use only cached and file:// packages."),
    _p("proxy_servers", _M, "str?", {}, _NET, "Scheme or host → proxy URL.", expandvars=True),
    _p("remote_connect_timeout_secs", _P, "float", 9.15, _NET, "Connect timeout, seconds."),
    _p("remote_max_retries", _P, "int", 3, _NET, "Retries of a failed request."),
    _p("remote_backoff_factor", _P, "float", 1, _NET, "Backoff factor between retries."),
    _p("remote_read_timeout_secs", _P, "float", 60.0, _NET, "Read timeout, seconds."),
    _p(
        "ssl_verify",
        _P,
        "str|bool",
        True,
        _NET,
        "Verify TLS: true, false, a CA bundle path, or 'truststore'.",
        aliases=("verify_ssl",),
        expandvars=True,
    ),
    # solver
    _p(
        "aggressive_update_packages",
        _S,
        "str",
        ("ca-certificates", "certifi", "openssl"),
        _SOLVE,
        "Packages always updated to the latest version when installed.",
    ),
    _p(
        "auto_update_conda",
        _P,
        "bool",
        True,
        _SOLVE,
        "Update conda when possible.",
        aliases=("self_update",),
    ),
    _p(
        "channel_priority",
        _P,
        "channel_priority",
        "flexible",
        _SOLVE,
        "'strict', 'flexible' or 'disabled'; true means 'flexible', false 'disabled'.",
    ),
    _p(
        "create_default_packages", _S, "str", (), _SOLVE, "Packages added to every new environment."
    ),
    _p(
        "disallowed_packages",
        _S,
        "str",
        (),
        _SOLVE,
        "Specs that may never be installed.",
        aliases=("disallow",),
        delimiter="&",
    ),
    _p("force_reinstall", _P, "bool", False, _SOLVE, "Reinstall requested packages."),
    _p("pinned_packages", _S, "str", (), _SOLVE, "Specs every solve must respect.", delimiter="&"),
    _p(
        "prefix_data_interoperability",
        _P,
        "bool",
        False,
        _SOLVE,
        "Take pip-installed packages into account.",
        aliases=("pip_interop_enabled",),
    ),
    _p("track_features", _S, "str", (), _SOLVE, "Features to track in every solve."),
    _p(
        "solver",
        _P,
        "str",
        "libmamba",
        _SOLVE,
        "The solver backend.",
        aliases=("experimental_solver",),
    ),
    # linking
    _p(
        "allow_softlinks",
        _P,
        "bool",
        False,
        _LINK,
        "Symlink files when hard links are impossible (instead of copying).",
    ),
    _p(
        "always_copy",
        _P,
        "bool",
        False,
        _LINK,
        "Copy files instead of hard-linking.",
        aliases=("copy",),
    ),
    _p(
        "always_softlink",
        _P,
        "bool",
        False,
        _LINK,
        "Symlink files instead of hard-linking.",
        aliases=("softlink",),
    ),
    _p(
        "path_conflict",
        _P,
        _choices("clobber", "warn", "prevent"),
        "clobber",
        _LINK,
        "What to do when two packages write the same file.",
    ),
    _p("rollback_enabled", _P, "bool", True, _LINK, "Roll back a failed transaction."),
    _p(
        "safety_checks",
        _P,
        _choices("disabled", "warn", "enabled"),
        "warn",
        _LINK,
        "Check package file hashes and sizes while linking.",
    ),
    _p("extra_safety_checks", _P, "bool", False, _LINK, "Also check hashes of every file."),
    _p(
        "signing_metadata_url_base",
        _P,
        "str?",
        None,
        _LINK,
        "Base URL of package signing metadata.",
    ),
    _p("shortcuts", _P, "bool", True, _LINK, "Create menu shortcuts."),
    _p(
        "shortcuts_only",
        _S,
        "str",
        (),
        _LINK,
        "Create shortcuts only for these packages.",
        expandvars=True,
    ),
    _p("non_admin_enabled", _P, "bool", True, _LINK, "Allow non-admin installs (Windows)."),
    _p(
        "separate_format_cache",
        _P,
        "bool",
        False,
        _LINK,
        "Cache .conda and .tar.bz2 of one package separately.",
    ),
    _p("verify_threads", _P, "int", 0, _LINK, "Threads verifying packages (0: 1)."),
    _p("execute_threads", _P, "int", 0, _LINK, "Threads linking packages (0: 1)."),
    # build
    _p("bld_path", _P, "str", "", _BUILD, "Where conda-build puts packages."),
    _p("croot", _P, "str", "", _BUILD, "conda-build root (wins over bld_path)."),
    _p(
        "anaconda_upload",
        _P,
        "bool?",
        None,
        _BUILD,
        "Upload built packages.",
        aliases=("binstar_upload",),
    ),
    _p("conda_build", _M, "str", {}, _BUILD, "conda-build settings.", aliases=("conda-build",)),
    # output
    _p(
        "always_yes", _P, "bool?", None, _OUT, "Answer yes to every confirmation.", aliases=("yes",)
    ),
    _p(
        "auto_activate",
        _P,
        "bool",
        True,
        _OUT,
        "Activate default_activation_env at start.",
        aliases=("auto_activate_base",),
    ),
    _p(
        "default_activation_env",
        _P,
        "str",
        "base",
        _OUT,
        "Environment activated at shell start and by a bare 'activate'.",
    ),
    _p("auto_stack", _P, "int", 0, _OUT, "Stack activations up to this depth."),
    _p("changeps1", _P, "bool", True, _OUT, "Show the active environment in the prompt."),
    _p(
        "env_prompt",
        _P,
        "str",
        "({default_env}) ",
        _OUT,
        "Prompt template: {prefix}, {name}, {default_env}.",
    ),
    _p("json", _P, "bool", False, _OUT, "Print JSON."),
    _p("console", _P, "str", "classic", _OUT, "Console reporter backend."),
    _p("notify_outdated_conda", _P, "bool", True, _OUT, "Say when conda is outdated."),
    _p("quiet", _P, "bool", False, _OUT, "Print less."),
    _p("report_errors", _P, "bool?", None, _OUT, "Send error reports."),
    _p("show_channel_urls", _P, "bool?", None, _OUT, "Show channel URLs in listings."),
    _p("verbosity", _P, "int", 0, _OUT, "Verbosity level, 0-4.", aliases=("verbose",)),
    _p("unsatisfiable_hints", _P, "bool", True, _OUT, "Explain unsatisfiable solves."),
    _p("unsatisfiable_hints_check_depth", _P, "int", 2, _OUT, "Depth of those hints."),
    _p("number_channel_notices", _P, "int", 5, _OUT, "Channel notices shown at most."),
    _p(
        "envvars_force_uppercase",
        _P,
        "bool",
        True,
        _OUT,
        "Upper-case environment variable names set with 'env config vars'.",
    ),
    _p(
        "export_platforms",
        _S,
        "str",
        (),
        _OUT,
        "Extra platforms for 'env export'.",
        aliases=("extra_platforms",),
    ),
    _p(
        "override_virtual_packages",
        _M,
        "str?",
        {},
        _OUT,
        "Virtual package name → version to report instead of the detected one.",
    ),
    # CLI-only
    _p("deps_modifier", _P, _choices("not_set", "no_deps", "only_deps"), "not_set", _CLI),
    _p(
        "update_modifier",
        _P,
        _choices(
            "update_specs",
            "freeze_installed",
            "update_deps",
            "update_all",
            "specs_satisfied_skip_solve",
        ),
        "update_specs",
        _CLI,
    ),
    _p("force", _P, "bool", False, _CLI),
    _p("force_remove", _P, "bool", False, _CLI),
    _p("clobber", _P, "bool", False, _CLI),
    _p("dry_run", _P, "bool", False, _CLI),
    _p("download_only", _P, "bool", False, _CLI),
    _p("ignore_pinned", _P, "bool", False, _CLI),
    _p("use_index_cache", _P, "bool", False, _CLI),
    _p("use_local", _P, "bool", False, _CLI),
    # hidden
    _p("allow_cycles", _P, "bool", True, _HIDDEN),
    _p("allow_conda_downgrades", _P, "bool", False, _HIDDEN),
    _p("add_pip_as_python_dependency", _P, "bool", True, _HIDDEN),
    _p("debug", _P, "bool", False, _HIDDEN),
    _p("trace", _P, "bool", False, _HIDDEN),
    _p("dev", _P, "bool", False, _HIDDEN),
    _p("enable_private_envs", _P, "bool", False, _HIDDEN),
    _p("force_32bit", _P, "bool", False, _HIDDEN),
    _p("root_prefix", _P, "str", "", _HIDDEN, aliases=("root_dir",)),
    _p("solver_ignore_timestamps", _P, "bool", False, _HIDDEN),
    _p("subdir", _P, "str", "", _HIDDEN),
    _p("subdirs", _S, "str", (), _HIDDEN),
    _p("target_prefix_override", _P, "str", "", _HIDDEN),
    _p("register_envs", _P, "bool", True, _HIDDEN),
    _p("protect_frozen_envs", _P, "bool", True, _HIDDEN),
)
PARAMETERS_BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}
_ALIASES: dict[str, str] = {a: p.name for p in PARAMETERS for a in p.aliases}


def parameter_for(key: str) -> Parameter | None:
    """The parameter a key or alias names (``envs_path`` → ``envs_dirs``), or None."""
    name = _ALIASES.get(key, key)
    return PARAMETERS_BY_NAME.get(name)


def suggest_keys(key: str) -> list[str]:
    """Known names close to a misspelt key, best first."""
    return difflib.get_close_matches(key, [*PARAMETERS_BY_NAME, *_ALIASES], n=3, cutoff=0.6)


def unknown_key_error(key: str, what: str = "unknown parameter") -> ConfigurationError:
    close = suggest_keys(key.split(".")[0])
    remedy = (
        f"Did you mean {' or '.join(repr(c) for c in close)}?"
        if close
        else "Run 'ophis config --describe' to list the known keys."
    )
    return CondaKeyError(key, what, remedy)


class CondaKeyError(ConfigurationError):
    """A configuration key that is unknown, of the wrong kind, or absent from the file."""

    exception_name = "CondaKeyError"

    def __init__(self, key: str, what: str, remedy: str = "") -> None:
        super().__init__(f"{key!r}: {what}", remedy)
        self.key = key


# --- where the files are --------------------------------------------------------------------


def home_dir(env: Mapping[str, str]) -> Path:
    """``$HOME`` (``%USERPROFILE%`` on Windows) from ``env``; the account's home otherwise."""
    home = env.get("HOME") or (env.get("USERPROFILE") if sys.platform == "win32" else None)
    return Path(home) if home else Path.home()


def bootstrap_root_prefix(env: Mapping[str, str]) -> Path:
    """The root prefix before any file is read: OPHIS_ROOT_PREFIX, CONDA_ROOT_PREFIX, ~/.ophis."""
    for name in ("OPHIS_ROOT_PREFIX", "CONDA_ROOT_PREFIX"):
        if env.get(name):
            return _expand(env[name], env)
    return home_dir(env) / DEFAULT_ROOT_DIRNAME


def user_rc_path(env: Mapping[str, str]) -> Path:
    """conda's ``user_rc_path``: ``~/.condarc`` (``conda config`` writes there, not $CONDARC)."""
    return home_dir(env) / ".condarc"


def system_rc_path(env: Mapping[str, str]) -> Path:
    """conda's ``sys_rc_path``: the root prefix's ``.condarc``."""
    return bootstrap_root_prefix(env) / ".condarc"


def default_search_path(
    env: Mapping[str, str],
    root_prefix: Path | None = None,
    target_prefix: Path | None = None,
) -> list[Path]:
    """conda's ``SEARCH_PATH``, with unset variables' entries left out.

    ``target_prefix`` stands for ``$CONDA_PREFIX`` (conda uses the ``-n``/``-p`` target).
    """
    condarc = env.get("CONDARC")
    if "CONDA_RESTRICT_RC_SEARCH_PATH" in env:
        return [Path(condarc)] if condarc else []
    home = home_dir(env)
    bases: list[Path | None] = (
        [Path("C:/ProgramData/conda")]
        if sys.platform == "win32"
        else [Path("/etc/conda"), Path("/var/lib/conda")]
    )
    conda_root = env.get("CONDA_ROOT")
    bases.append(Path(conda_root) if conda_root else (root_prefix or bootstrap_root_prefix(env)))
    xdg = env.get("XDG_CONFIG_HOME")
    bases.append(Path(xdg) / "conda" if xdg else None)
    bases += [home / ".config" / "conda", home / ".conda"]
    paths = [base / name for base in bases if base is not None for name in _RC_NAMES]
    paths.append(home / ".condarc")
    prefix = target_prefix or (Path(env["CONDA_PREFIX"]) if env.get("CONDA_PREFIX") else None)
    if prefix is not None:
        paths += [prefix / name for name in _RC_NAMES]
    if condarc:
        paths.append(Path(condarc))
    return paths


# --- reading files --------------------------------------------------------------------------


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.default_flow_style = False
    yaml.width = 4096
    return yaml


def _flag(comment: Any) -> str | None:
    """conda's ``ParameterFlag``: ``#!final``, ``#!top``, ``#!bottom`` in a comment token."""
    value = getattr(comment, "value", None)
    if not value:
        return None
    first_line = value.strip().splitlines()[0].strip()
    word = first_line.strip("!#").strip()
    return word if word in {"final", "top", "bottom"} else None


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class _Raw:
    """One source's value for one key, with conda's priority flags."""

    source: str
    key: str
    value: Any
    final: bool = False
    #: list: a flag per item; map: entry key → flag
    flags: Any = None


def _load_yaml_text(text: str, source: str) -> Any:
    try:
        return _yaml().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or error.context or "invalid YAML"
        raise ConfigurationError(
            f"Unable to load configuration file {source}: invalid YAML{where}: {problem}",
            "Fix the YAML syntax of that file (run 'ophis config --validate' to check).",
        ) from None
    except YAMLError as error:
        raise ConfigurationError(
            f"Unable to load configuration file {source}: {error}",
            "Fix the YAML syntax of that file.",
        ) from None


def _raw_from_document(doc: Any, source: str) -> dict[str, _Raw]:
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise ConfigurationError(
            f"Unable to load configuration file {source}: the top level must be a mapping "
            f"of keys to values, not a {type(doc).__name__}",
            "Write the file as 'key: value' lines.",
        )
    raws = {}
    for key, value in doc.items():
        comment = doc.ca.items.get(key) if isinstance(doc, CommentedMap) else None
        key_flag = _flag(comment[2]) if comment else None
        flags: Any = None
        if isinstance(value, CommentedSeq):
            flags = []
            for i in range(len(value)):
                item = value.ca.items.get(i)
                token = None
                if item:
                    token = item[0] or (item[1][0] if item[1] else None)
                flags.append(_flag(token))
        elif isinstance(value, CommentedMap):
            flags = {str(k): _flag(value.ca.items.get(k, [None] * 3)[2]) for k in value}
        raws[str(key)] = _Raw(source, str(key), _plain(value), key_flag == "final", flags)
    return raws


def read_rc_sources(search_path: Iterable[Path]) -> dict[str, dict[str, _Raw]]:
    """Each existing file of the search path (directories: their ``*.yml``/``*.yaml``)."""
    loaded: dict[str, dict[str, _Raw]] = {}
    for path in search_path:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in {".yml", ".yaml"})
        elif path.is_file():
            files = [path]
        else:
            continue
        for file in files:
            key = str(file)
            if key in loaded:
                continue
            loaded[key] = _raw_from_document(_load_yaml_text(file.read_text("utf-8"), key), key)
    return loaded


def _raw_from_env(env: Mapping[str, str]) -> dict[str, _Raw]:
    raws = {}
    for name, value in env.items():
        if not name.startswith("CONDA_"):
            continue
        key = name[len("CONDA_") :].lower()
        if parameter_for(key) is None:
            continue  # CONDA_PREFIX, CONDA_SHLVL, ...: not settings
        text, important, _ = value.partition("!important")
        raws[key] = _Raw(ENV_VARS_SOURCE, key, text if important else value, bool(important))
    return raws


def _split_env(raw: _Raw, param: Parameter) -> _Raw:
    """A ``CONDA_*`` value for a list parameter is split on its delimiter."""
    if raw.source == ENV_VARS_SOURCE and param.kind == _S and isinstance(raw.value, str):
        items = [v.strip() for v in raw.value.split(param.delimiter)]
        return _Raw(raw.source, raw.key, [v for v in items if v], raw.final, None)
    return raw


# --- typing and merging ---------------------------------------------------------------------

_VAR_RE = re.compile(r"\$(\w+|\{[^}]*\})")


def _expandvars(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip("{}")
        return env.get(name, match.group(0))

    return _VAR_RE.sub(replace, text) if "$" in text else text


def _expand(path: str, env: Mapping[str, str]) -> Path:
    """conda's ``expand``: variables, ``~``, then an absolute path."""
    text = _expandvars(path, env)
    if text == "~" or text.startswith(("~/", "~\\")):
        text = str(home_dir(env)) + text[1:]
    return Path(os.path.abspath(text))


def _describe_source(source: str) -> str:
    if source == ENV_VARS_SOURCE:
        return "the environment (CONDA_* variables)"
    if source == CMD_LINE_SOURCE:
        return "the command line"
    return source


def _bad_value(param: Parameter, raw: _Raw, value: Any, why: str) -> ConfigurationError:
    shown = f"CONDA_{raw.key.upper()}" if raw.source == ENV_VARS_SOURCE else raw.key
    allowed = param.allowed or (_PRIORITIES if param.element == "channel_priority" else None)
    remedy = (
        f"Valid choices for {param.name}: {', '.join(repr(a) for a in allowed)}."
        if allowed
        else f"{param.name} takes {' or '.join(param.element_types)}"
        + (" items" if param.kind != _P else "")
        + "."
    )
    return ConfigurationError(
        f"Parameter {shown} = {value!r} declared in {_describe_source(raw.source)} is invalid: "
        f"{why}",
        remedy,
    )


def _typed(param: Parameter, raw: _Raw, env: Mapping[str, str]) -> Any:
    """One source's value, typed; a bad value names the source, key, value and what is allowed."""

    def one(value: Any, coerce: Callable[[Any], Any] = param.coerce) -> Any:
        if param.expandvars and isinstance(value, str):
            value = _expandvars(value, env)
        try:
            return coerce(value)
        except _Bad as error:
            raise _bad_value(param, raw, value, str(error)) from None

    value = raw.value
    if param.kind == _P:
        return one(value)
    if param.kind == _S:
        if not isinstance(value, list | tuple):
            raise _bad_value(param, raw, value, f"expected a list, got a {type(value).__name__}")
        if param.element == "map":
            out = []
            for item in value:
                if not isinstance(item, Mapping):
                    raise _bad_value(param, raw, item, "each item must be a mapping")
                out.append({str(k): one(v, _to_str) for k, v in item.items()})
            return tuple(out)
        return tuple(one(v) for v in value)
    if not isinstance(value, Mapping):
        raise _bad_value(param, raw, value, f"expected a mapping, got a {type(value).__name__}")
    if param.value_kind == _S:
        result = {}
        for k, v in value.items():
            if not isinstance(v, list | tuple):
                raise _bad_value(param, raw, v, f"the value of {k!r} must be a list")
            result[k] = tuple(one(i) for i in v)
        return result
    return {k: one(v) for k, v in value.items()}


def _unique(items: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _merge_sequences(matches: Sequence[tuple[_Raw, tuple]]) -> tuple:
    """conda's ``SequenceLoadedParameter.merge`` (later sources first; #!top / #!bottom)."""

    def marked(raw: _Raw, values: tuple, marker: str) -> list:
        flags = raw.flags or [None] * len(values)
        return [v for v, f in zip(values, flags, strict=False) if f == marker]

    top = [v for raw, values in matches for v in marked(raw, values, "top")]
    bottom = [v for raw, values in reversed(matches) for v in marked(raw, values, "bottom")]
    everything = [v for _, values in reversed(matches) for v in values]
    top_deduped = _unique([*top, *everything])
    bottom_deduped = _unique([*reversed(bottom), *reversed(top_deduped)])
    return tuple(reversed(bottom_deduped))


def _merge_maps(param: Parameter, matches: Sequence[tuple[_Raw, dict]]) -> dict:
    """conda's ``MapLoadedParameter.merge``: per entry; ``#!final`` entries win, earliest first."""
    final: dict[str, Any] = {}
    for raw, values in reversed(matches):
        for k, v in values.items():
            if isinstance(raw.flags, Mapping) and raw.flags.get(k) == "final":
                final[k] = v
    grouped: dict[str, list[tuple[_Raw, Any]]] = {}
    for raw, values in matches:
        for k, v in values.items():
            grouped.setdefault(k, []).append((raw, v))
    merged = {}
    for k, entries in grouped.items():
        if param.value_kind == _S:
            merged[k] = _merge_sequences([(_Raw(r.source, k, v), v) for r, v in entries])
        else:
            merged[k] = entries[-1][1]
    return {**merged, **final}


def _relevant(matches: list[tuple[_Raw, Any]]) -> list[tuple[_Raw, Any]]:
    for index, (raw, _) in enumerate(matches):
        if raw.final:
            return matches[: index + 1]
    return matches


# --- the result -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The merged configuration. ``values`` holds every parameter by its canonical name."""

    channels: tuple[str, ...]
    default_channels: tuple[str, ...]
    channel_alias: str
    custom_channels: Mapping[str, str]
    custom_multichannels: Mapping[str, tuple[str, ...]]
    migrated_channel_aliases: tuple[str, ...]
    migrated_custom_channels: Mapping[str, str]
    channel_priority: str
    channel_settings: tuple[Mapping[str, str], ...]
    override_channels_enabled: bool
    allowlist_channels: tuple[str, ...]
    denylist_channels: tuple[str, ...]
    add_pip_as_python_dependency: bool
    repodata_fns: tuple[str, ...]
    use_only_tar_bz2: bool | None
    pkgs_dirs: tuple[Path, ...]
    envs_dirs: tuple[Path, ...]
    root_prefix: Path
    subdir: str
    subdirs: tuple[str, ...]
    always_yes: bool | None
    dry_run: bool
    json: bool
    offline: bool
    quiet: bool
    ssl_verify: bool | str
    proxy_servers: Mapping[str, str | None]
    client_ssl_cert: str | None
    client_ssl_cert_key: str | None
    pinned_packages: tuple[str, ...]
    track_features: tuple[str, ...]
    create_default_packages: tuple[str, ...]
    aggressive_update_packages: tuple[str, ...]
    disallowed_packages: tuple[str, ...]
    update_modifier: str
    deps_modifier: str
    solver: str
    allow_softlinks: bool
    always_copy: bool
    always_softlink: bool
    path_conflict: str
    safety_checks: str
    extra_safety_checks: bool
    remote_connect_timeout_secs: float
    remote_read_timeout_secs: float
    remote_max_retries: int
    remote_backoff_factor: float
    local_repodata_ttl: bool | int
    auto_update_conda: bool
    notify_outdated_conda: bool
    changeps1: bool
    env_prompt: str
    default_threads: int | None
    fetch_threads: int | None
    repodata_threads: int | None
    verify_threads: int
    execute_threads: int
    report_errors: bool | None
    number_channel_notices: int
    override_virtual_packages: Mapping[str, str | None]
    use_local: bool
    show_channel_urls: bool | None
    verbosity: int
    values: Mapping[str, Any] = field(repr=False)
    #: key → the sources that gave it a value, lowest precedence first
    sources: Mapping[str, tuple[str, ...]] = field(repr=False)
    #: source (file path, "envvars", "cmd_line") → {key as written: typed value}
    source_values: Mapping[str, Mapping[str, Any]] = field(repr=False)
    search_path: tuple[Path, ...] = field(repr=False)
    #: unknown keys found in files (conda ignores them)
    warnings: tuple[str, ...] = ()

    def get(self, key: str) -> Any:
        """A setting by name or alias, with Ophis's derived values (dirs, subdir, threads)."""
        param = parameter_for(key)
        if param is None:
            raise unknown_key_error(key)
        if param.name in _FIELD_NAMES:
            return getattr(self, param.name)
        return self.values[param.name]

    def channel_context(self, cwd: str | None = None) -> ChannelContext:
        return ChannelContext(
            channel_alias=self.channel_alias,
            default_channels=self.default_channels,
            custom_channels=dict(self.custom_channels),
            custom_multichannels={k: tuple(v) for k, v in self.custom_multichannels.items()},
            migrated_channel_aliases=self.migrated_channel_aliases,
            migrated_custom_channels=dict(self.migrated_custom_channels),
            root_dir=cwd,
            home_dir=str(Path(self.values.get("_home", "~"))),
            subdirs=self.subdirs,
        )

    def to_json(self, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """``conda config --show --json``: every parameter (or ``keys``), JSON-ready."""
        names = sorted(PARAMETERS_BY_NAME) if keys is None else list(keys)
        return {name: _jsonable(self.get(name)) for name in names}


_FIELD_NAMES = frozenset(
    f.name for f in fields(Config) if f.name not in {"values", "sources", "source_values"}
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _root_writable(root: Path) -> bool:
    probe = root
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return os.access(probe, os.W_OK)


def load_config(
    env: Mapping[str, str],
    search_path: Sequence[Path | str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    override_channels: bool = False,
    target_prefix: Path | None = None,
    machine: MachineFacts | None = None,
) -> Config:
    """Read configuration as conda does: files < ``CONDA_*`` variables < ``overrides``.

    ``search_path`` None means :func:`default_search_path`. ``overrides`` are command-line
    values by parameter name (``{"channels": ["conda-forge"], "offline": True}``); with
    ``override_channels`` only their channels are used (conda's ``--override-channels``).
    ``machine`` supplies the native subdir (detected when needed and not given).
    """
    paths = (
        default_search_path(env, target_prefix=target_prefix)
        if search_path is None
        else [Path(p) for p in search_path]
    )
    _check_condarc_name(env)
    sources = read_rc_sources(paths)
    sources[ENV_VARS_SOURCE] = _raw_from_env(env)
    sources[CMD_LINE_SOURCE] = {
        k: _Raw(CMD_LINE_SOURCE, k, list(v) if isinstance(v, tuple) else v)
        for k, v in (overrides or {}).items()
        if v is not None
    }
    warnings = [
        f"Unknown key {key!r} in {source}"
        for source, raws in sources.items()
        for key in raws
        if parameter_for(key) is None
    ]
    values: dict[str, Any] = {}
    given: dict[str, tuple[str, ...]] = {}
    source_values: dict[str, dict[str, Any]] = {}
    for param in PARAMETERS:
        names = {param.name, *param.aliases}
        matches: list[tuple[_Raw, Any]] = []
        for source, raws in sources.items():
            present = [n for n in raws if n in names]
            if len(present) > 1:
                raise ConfigurationError(
                    f"Multiple aliased keys in {_describe_source(source)}: "
                    f"{', '.join(sorted(present))}",
                    f"Declare only one; prefer {param.name!r}.",
                )
            if not present:
                continue
            raw = _split_env(raws[present[0]], param)
            if raw.value is None and param.kind != _P:
                continue  # conda ignores ``channels: ~``
            typed = _typed(param, raw, env)
            source_values.setdefault(source, {})[raw.key] = typed
            matches.append((raw, typed))
        if not matches:
            values[param.name] = param.default
            continue
        relevant = _relevant(matches)
        given[param.name] = tuple(raw.source for raw, _ in relevant)
        if param.kind == _P:
            values[param.name] = relevant[-1][1]
        elif param.kind == _S:
            values[param.name] = _merge_sequences(relevant)
        else:
            values[param.name] = _merge_maps(param, relevant)
    ordered = {s: source_values[s] for s in sources if source_values.get(s)}
    return _derive(values, given, ordered, env, paths, warnings, override_channels, machine)


def _check_condarc_name(env: Mapping[str, str]) -> None:
    condarc = env.get("CONDARC")
    if not condarc:
        return
    name = Path(condarc).name
    if not (name.endswith((".yml", ".yaml")) or "condarc" in name or Path(condarc).is_dir()):
        raise ConfigurationError(
            f"CONDARC={condarc} does not name a configuration file",
            "conda reads $CONDARC only when its name contains 'condarc' or ends with "
            ".yml/.yaml; rename the file (e.g. to 'condarc').",
        )


def _derive(
    values: dict[str, Any],
    given: dict[str, tuple[str, ...]],
    source_values: dict[str, dict[str, Any]],
    env: Mapping[str, str],
    paths: Sequence[Path],
    warnings: list[str],
    override_channels: bool,
    machine: MachineFacts | None,
) -> Config:
    home = home_dir(env)
    if env.get("OPHIS_ROOT_PREFIX"):
        root = _expand(env["OPHIS_ROOT_PREFIX"], env)
    elif values["root_prefix"]:
        root = _expand(values["root_prefix"], env)
    else:
        root = home / DEFAULT_ROOT_DIRNAME
    fixed_envs = [root / "envs", home / ".conda" / "envs"]
    if not _root_writable(root):
        fixed_envs.reverse()
    envs_dirs = tuple(_unique([*(_expand(p, env) for p in values["envs_dirs"]), *fixed_envs]))
    pkgs_dirs = tuple(
        _unique(_expand(p, env) for p in values["pkgs_dirs"])
        if values["pkgs_dirs"]
        else [root / "pkgs", home / ".conda" / "pkgs"]
    )

    subdir = values["subdir"].strip()
    try:
        subdir = (
            parse_subdir(subdir)
            if subdir
            else native_subdir(machine or detect_machine_facts(cuda=False))
        )
    except OphisError as error:
        origin = given.get("subdir", ("the machine",))[-1]
        raise ConfigurationError(
            f"subdir {values['subdir']!r} from {_describe_source(origin)} is invalid: "
            f"{error.message}",
            error.remedy,
        ) from None
    subdirs = tuple(values["subdirs"]) or (subdir, "noarch")

    default_channels = tuple(values["default_channels"])
    if subdir.startswith("win-") and default_channels == DEFAULT_CHANNELS:
        default_channels = (*DEFAULT_CHANNELS, "https://repo.anaconda.com/pkgs/msys2")

    local = ("local",) if values["use_local"] else ()
    channels = (*local, *values["channels"])
    if override_channels:
        if not values["override_channels_enabled"]:
            raise CondaValueError(
                "Overriding channels has been disabled.",
                "Remove --override-channels, or set override_channels_enabled: true.",
            )
        cli = given.get("channels", ())
        cli_channels = source_values.get(CMD_LINE_SOURCE, {})
        picked = next((cli_channels[k] for k in ("channels", "channel") if k in cli_channels), ())
        if CMD_LINE_SOURCE not in cli or not picked:
            raise CondaValueError(
                "At least one -c / --channel flag must be supplied when using --override-channels.",
                "Add -c CHANNEL, or drop --override-channels.",
            )
        channels = (*local, *picked)

    if values["always_copy"] and values["always_softlink"]:
        raise ConfigurationError(
            "'always_copy' and 'always_softlink' are mutually exclusive. "
            "Only one can be set to 'True'.",
            "Set one of them to false.",
        )
    ssl_verify = values["ssl_verify"]
    if (
        isinstance(ssl_verify, str)
        and ssl_verify != "truststore"
        and not _expand(ssl_verify, env).exists()
    ):
        raise ConfigurationError(
            f"ssl_verify value '{ssl_verify}' must be a boolean, a path to a certificate "
            "bundle file, a path to a directory containing certificates of trusted CAs, "
            "or 'truststore' to use the operating system certificate store.",
            "Fix ssl_verify in your .condarc or CONDA_SSL_VERIFY.",
        )
    alias = values["channel_alias"]
    if alias and "://" not in alias:
        raise ConfigurationError(
            f"channel_alias value '{alias}' must have scheme/protocol.",
            "Write it as a URL, e.g. https://conda.anaconda.org.",
        )

    default_threads = values["default_threads"] or None
    both_unset = values["fetch_threads"] == 0 and values["default_threads"] == 0
    values = {**values, "_home": str(home)}
    return Config(
        channels=tuple(channels),
        default_channels=default_channels,
        channel_alias=alias,
        custom_channels=dict(values["custom_channels"]),
        custom_multichannels=dict(values["custom_multichannels"]),
        migrated_channel_aliases=tuple(values["migrated_channel_aliases"]),
        migrated_custom_channels=dict(values["migrated_custom_channels"]),
        channel_priority=values["channel_priority"],
        channel_settings=tuple(values["channel_settings"]),
        override_channels_enabled=values["override_channels_enabled"],
        allowlist_channels=tuple(values["allowlist_channels"]),
        denylist_channels=tuple(values["denylist_channels"]),
        add_pip_as_python_dependency=values["add_pip_as_python_dependency"],
        repodata_fns=tuple(values["repodata_fns"]),
        use_only_tar_bz2=values["use_only_tar_bz2"],
        pkgs_dirs=pkgs_dirs,
        envs_dirs=envs_dirs,
        root_prefix=root,
        subdir=subdir,
        subdirs=subdirs,
        always_yes=values["always_yes"],
        dry_run=values["dry_run"],
        json=values["json"],
        offline=values["offline"],
        quiet=values["quiet"],
        ssl_verify=ssl_verify,
        proxy_servers=dict(values["proxy_servers"]),
        client_ssl_cert=values["client_ssl_cert"],
        client_ssl_cert_key=values["client_ssl_cert_key"],
        pinned_packages=tuple(values["pinned_packages"]),
        track_features=tuple(values["track_features"]),
        create_default_packages=tuple(values["create_default_packages"]),
        aggressive_update_packages=tuple(values["aggressive_update_packages"]),
        disallowed_packages=tuple(values["disallowed_packages"]),
        update_modifier=values["update_modifier"],
        deps_modifier=values["deps_modifier"],
        solver=values["solver"],
        allow_softlinks=values["allow_softlinks"],
        always_copy=values["always_copy"],
        always_softlink=values["always_softlink"],
        path_conflict=values["path_conflict"],
        safety_checks=values["safety_checks"],
        extra_safety_checks=values["extra_safety_checks"],
        remote_connect_timeout_secs=values["remote_connect_timeout_secs"],
        remote_read_timeout_secs=values["remote_read_timeout_secs"],
        remote_max_retries=values["remote_max_retries"],
        remote_backoff_factor=values["remote_backoff_factor"],
        local_repodata_ttl=values["local_repodata_ttl"],
        auto_update_conda=values["auto_update_conda"],
        notify_outdated_conda=values["notify_outdated_conda"],
        changeps1=values["changeps1"],
        env_prompt=values["env_prompt"],
        default_threads=default_threads,
        fetch_threads=5 if both_unset else (values["fetch_threads"] or default_threads),
        repodata_threads=values["repodata_threads"] or default_threads,
        verify_threads=values["verify_threads"] or default_threads or 1,
        execute_threads=values["execute_threads"] or default_threads or 1,
        report_errors=values["report_errors"],
        number_channel_notices=values["number_channel_notices"],
        override_virtual_packages=dict(values["override_virtual_packages"]),
        use_local=values["use_local"],
        show_channel_urls=values["show_channel_urls"],
        verbosity=4 if values["trace"] else 3 if values["debug"] else values["verbosity"],
        values=values,
        sources=given,
        source_values=source_values,
        search_path=tuple(paths),
        warnings=tuple(warnings),
    )


def load_config_from_os(
    overrides: Mapping[str, Any] | None = None,
    override_channels: bool = False,
    **settings: Any,
) -> Config:
    """:func:`load_config` with this process's environment and conda's search path.

    ``settings`` are more command-line values (``offline=True``); None means "not given".
    """
    merged = {**(overrides or {}), **settings}
    return load_config(os.environ, overrides=merged, override_channels=override_channels)


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
