"""What the navigator's pages do, as calls into ``ophis.manager``: the environments, their
package tables, and planning changes (create, clone, import, install, update, remove).

Every change is planned here (solved; nothing on disk changes) and kept as a
:class:`~ophis.navigator.jobs.PlannedChange` for the user to confirm; the pages never touch
an environment themselves.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import rattler

from ophis.core.errors import CondaValueError, EnvironmentLocationNotFound, OphisError
from ophis.manager.config import Config, load_config
from ophis.manager.envfile import (
    EnvironmentFile,
    dumps_environment_file,
    parse_environment_file,
)
from ophis.manager.environments import (
    check_env_file_target,
    check_removable,
    environment_name,
    export_environment,
    finish_env_file,
    is_environment,
    list_environments,
)
from ophis.manager.explicit import is_explicit, parse_explicit
from ophis.manager.operations import (
    ChangeOutcome,
    fetch_repodata,
    plan_change,
    plan_clone,
    plan_explicit,
)
from ophis.manager.prefix import PrefixData
from ophis.manager.records import channel_name
from ophis.manager.search import Found, newest
from ophis.manager.targets import ChangeRequest, channels_for, resolve_prefix
from ophis.navigator.jobs import After, PlannedChange

ARGV = ("ophis", "navigator")
FILTERS = ("installed", "updatable", "not_installed", "all")
#: rows a package table shows at most (a big channel has tens of thousands of names)
MAX_ROWS = 500


def load(environ: Mapping[str, str]) -> Config:
    """The configuration as the CLI reads it, read again for each page (the Channels page
    changes it)."""
    return load_config(environ)


@dataclass(frozen=True)
class Environment:
    name: str
    prefix: Path
    packages: int


def environments(config: Config, environ: Mapping[str, str]) -> list[Environment]:
    return [
        Environment(
            environment_name(p, config) or p.name, p, len(list((p / "conda-meta").glob("*.json")))
        )
        for p in list_environments(config, environ)
    ]


def find_environment(prefix: str, config: Config, environ: Mapping[str, str]) -> Path:
    """One of the listed environments (a page names it by its path)."""
    wanted = Path(prefix).absolute()
    if wanted in list_environments(config, environ):
        return wanted
    raise EnvironmentLocationNotFound(
        f"Not a conda environment: {prefix}",
        "Pick one from the Environments page, or create it there.",
    )


# --- the package table ----------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRow:
    name: str
    installed: str | None  #: version-build, when installed
    latest: str | None  #: newest version the channels offer
    channel: str
    status: str  #: installed | updatable | not installed


@dataclass(frozen=True)
class PackageTable:
    rows: list[PackageRow]
    notice: tuple[str, str] | None = None  #: why the channels' packages are missing
    truncated: bool = False


def package_table(prefix: Path, config: Config, shown: str, query: str) -> PackageTable:
    """The environment's packages and the channels' ones, filtered and searched by name."""
    needle = re.sub(r"[^a-z0-9._-]", "", query.lower())
    installed = {n: r for n, r in PrefixData(prefix).records().items() if not needle or needle in n}
    # installed / updatable need the channels' records of the installed names only
    names = set(installed) if shown in ("installed", "updatable") else None
    notice = None
    try:
        available = _newest_offered(prefix, config, names, needle)
    except OphisError as error:
        available, notice = {}, (error.message, error.remedy)
    rows = [_row(n, installed.get(n), available.get(n)) for n in sorted({*installed, *available})]
    rows = [r for r in rows if _shows(r, shown)]
    cut = len(rows) > MAX_ROWS or len(available) >= MAX_ROWS * 2
    return PackageTable(rows[:MAX_ROWS], notice, cut)


def _newest_offered(
    prefix: Path, config: Config, names: set[str] | None, needle: str
) -> dict[str, Found]:
    """name -> the newest record the configured channels offer (as ``ophis search``)."""
    channels = channels_for(ChangeRequest("install", prefix), config)
    repodata = fetch_repodata(channels, (config.subdir, "noarch"), config, names)
    return newest(channels, repodata, names=names, contains=needle, limit=MAX_ROWS * 2)


def _row(name: str, record: rattler.PrefixRecord | None, offered: Found | None) -> PackageRow:
    latest = str(offered.record.version) if offered else None
    if record is None:
        return PackageRow(
            name, None, latest, offered.channel.name if offered else "", "not installed"
        )
    newer = offered is not None and offered.record.version > record.version
    return PackageRow(
        name,
        f"{record.version}-{record.build}",
        latest,
        channel_name(record, []),
        "updatable" if newer else "installed",
    )


def _shows(row: PackageRow, shown: str) -> bool:
    if shown == "installed":
        return row.installed is not None
    if shown == "updatable":
        return row.status == "updatable"
    if shown == "not_installed":
        return row.installed is None
    return True


# --- planning changes -----------------------------------------------------------------------


def plan_packages(
    prefix: Path, action: str, names: list[str], config: Config, environ: Mapping[str, str]
) -> PlannedChange:
    """Install, update or remove the selected packages of an environment."""
    if action not in ("install", "update", "remove"):
        raise CondaValueError(f"Unknown action '{action}'.", "Use Install, Update or Remove.")
    if not names:
        raise CondaValueError(
            "No packages were selected.", "Tick the packages in the table, then press a button."
        )
    request = ChangeRequest(action, prefix, specs=tuple(names), argv=(*ARGV, action, *names))
    outcome = plan_change(request, config, environ)
    title = f"{action.capitalize()} {', '.join(names)} in {prefix.name}"
    again = lambda: plan_change(request, config, environ)  # noqa: E731
    return PlannedChange(title, request, outcome, config, replan=again)


def plan_create(
    name: str,
    language: str,
    version: str,
    packages: str,
    config: Config,
    environ: Mapping[str, str],
) -> PlannedChange:
    """A new environment: Python or R (at a version, if given) and any other packages."""
    target = _new_prefix(name, config, environ)
    specs = [*_language_spec(language, version.strip()), *re.split(r"[\s,]+", packages.strip())]
    specs = [s for s in specs if s]
    if not specs:
        raise CondaValueError(
            "The new environment would hold no packages.",
            "Choose Python or R, or name at least one package.",
        )
    request = ChangeRequest("create", target, specs=tuple(specs), argv=(*ARGV, "create", *specs))
    outcome = plan_change(request, config, environ)
    return PlannedChange(f"Create environment {name}", request, outcome, config)


def _language_spec(language: str, version: str) -> list[str]:
    package = {"python": "python", "r": "r-base"}.get(language)
    if package is None:
        return []
    return [f"{package}={version}" if version else package]


def _new_prefix(name: str, config: Config, environ: Mapping[str, str]) -> Path:
    target = resolve_prefix(name.strip() or None, None, config, environ, creating=True)
    if is_environment(target):
        raise CondaValueError(
            f"An environment named '{name}' already exists ({target}).",
            "Pick another name, or remove that environment first.",
        )
    return target


def plan_clone_of(
    source: Path, name: str, config: Config, environ: Mapping[str, str]
) -> PlannedChange:
    target = _new_prefix(name, config, environ)
    request = ChangeRequest("create", target, argv=(*ARGV, "clone", str(source)))
    outcome = plan_clone(request, source, config)
    return PlannedChange(f"Clone {source.name} as {name}", request, outcome, config)


def plan_import(
    name: str, filename: str, data: bytes, config: Config, environ: Mapping[str, str]
) -> PlannedChange:
    """A new environment from an uploaded environment.yml or @EXPLICIT file."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CondaValueError(
            f"{filename} is not a text file.",
            "Upload an environment.yml or an @EXPLICIT file ('ophis list --explicit').",
        ) from None
    if is_explicit(text):
        target = _new_prefix(_required(name, filename), config, environ)
        request = ChangeRequest("create", target, argv=(*ARGV, "import", filename))
        outcome = plan_explicit(request, parse_explicit(text, filename), config)
        return PlannedChange(f"Import {filename} as {target.name}", request, outcome, config)
    environment = parse_environment_file(text, filename)
    target = _new_prefix(_required(name or environment.name or "", filename), config, environ)
    check_env_file_target(environment, target, config, "create", replace=False)
    request = ChangeRequest(
        "create",
        target,
        specs=environment.dependencies,
        channels=environment.channels,
        argv=(*ARGV, "import", filename),
    )
    outcome = plan_change(request, config, environ)
    after = (
        _env_file_steps(environment, target) if environment.pip or environment.variables else None
    )
    return PlannedChange(f"Import {filename} as {target.name}", request, outcome, config, after)


def _required(name: str, filename: str) -> str:
    if not name.strip():
        raise CondaValueError(
            f"{filename} names no environment.", "Type a name for the new environment."
        )
    return name.strip()


def _env_file_steps(environment: EnvironmentFile, target: Path) -> After:
    """The file's ``pip:`` section and ``variables:``, after its conda packages."""
    return lambda: finish_env_file(environment, target, target, quiet=True)


def plan_remove_environment(
    prefix: Path, config: Config, environ: Mapping[str, str]
) -> PlannedChange:
    """Every package out (their unlink scripts run), then the folder goes."""
    check_removable(prefix, config, environ)
    names = sorted(PrefixData(prefix).records())
    request = ChangeRequest("remove", prefix, specs=tuple(names), argv=(*ARGV, "remove", "--all"))
    outcome = plan_change(request, config, environ) if names else ChangeOutcome(prefix, [])
    return PlannedChange(
        f"Remove environment {prefix.name}",
        request,
        outcome,
        config,
        after=lambda: shutil.rmtree(prefix, ignore_errors=True),
        notes=(f"The folder {prefix} will be deleted.",),
    )


def export_file(prefix: Path, config: Config) -> str:
    """``ophis env export``: the environment as environment.yml text."""
    return dumps_environment_file(export_environment(prefix, config))


# --- what a plan shows ----------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    name: str
    change: str  #: install | remove | update | downgrade | reinstall
    old: str
    new: str
    channel: str


def plan_rows(change: PlannedChange) -> list[PlanRow]:
    """The solve result as one row per package: what is linked, unlinked, or replaced."""
    solution = change.outcome.solution
    if solution is None:
        return []
    channels = change.outcome.channels
    linked = {r.name.normalized: r for r in solution.link}
    unlinked = {r.name.normalized: r for r in solution.unlink}
    rows = []
    for name in sorted({*linked, *unlinked}):
        new, old = linked.get(name), unlinked.get(name)
        rows.append(
            PlanRow(
                name,
                _kind(old, new),
                f"{old.version}-{old.build}" if old else "",
                f"{new.version}-{new.build}" if new else "",
                channel_name(new or old, channels),
            )
        )
    return rows


def _kind(old: rattler.PackageRecord | None, new: rattler.PackageRecord | None) -> str:
    if old is None:
        return "install"
    if new is None:
        return "remove"
    if new.version > old.version:
        return "update"
    return "downgrade" if new.version < old.version else "reinstall"
