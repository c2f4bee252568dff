"""conda's community solver corpus (the ``pytest-conda-solvers`` package) run through ``ophis``.

The package ships YAML cases (``conda-solver-tests/*.yaml``) and the channels they name
(``data/<channel>_noarch.json`` and ``_non-noarch.json``, the records of conda's own
``index*.json`` test indexes, features intact). Its pytest plugin drives conda's Python
API; this module reads the same files itself and asks what a user's script asks:
``ophis create|install --dry-run --json`` as a subprocess on local ``file://`` channels,
with an installed prefix (conda-meta records and a history file) when the case has one.

A case's input is mapped onto the command line and the environment variables conda reads
(``CONDA_PINNED_PACKAGES``, ``CONDA_OVERRIDE_CUDA``, ...); its expected answer is compared
with the JSON document ``ophis`` prints: the final state (installed - UNLINK + LINK) as a
set, LINK and UNLINK in conda's order, or the error's name.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import rattler
from ruamel.yaml import YAML

from ophis.manager.history import write_revision
from ophis.testing.cli import isolated_user

__all__ = [
    "SUBDIR",
    "CorpusCase",
    "Outcome",
    "load_cases",
    "mismatches",
    "prepare_case",
    "run_case",
    "write_channels",
]

#: the platform every case is solved for (the corpus's ``${{ arch }}``)
SUBDIR = "linux-64"
PACKAGE = "pytest_conda_solvers"
#: the channel served as a directory of real package files rather than as JSON records
FILE_CHANNELS = ("conda_format_repo",)


def _listed(value: Any) -> list:
    """The corpus writes a one-element list as its element, and nothing as null."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _dist(text: str) -> str:
    return str(text).replace("${{ arch }}", SUBDIR)


@dataclass(frozen=True)
class CorpusCase:
    """One case of the corpus, as its YAML says it."""

    id: str
    name: str
    file: str
    kind: str
    input: Mapping[str, Any]
    output: Mapping[str, Any] = field(default_factory=dict)
    error: Mapping[str, Any] = field(default_factory=dict)
    solvers: tuple[str, ...] = ()
    description: str = ""

    @property
    def channels(self) -> list[str]:
        return [str(c) for c in _listed(self.input.get("channels"))]

    @property
    def specs(self) -> list[str]:
        return [str(s) for s in _listed(self.input.get("specs_to_add"))]

    @property
    def prefix(self) -> list[str]:
        return [_dist(d) for d in _listed(self.input.get("prefix"))]

    @property
    def history(self) -> list[str]:
        return [str(s) for s in _listed(self.input.get("history_specs"))]

    def expected(self, key: str) -> list[str] | None:
        """An expected list of dist strings from the output, None when not given."""
        value = self.output.get(key)
        return None if value is None else [_dist(d) for d in _listed(value)]


def corpus_root() -> Path:
    return Path(str(resources.files(PACKAGE)))


def load_cases(root: Path | None = None) -> list[CorpusCase]:
    """Every case of every YAML file of the corpus, in file order."""
    root = root or corpus_root()
    yaml = YAML(typ="safe", pure=True)
    cases = []
    for path in sorted((root / "conda-solver-tests").glob("*.yaml")):
        for entry in yaml.load(path.read_text(encoding="utf-8"))["tests"]:
            cases.append(
                CorpusCase(
                    id=entry["id"],
                    name=entry["name"],
                    file=path.name,
                    kind=entry["kind"],
                    input=entry.get("input") or {},
                    output=entry.get("output") or {},
                    error=entry.get("error") or {},
                    solvers=tuple(_listed(entry.get("solvers"))),
                    description=entry.get("description") or "",
                )
            )
    return cases


# --- channels -----------------------------------------------------------------------------


def write_channels(target: Path, root: Path | None = None) -> dict[str, Path]:
    """Every channel of the corpus as a local channel folder under ``target``."""
    data = (root or corpus_root()) / "data"
    made: dict[str, Path] = {}
    for source in sorted(data.glob("*_noarch.json")):
        name = source.name.removesuffix("_noarch.json")
        for subdir, part in ((SUBDIR, "non-noarch"), ("noarch", "noarch")):
            records = json.loads((data / f"{name}_{part}.json").read_text())
            folder = target / name / subdir
            folder.mkdir(parents=True, exist_ok=True)
            repodata = {"info": {"subdir": subdir}, "packages": records}
            (folder / "repodata.json").write_text(json.dumps(repodata))
        made[name] = target / name
    for name in FILE_CHANNELS:
        shutil.copytree(data / name, target / name)
        made[name] = target / name
    return made


def _channel_record(channel: Path, dist: str) -> rattler.RepoDataRecord:
    """The channel's record named by ``subdir::name-version-build``."""
    subdir, _, rest = dist.partition("::")
    name, version, build = rest.rsplit("-", 2)
    path = channel / subdir / "repodata.json"
    sparse = rattler.SparseRepoData(rattler.Channel(channel.as_uri()), subdir, path)
    for record in sparse.load_records(rattler.PackageName(name)):
        if str(record.version) == version and str(record.build) == build:
            return record
    raise LookupError(f"{dist} is not in {channel.name}")


def _install_prefix(case: CorpusCase, channels: Mapping[str, Path], prefix: Path) -> None:
    """The case's installed records (metadata only) and its requested specs as history."""
    (prefix / "conda-meta").mkdir(parents=True)
    records = []
    for dist in case.prefix:
        channel_and_subdir, _, rest = dist.partition("::")
        channel_name, subdir = channel_and_subdir.rsplit("/", 1)
        record = _channel_record(channels[channel_name], f"{subdir}::{rest}")
        prefix_record = rattler.PrefixRecord(record, rattler.PrefixPaths())
        prefix_record.write_to_path(prefix / "conda-meta" / f"{rest}.json", pretty=True)
        records.append(record)
    write_revision(
        prefix, cmd=["conda", "install"], link=records, unlink=[], update_specs=case.history
    )


# --- the command ------------------------------------------------------------------------------

_UPDATE_FLAGS = {
    "freeze_installed": "--freeze-installed",
    "update_deps": "--update-deps",
    "update_all": "--update-all",
    "update_specs": "--update-specs",
}
_DEPS_FLAGS = {"no_deps": "--no-deps", "only_deps": "--only-deps"}
_PRIORITY_FLAGS = {"strict": "--strict-channel-priority", "disabled": "--no-channel-priority"}
#: input keys read from the environment, as conda's tests set them (lists joined)
_ENV_KEYS = {
    "pinned_packages": ("CONDA_PINNED_PACKAGES", "&"),
    "aggressive_update_packages": ("CONDA_AGGRESSIVE_UPDATE_PACKAGES", ","),
    "auto_update_conda": ("CONDA_AUTO_UPDATE_CONDA", None),
    "channel_priority": ("CONDA_CHANNEL_PRIORITY", None),
    "override_cuda": ("CONDA_OVERRIDE_CUDA", None),
    "override_glibc": ("CONDA_OVERRIDE_GLIBC", None),
}


def command(case: CorpusCase, channels: Mapping[str, Path], prefix: Path) -> list[str]:
    """The ``ophis`` arguments that ask the case's question."""
    inputs = case.input
    verb = "install" if case.prefix else "create"
    argv = [verb, "-p", str(prefix), "--dry-run", "--json", "--override-channels"]
    for name in case.channels:
        argv += ["-c", channels[name].as_uri()]
    if inputs.get("update_modifier"):
        argv.append(_UPDATE_FLAGS[inputs["update_modifier"]])
    if inputs.get("deps_modifier") in _DEPS_FLAGS:
        argv.append(_DEPS_FLAGS[inputs["deps_modifier"]])
    if inputs.get("channel_priority") in _PRIORITY_FLAGS:
        argv.append(_PRIORITY_FLAGS[inputs["channel_priority"]])
    if inputs.get("force_reinstall"):
        argv.append("--force-reinstall")
    return [*argv, *case.specs]


def environment(case: CorpusCase, folder: Path, prefix: Path) -> dict[str, str]:
    """An isolated user with the case's settings; ``set_sys_prefix`` makes the target
    prefix the root one (conda's own environment)."""
    env = isolated_user(folder)
    env.update(
        CONDA_SUBDIR=SUBDIR,
        CONDA_ADD_PIP_AS_PYTHON_DEPENDENCY=str(bool(case.input.get("add_pip"))).lower(),
        CONDA_OVERRIDE_CUDA="",
    )
    for key, (variable, joiner) in _ENV_KEYS.items():
        value = case.input.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            value = (joiner or ",").join(str(v) for v in value)
        env[variable] = str(value).lower() if isinstance(value, bool) else str(value)
    if case.input.get("ignore_pinned"):
        env.pop("CONDA_PINNED_PACKAGES", None)
    if case.input.get("set_sys_prefix"):
        env["OPHIS_ROOT_PREFIX"] = str(prefix)
    return env


# --- the answer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What ``ophis`` answered: the final state and the diff, or an error's name."""

    returncode: int
    document: Mapping[str, Any]
    final: frozenset[str] = frozenset()
    link: tuple[str, ...] = ()
    unlink: tuple[str, ...] = ()
    stderr: str = ""

    @property
    def error(self) -> str | None:
        return self.document.get("exception_name") if self.returncode else None


def _dists(actions: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    return tuple(f"{a['channel']}/{a['platform']}::{a['dist_name']}" for a in actions)


def prepare_case(
    case: CorpusCase, channels: Mapping[str, Path], folder: Path
) -> tuple[list[str], dict[str, str]]:
    """The command line (``python -m ophis ...``) and environment that ask the case's
    question in ``folder`` (a fresh directory), with its installed prefix in place."""
    prefix = folder / "env"
    if case.prefix:
        _install_prefix(case, channels, prefix)
    argv = [sys.executable, "-m", "ophis", *command(case, channels, prefix)]
    return argv, environment(case, folder, prefix)


def run_case(case: CorpusCase, channels: Mapping[str, Path], folder: Path) -> Outcome:
    """Ask ``ophis`` the case's question in ``folder`` (a fresh directory)."""
    argv, env = prepare_case(case, channels, folder)
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, cwd=folder)
    try:
        document = json.loads(result.stdout)
    except json.JSONDecodeError:
        document = {"exception_name": "no JSON", "message": result.stdout[-2000:]}
    actions = document.get("actions") or {}
    link = _dists(actions.get("LINK", ()))
    unlink = _dists(actions.get("UNLINK", ()))
    final = (set(case.prefix) - set(unlink)) | set(link)
    return Outcome(
        result.returncode, document, frozenset(final), link, unlink, result.stderr[-2000:]
    )


#: the error names conda >= 24 gives what conda's classic solver tests call these
ERROR_NAMES = {
    "PackagesNotFoundError": {"PackagesNotFoundError", "PackagesNotFoundInChannelsError"},
    "ResolvePackageNotFound": {"ResolvePackageNotFound", "PackagesNotFoundInChannelsError"},
}


def _ordered_within(expected: list[str], got: Iterable[str]) -> bool:
    """Whether ``got`` follows ``expected``'s order (conda links in its final order)."""
    index = {dist: n for n, dist in enumerate(expected)}
    positions = [index[d] for d in got if d in index]
    return positions == sorted(positions)


def _error_mismatches(case: CorpusCase, outcome: Outcome) -> list[str]:
    """The corpus's checks of an error: its name, the names its entries are about (conda's
    classic and libmamba solvers word the specs differently, so names are compared), and
    the fragments its message must or must not hold."""
    wanted = case.error["exception"]
    if outcome.error not in ERROR_NAMES.get(wanted, {wanted}):
        shown = outcome.document.get("message", sorted(outcome.final))
        return [f"expected {wanted}, got {outcome.error or 'a solution'}: {shown}"]
    problems = []
    message = str(outcome.document.get("message", ""))
    entries = _listed(case.error.get("entries"))
    if entries:
        expected = {_spec_name(s) for entry in entries for s in _listed(entry)}
        got = {
            _spec_name(str(s))
            for field_name in ("unsatisfiable", "packages")
            for entry in outcome.document.get(field_name) or ()
            for s in _listed(entry)
        }
        if expected != got:
            problems.append(f"entries name {sorted(got)}, conda's name {sorted(expected)}")
    for fragment in _listed(case.error.get("message_includes")):
        if fragment not in message:
            problems.append(f"the message lacks {fragment!r}: {message}")
    for fragment in _listed(case.error.get("message_excludes")):
        if fragment in message:
            problems.append(f"the message holds {fragment!r}: {message}")
    return problems


def _spec_name(spec: str) -> str:
    return re.split(r"[\s=<>!~\[]", spec.strip(), maxsplit=1)[0].lower()


def mismatches(case: CorpusCase, outcome: Outcome) -> list[str]:
    """How ``outcome`` differs from the case's expected answer (empty: the same)."""
    if case.kind == "unsatisfiable":
        return _error_mismatches(case, outcome)
    if outcome.returncode:
        return [f"{outcome.error}: {outcome.document.get('message')}"]
    problems = []
    if case.kind == "solve":
        expected = case.expected("final_state")
        if expected is not None:
            if set(expected) != outcome.final:
                problems.append(
                    f"final state: missing {sorted(set(expected) - outcome.final)}, "
                    f"extra {sorted(outcome.final - set(expected))}"
                )
            elif not _ordered_within(expected, outcome.link):
                problems.append(f"LINK order {list(outcome.link)} is not conda's {expected}")
    elif case.kind == "solve_for_diff":
        for key, got in (("unlink_precs", outcome.unlink), ("link_precs", outcome.link)):
            expected = case.expected(key) or []
            if list(got) != expected:
                problems.append(f"{key}: expected {expected}, got {list(got)}")
    return problems
