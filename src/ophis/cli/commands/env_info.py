"""``ophis info`` and ``ophis env list``: the installation and its environments.

Plain functions, registered by :mod:`ophis.cli.commands.env`: :mod:`ophis.cli.quick` calls
them without importing Typer.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ophis import __version__
from ophis.cli.output import emit_json, fail, stdout, write
from ophis.core.errors import OphisError
from ophis.core.platform import detect_machine_facts
from ophis.core.redaction import redact
from ophis.core.virtual_packages import detect_virtual_packages
from ophis.manager.config import Config, home_dir, load_config_from_os, system_rc_path, user_rc_path
from ophis.manager.environments import environment_details, environment_name, list_environments
from ophis.manager.history import CONDA_COMPAT_VERSION
from ophis.manager.targets import ChangeRequest, channels_for


def env_list(json_output: bool = False) -> None:
    """List the environments (conda's ``env list``, the same as ``info --envs``)."""
    try:
        config = load_config_from_os()
    except OphisError as error:
        fail(error, json_output)
    envs = list_environments(config, os.environ)
    if json_output:
        emit_json(_envs_json(envs, config))
        return
    _print_envs(envs, config)


def _envs_json(envs: list[Path], config: Config) -> dict[str, Any]:
    return {
        "envs": [str(p) for p in envs],
        "envs_details": {str(p): environment_details(p, config, os.environ) for p in envs},
    }


def _print_envs(envs: list[Path], config: Config) -> None:
    lines = ["", "# conda environments:", "#", "# * -> active", "# + -> frozen"]
    for prefix in envs:
        details = environment_details(prefix, config, os.environ)
        active = "*" if details["active"] else " "
        frozen = "+" if details["frozen"] else " "
        lines.append(f"{details['name']:20} {active} {frozen} {prefix}")
    write("\n".join(lines) + "\n\n")  # conda's: one blank line either side


def info(
    envs: bool = False, base: bool = False, unsafe_channels: bool = False, json_output: bool = False
) -> None:
    """Show the installation: configuration, channels, caches, environments."""
    try:
        config = load_config_from_os()
        if base or unsafe_channels:
            _info_parts(config, base, unsafe_channels, json_output)
        elif envs:
            env_list(json_output)
        elif json_output:
            emit_json(info_facts(config))
        else:
            _print_info(info_facts(config))
    except OphisError as error:
        fail(error, json_output)


def _info_parts(config: Config, base: bool, unsafe_channels: bool, json_output: bool) -> None:
    """conda's ``info --base`` / ``--unsafe-channels``: one value each, bare or as JSON."""
    parts: dict[str, Any] = {}
    if base:
        parts["root_prefix"] = str(config.root_prefix)
    if unsafe_channels:
        parts["channels"] = list(config.channels)
    if json_output:
        emit_json(parts)
        return
    for value in parts.values():
        shown = "\n".join(value) if isinstance(value, list) else value
        stdout.print(shown, highlight=False, markup=False, soft_wrap=True)


def _print_info(facts: dict[str, Any]) -> None:
    """conda's ``info`` report: its rows, labels and order."""
    rows: list[tuple[str, Any]] = []
    if facts["active_prefix_name"]:
        rows += [("active environment", facts["active_prefix_name"])]
        rows += [("active env location", facts["active_prefix"])]
    else:
        rows += [("active environment", facts["active_prefix"])]
    if facts["conda_shlvl"] >= 0:
        rows += [("shell level", facts["conda_shlvl"])]
    solver = facts["solver"]
    writable = "writable" if facts["root_writable"] else "read only"
    rows += [
        ("user config file", facts["user_rc_path"]),
        ("populated config files", facts["config_files"]),
        ("conda version", facts["conda_version"]),
        ("ophis version", facts["ophis_version"]),
        ("conda-build version", facts["conda_build_version"]),
        ("python version", facts["python_version"]),
        ("solver", solver["name"] + (" (default)" if solver["default"] else "")),
        ("virtual packages", ["=".join(v) for v in facts["virtual_pkgs"]]),
        ("base environment", f"{facts['root_prefix']}  ({writable})"),
        ("conda av data dir", facts["av_data_dir"]),
        ("conda av metadata url", facts["av_metadata_url_base"]),
        ("channel URLs", facts["channels"]),
        ("package cache", facts["pkgs_dirs"]),
        ("notices cache", facts["notices_cache_dir"]),
        ("envs directories", facts["envs_dirs"]),
        ("temporary directory", facts["tmp_dir"]),
        ("platform", facts["platform"]),
        ("user-agent", facts["user_agent"]),
        ("UID:GID", f"{facts['UID']}:{facts['GID']}"),
        ("netrc file", facts["netrc_file"]),
        ("offline mode", facts["offline"]),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [""]
    for label, value in rows:
        shown = (
            ("\n" + " " * (width + 4)).join(map(str, value)) if isinstance(value, list) else value
        )
        lines.append(f" {label:>{width}} : {shown}")
    write("\n".join(lines) + "\n\n")  # conda's: one blank line either side


def _channel_urls(config: Config) -> list[str]:
    """Each configured channel's URL per searched subdir, as conda's ``info`` lists them."""
    try:
        channels = channels_for(ChangeRequest("info", Path()), config)
    except OphisError:  # none configured: conda's info shows an empty list
        return []
    return [c.url(subdir) for c in channels for subdir in (config.subdir, "noarch")]


def info_facts(config: Config) -> dict[str, Any]:
    """conda's ``info --json`` document (``get_info_dict`` with ``envs_details``), with
    Ophis's values; ``conda_version`` is the conda whose behaviour Ophis follows."""
    active = os.environ.get("CONDA_PREFIX")
    virtual = detect_virtual_packages(
        config.subdir, detect_machine_facts(), os.environ, conda_version=CONDA_COMPAT_VERSION
    )
    envs = list_environments(config, os.environ)
    own_prefix = str(Path(sys.prefix))
    solver = str(config.get("solver") or "rattler")
    facts: dict[str, Any] = {
        "platform": config.subdir,
        "conda_version": CONDA_COMPAT_VERSION,
        "conda_env_version": CONDA_COMPAT_VERSION,
        "conda_build_version": "not installed",
        "ophis_version": __version__,
        "root_prefix": str(config.root_prefix),
        "conda_prefix": own_prefix,
        "av_data_dir": os.path.join(own_prefix, "etc", "conda"),
        "av_metadata_url_base": config.get("signing_metadata_url_base"),
        "root_writable": _writable(Path(config.root_prefix)),
        "pkgs_dirs": [str(p) for p in config.pkgs_dirs],
        "envs_dirs": [str(p) for p in config.envs_dirs],
        "default_prefix": active or str(config.root_prefix),
        "active_prefix": active,
        "active_prefix_name": environment_name(Path(active), config) if active else None,
        "conda_shlvl": _shlvl(),
        "channels": _channel_urls(config),
        "user_rc_path": str(user_rc_path(os.environ)),
        "rc_path": str(user_rc_path(os.environ)),
        "sys_rc_path": str(system_rc_path(os.environ)),
        "offline": config.offline,
        "envs": [str(p) for p in envs],
        "python_version": ".".join(map(str, sys.version_info)),
        "requests_version": "not installed",
        "user_agent": f"ophis/{__version__} py/{platform.python_version()} {platform.system()}",
        "conda_location": str(Path(__file__).resolve().parents[2]),
        "config_files": [str(p) for p in config.search_path if p.exists()],
        "netrc_file": _netrc_file(),
        "virtual_pkgs": [[v.name, v.version, v.build] for v in virtual],
        "solver": {"name": solver, "user_agent": f"solver/{solver}", "default": True},
        "tmp_dir": tempfile.gettempdir(),
        "notices_cache_dir": str(home_dir(os.environ) / ".cache" / "conda" / "notices"),
        "UID": os.geteuid(),
        "GID": os.getegid(),
        "sys.version": sys.version,
        "sys.prefix": sys.prefix,
        "sys.executable": sys.executable,
        "site_dirs": _user_site_dirs(),
        "env_vars": _reported_env_vars(os.environ),
    }
    facts.update(_envs_json(envs, config))
    return facts


def _shlvl() -> int:
    try:
        return int(os.environ.get("CONDA_SHLVL", -1))
    except ValueError:
        return -1


def _writable(root: Path) -> bool:
    history = root / "conda-meta" / "history"
    return os.access(history, os.W_OK) if history.exists() else False


def _netrc_file() -> str | None:
    named = os.environ.get("NETRC")
    if named:
        return named
    default = home_dir(os.environ) / ".netrc"
    return str(default) if default.is_file() else None


def _user_site_dirs() -> list[str]:
    import site

    user_site = site.getusersitepackages()
    return [user_site] if os.path.isdir(user_site) else []


def _reported_env_vars(environ: Mapping[str, str]) -> dict[str, str]:
    """conda's ``env_vars``: conda, python, path, sudo and TLS variables by value, proxies
    only as set (their URLs may carry passwords)."""
    keys = {"CIO_TEST", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "LD_PRELOAD"}
    keys |= {
        k
        for k in environ
        if k.upper().startswith(("CONDA", "PYTHON", "SUDO")) or k.upper().endswith("PATH")
    }
    shown = {k: environ.get(k, environ.get(k.lower(), "<not set>")) for k in keys}
    shown.update({k: "<set>" for k in environ if k.upper().endswith("PROXY")})
    return {k: redact(v) for k, v in shown.items()}
