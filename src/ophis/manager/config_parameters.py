"""The settings conda knows: names, aliases, types, defaults, and how values are coerced."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ophis.core.channel import DEFAULT_CHANNEL_ALIAS, DEFAULT_CHANNELS
from ophis.core.errors import ConfigurationError

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
        "Before linking, check each extracted file's size against the package's "
        "info/paths.json: 'enabled' refuses a mismatch, 'warn' reports it, 'disabled' skips.",
    ),
    _p(
        "extra_safety_checks",
        _P,
        "bool",
        False,
        _LINK,
        "Also check each extracted file's sha256, and package signatures "
        "(with signing_metadata_url_base).",
    ),
    _p(
        "signing_metadata_url_base",
        _P,
        "str?",
        None,
        _LINK,
        "Base URL of package signing metadata.",
    ),
    _p(
        "av_data_dir",
        _P,
        "str?",
        None,
        _LINK,
        "Where trusted signing metadata (N.root.json) is kept [<root prefix>/etc/conda].",
        expandvars=True,
    ),
    _p(
        "ophis_require_signatures",
        _S,
        "str",
        (),
        _LINK,
        "Channels whose packages must carry valid signatures (Ophis's own setting).",
        expandvars=True,
    ),
    _p(
        "ophis_link_scripts",
        _P,
        _choices("run", "refuse"),
        "run",
        _LINK,
        "'refuse': refuse any transaction that would run a package's pre-link, post-link or "
        "pre-unlink script (Ophis's own setting; --refuse-link-scripts for one command).",
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
