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

import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ophis.core.channel import DEFAULT_CHANNELS, ChannelContext, alias_dump, channel_dump
from ophis.core.errors import CondaValueError, ConfigurationError, OphisError
from ophis.core.platform import MachineFacts, detect_machine_facts, native_subdir, parse_subdir
from ophis.manager.config_parameters import (
    _P,
    _PRIORITIES,
    _S,
    PARAMETERS,
    PARAMETERS_BY_NAME,
    Parameter,
    _Bad,
    _to_str,
    parameter_for,
    unknown_key_error,
)

if TYPE_CHECKING:
    from ruamel.yaml import YAML

ENV_VARS_SOURCE = "envvars"
CMD_LINE_SOURCE = "cmd_line"
DEFAULT_ROOT_DIRNAME = ".ophis"
_RC_NAMES = (".condarc", "condarc", "condarc.d")

# --- where the files are --------------------------------------------------------------------


def home_dir(env: Mapping[str, str]) -> Path:
    """``$HOME`` (``%USERPROFILE%`` on Windows) from ``env``; the account's home otherwise."""
    home = env.get("HOME") or (env.get("USERPROFILE") if sys.platform == "win32" else None)
    return Path(home) if home else Path.home()


#: written by Ophis's installer into the base environment it makes
BASE_MARKER = ".ophis-base"


def bootstrap_root_prefix(env: Mapping[str, str]) -> Path:
    """The root prefix before any file is read: OPHIS_ROOT_PREFIX, CONDA_ROOT_PREFIX, the
    base environment this Ophis runs from (an installer's, marked so), else ~/.ophis --
    conda's rule, where the root is the environment conda itself is installed in."""
    for name in ("OPHIS_ROOT_PREFIX", "CONDA_ROOT_PREFIX"):
        if env.get(name):
            return _expand(env[name], env)
    if (Path(sys.prefix) / BASE_MARKER).is_file():
        return Path(sys.prefix)
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
    from ruamel.yaml import YAML  # here: with no .condarc to read, nothing needs it

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
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

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
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

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

    def channel_objects(self) -> dict[str, Any]:
        """The settings conda holds as Channel objects, in conda's ``Channel.dump()`` form;
        its multichannels include ``defaults`` and ``local`` (existing conda-build roots),
        and its custom channels every multichannel member by name."""
        alias = self.channel_alias
        multichannels = {
            name: [channel_dump(url, alias) for url in urls]
            for name, urls in {
                **self.custom_multichannels,
                "defaults": self.default_channels,
                "local": [Path(p).as_uri() for p in self._local_build_roots()],
            }.items()
        }
        custom = {c["name"]: c for members in multichannels.values() for c in members}
        custom |= {
            name: channel_dump(url, alias, name) for name, url in self.custom_channels.items()
        }
        return {
            "channel_alias": alias_dump(alias),
            "default_channels": multichannels["defaults"],
            "custom_multichannels": multichannels,
            "custom_channels": custom,
            "migrated_channel_aliases": [alias_dump(a) for a in self.migrated_channel_aliases],
        }

    def _local_build_roots(self) -> list[Path]:
        named = [self.get("croot"), self.get("bld_path")]
        candidates = [Path(p).expanduser() for p in named if p]
        candidates += [Path(self.root_prefix) / "conda-bld", Path("~/conda-bld").expanduser()]
        return [p.absolute() for p in dict.fromkeys(candidates) if p.is_dir()]


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
        subdir = parse_subdir(subdir) if subdir else native_subdir(machine or _subdir_facts())
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


def _subdir_facts() -> MachineFacts:
    """What the native subdir needs of the machine: its system and word size (probing for
    CUDA or the CPU's microarchitecture would cost every command that reads the config)."""
    return detect_machine_facts(cuda=False, microarchitecture=False)
