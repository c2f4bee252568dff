"""``ophis env list|export`` and ``ophis info``: named environments and the installation."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from ophis import __version__
from ophis.cli.commands.env_tools import rename
from ophis.cli.options import DRY_RUN, JSON, NAME, PREFIX, QUIET, REFUSE_LINK_SCRIPTS, YES
from ophis.cli.output import emit_json, fail, stdout
from ophis.cli.plan_report import write
from ophis.core.errors import CondaValueError, OphisError
from ophis.core.platform import detect_machine_facts
from ophis.core.redaction import redact
from ophis.core.virtual_packages import detect_virtual_packages
from ophis.manager.config import (
    Config,
    home_dir,
    load_config_from_os,
    system_rc_path,
    user_rc_path,
)
from ophis.manager.env_vars import UNSET_MARKER, read_env_vars, write_env_vars
from ophis.manager.envfile import dumps_environment_file, read_environment_file
from ophis.manager.environments import (
    check_env_file_target,
    environment_details,
    environment_name,
    export_environment,
    finish_env_file,
    list_environments,
    prune_candidates,
)
from ophis.manager.history import CONDA_COMPAT_VERSION
from ophis.manager.targets import ChangeRequest, channels_for, existing_prefix, resolve_prefix


def register(app: typer.Typer) -> None:
    env = typer.Typer(help="Named environments and environment files.", no_args_is_help=True)
    env.command("list")(env_list)
    env.command("export")(env_export)
    env.command("create")(env_create)
    env.command("update")(env_update)
    env.command("remove")(env_remove)
    variables = typer.Typer(help="An environment's own variables.", no_args_is_help=True)
    variables.command("list")(env_vars_list)
    variables.command("set")(env_vars_set)
    variables.command("unset")(env_vars_unset)
    config_group = typer.Typer(help="An environment's configuration.", no_args_is_help=True)
    config_group.add_typer(variables, name="vars")
    env.add_typer(config_group, name="config")
    env.command("rename")(rename)
    app.add_typer(env, name="env")
    app.command("info")(info)


def env_list(json_output: bool = JSON) -> None:
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


def env_vars_list(name: str = NAME, prefix: str = PREFIX, json_output: bool = JSON) -> None:
    """List the variables the environment sets on activation (conda's env config vars)."""
    try:
        target = existing_prefix(name, prefix, load_config_from_os(), os.environ)
        shown = {k: v for k, v in read_env_vars(target).items() if v != UNSET_MARKER}
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json(shown)
        return
    for key, value in shown.items():
        stdout.print(f"{key} = {value}", highlight=False, markup=False, soft_wrap=True)


def env_vars_set(
    assignments: list[str] = typer.Argument(..., metavar="KEY=VALUE..."),
    name: str = NAME,
    prefix: str = PREFIX,
    json_output: bool = JSON,
) -> None:
    """Set variables that activation exports (KEY=VALUE, separated by spaces)."""
    pairs = dict(_assignment(a) for a in assignments)
    _change_env_vars(name, prefix, json_output, lambda current: {**current, **pairs})


def env_vars_unset(
    names: list[str] = typer.Argument(..., metavar="KEY..."),
    name: str = NAME,
    prefix: str = PREFIX,
    json_output: bool = JSON,
) -> None:
    """Unset variables: activation then removes them (and restores what they overwrote)."""
    keys = {key.strip() for key in names}
    _change_env_vars(
        name,
        prefix,
        json_output,
        lambda current: {k: UNSET_MARKER if k in keys else v for k, v in current.items()},
    )


def _assignment(text: str) -> tuple[str, str]:
    """conda's split: the key before the first ``=``, the value after it, both stripped."""
    key, _, value = text.partition("=")
    return key.strip(), value.strip()


def _change_env_vars(
    name: str | None,
    prefix: str | None,
    json_output: bool,
    change: Callable[[dict[str, str]], dict[str, str]],
) -> None:
    try:
        target = existing_prefix(name, prefix, load_config_from_os(), os.environ)
        write_env_vars(target, change(read_env_vars(target)))
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json({"success": True})
    elif os.environ.get("CONDA_PREFIX") == str(target):
        print("To make your changes take effect please reactivate your environment")


def env_export(
    name: str = NAME,
    prefix: str = PREFIX,
    file: Path = typer.Option(None, "--file", "-f", help="Write to this file, not stdout."),
    from_history: bool = typer.Option(
        False, "--from-history", help="Only the packages that were asked for."
    ),
    no_builds: bool = typer.Option(False, "--no-builds", help="Leave out build strings."),
    json_output: bool = JSON,
) -> None:
    """Write an environment as environment.yml."""
    try:
        config = load_config_from_os()
        target = existing_prefix(name, prefix, config, os.environ)
        exported = export_environment(
            target, config, from_history=from_history, no_builds=no_builds
        )
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        dependencies: list[Any] = list(exported.dependencies)
        if exported.pip:
            dependencies.append({"pip": list(exported.pip)})
        document = {
            "name": exported.name,
            "channels": list(exported.channels),
            "dependencies": dependencies,
            **({"variables": exported.variables} if exported.variables else {}),
            "prefix": exported.prefix,
        }
        emit_json(document)
        return
    text = dumps_environment_file(exported)
    if file:
        file.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


ENV_FILE = typer.Option(
    Path("environment.yml"), "--file", "-f", help="The environment file to read."
)


def env_create(
    file: Path = ENV_FILE,
    name: str = NAME,
    prefix: str = PREFIX,
    refuse_link_scripts: bool = REFUSE_LINK_SCRIPTS,
    dry_run: bool = DRY_RUN,
    yes: bool = typer.Option(False, "--yes", "-y", help="Replace an existing environment."),
    quiet: bool = QUIET,
    json_output: bool = JSON,
) -> None:
    """Create an environment from an environment.yml: conda packages, then the pip: section,
    then the variables: (set on activation)."""
    _apply_env_file(
        "create",
        file,
        name,
        prefix,
        dry_run,
        yes,
        quiet,
        json_output,
        refuse_link_scripts=refuse_link_scripts,
    )


def env_update(
    file: Path = ENV_FILE,
    name: str = NAME,
    prefix: str = PREFIX,
    prune: bool = typer.Option(False, "--prune", help="Remove what the file no longer needs."),
    refuse_link_scripts: bool = REFUSE_LINK_SCRIPTS,
    dry_run: bool = DRY_RUN,
    quiet: bool = QUIET,
    json_output: bool = JSON,
) -> None:
    """Update an environment from an environment.yml."""
    _apply_env_file(
        "install",
        file,
        name,
        prefix,
        dry_run,
        True,
        quiet,
        json_output,
        prune,
        refuse_link_scripts=refuse_link_scripts,
    )


def env_remove(
    name: str = NAME,
    prefix: str = PREFIX,
    refuse_link_scripts: bool = REFUSE_LINK_SCRIPTS,
    dry_run: bool = DRY_RUN,
    yes: bool = YES,
    quiet: bool = QUIET,
    json_output: bool = JSON,
) -> None:
    """Remove an environment and everything in it."""
    from ophis.cli.commands.change import ChangeOptions, run_change

    # remove --all: run_change refuses the base and the active environment itself
    options = ChangeOptions.quiet_defaults(
        name,
        prefix,
        json_output=json_output,
        dry_run=dry_run,
        yes=yes,
        all_packages=True,
        refuse_link_scripts=refuse_link_scripts,
    )
    run_change("remove", replace(options, quiet=quiet or json_output))


def _apply_env_file(
    action: str,
    file: Path,
    name: str | None,
    prefix: str | None,
    dry_run: bool,
    yes: bool,
    quiet: bool,
    json_output: bool,
    prune: bool = False,
    *,
    refuse_link_scripts: bool = False,
) -> None:
    # the solver and the transaction are imported here: 'env list' and 'info' need neither
    from ophis.cli.commands.change import (
        ChangeOptions,
        change_document,
        print_activation_hint,
        run_change,
    )

    try:
        environment = read_environment_file(file)
        config = load_config_from_os()
        name = name or (None if prefix else environment.name)
        if not (name or prefix):
            raise CondaValueError(
                f"{file} names no environment.", "Give one with -n NAME or -p PATH."
            )
        target = resolve_prefix(name, prefix, config, os.environ, creating=action == "create")
        check_env_file_target(environment, target, config, action, replace=yes)
    except OphisError as error:
        fail(error, json_output)
    options = ChangeOptions.quiet_defaults(
        name,
        prefix,
        json_output=json_output,
        dry_run=dry_run,
        refuse_link_scripts=refuse_link_scripts,
    )
    options = replace(options, quiet=quiet or json_output)
    channels = list(environment.channels)
    specs = list(environment.dependencies)
    # conda prints one document for the whole command, once pip has run too
    deferred = json_output and not dry_run
    changing = replace(options, specs=specs, channel=channels)
    outcomes = [run_change(action, changing, defer_json=deferred, defer_hint=True)]
    if dry_run:
        return
    try:
        pip_installed = finish_env_file(
            environment, target, file.parent, quiet=quiet or json_output
        )
        extras = prune_candidates(target, environment, config) if prune else []
    except OphisError as error:
        fail(error, json_output)
    if extras:
        pruning = replace(options, specs=extras, force=True)
        outcomes.append(run_change("remove", pruning, defer_json=deferred))
    if deferred:
        emit_json(change_document(outcomes, pip_installed), sort_keys=False)
    if action == "create":
        print_activation_hint(options, config, target)


def info(
    envs: bool = typer.Option(False, "--envs", "-e", help="List the environments."),
    base: bool = typer.Option(False, "--base", help="Show the base environment's path."),
    unsafe_channels: bool = typer.Option(
        False, "--unsafe-channels", help="Show the channels with their tokens."
    ),
    json_output: bool = JSON,
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
