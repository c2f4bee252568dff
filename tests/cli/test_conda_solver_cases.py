"""conda's solver expectations, asked the way a user's script asks: as ``ophis`` commands.

The same cases as tests/manager/test_solve.py (``tests/manager/data/solver_cases.json``,
transcribed from conda's test_solve.py), run as
``ophis create|install|update|remove --dry-run --json --override-channels -c file://...``.
An installed state is set up as a real prefix: conda-meta records plus a history file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rattler

from ophis.manager.history import write_revision
from ophis.testing.snapshots import SNAPSHOTS, read_snapshot, write_channel

CASES = json.loads(
    (Path(__file__).parents[1] / "manager" / "data" / "solver_cases.json").read_text()
)
SUBDIR = "linux-64"


@pytest.fixture(scope="module")
def channels(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-solver-channels")
    made = {}
    for name, (filename, with_noarch) in SNAPSHOTS.items():
        folder = write_channel(read_snapshot(testdata / "conda" / filename), root / name, SUBDIR)
        if not with_noarch:  # conda's helper reads no noarch for this index: an empty one
            empty = {"info": {"subdir": "noarch"}, "packages": {}, "packages.conda": {}}
            (folder / "noarch" / "repodata.json").write_text(json.dumps(empty))
        made[name] = folder
    return made


def _record(channel: Path, dist: str) -> rattler.RepoDataRecord:
    name, version, build = dist.rsplit("-", 2)
    for subdir in (SUBDIR, "noarch"):
        path = channel / subdir / "repodata.json"
        if not path.exists():
            continue
        sparse = rattler.SparseRepoData(rattler.Channel(channel.as_uri()), subdir, path)
        for record in sparse.load_records(rattler.PackageName(name)):
            if str(record.version) == version and str(record.build) == build:
                return record
    raise LookupError(dist)


def _installed_prefix(case: dict, channels: dict[str, Path], prefix: Path) -> None:
    """A prefix holding the case's installed records (metadata only) and its history."""
    (prefix / "conda-meta").mkdir(parents=True)
    records = []
    for dist in case["installed"]:
        channel_name, _, rest = dist.partition("::")
        record = _record(channels[channel_name], rest)
        prefix_record = rattler.PrefixRecord(record, rattler.PrefixPaths())
        prefix_record.write_to_path(prefix / "conda-meta" / f"{rest}.json", pretty=True)
        records.append(record)
    write_revision(
        prefix,
        cmd=["conda", "install"],
        link=records,
        unlink=[],
        update_specs=list(case["history"].values()),
    )


def _command(case: dict, channels: dict[str, Path], prefix: Path) -> list[str]:
    options = case["options"]
    action = options.get("action", "install" if case["installed"] else "create")
    argv = [action, "-p", str(prefix), "--dry-run", "--json", "--override-channels"]
    if action != "remove":
        for name in case["index"].split(","):
            argv += ["-c", channels[name].as_uri()]
    flags = {
        "no_deps": "--no-deps",
        "only_deps": "--only-deps",
        "force_remove": "--force",
    }
    argv += [flag for key, flag in flags.items() if options.get(key)]
    if options.get("update_modifier") == "update_all":
        argv.append("--update-all")
    if options.get("channel_priority") == "disabled":
        argv.append("--no-channel-priority")
    return [*argv, *case["specs"]]


def _env(case: dict, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "OPHIS"))}
    env.update(
        HOME=str(tmp_path / "home"),
        CONDARC=str(tmp_path / "condarc"),
        OPHIS_ROOT_PREFIX=str(tmp_path / "root"),
        CONDA_PKGS_DIRS=str(tmp_path / "pkgs"),
        CONDA_SUBDIR=SUBDIR,
        CONDA_ADD_PIP_AS_PYTHON_DEPENDENCY="false",
        CONDA_OVERRIDE_CUDA="",
    )
    for name, version in case["options"].get("virtual_packages", []):
        if name == "__cuda":
            env["CONDA_OVERRIDE_CUDA"] = version
    if "aggressive_update_packages" in case["options"]:
        env["CONDA_AGGRESSIVE_UPDATE_PACKAGES"] = ",".join(
            case["options"]["aggressive_update_packages"]
        )
    return env


#: a solve with no specs (conda's Solver restoring a consistent environment) has no command
#: line: `conda install` alone is refused, as `ophis install` is; tests/manager runs it
NO_COMMAND_LINE = "conda's command line refuses install without packages (solved in process)"


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if case.get("xfail") else []
        options = case["options"]
        bare = not (case["specs"] or options.get("action") or options.get("update_modifier"))
        if case["installed"] and bare:
            marks = [pytest.mark.skip(reason=NO_COMMAND_LINE)]
        yield pytest.param(case, id=case["id"], marks=marks)


#: the names conda >= 24 gives the errors conda's classic solver tests expect
CONDA_24_NAMES = {
    "PackagesNotFoundError": {"PackagesNotFoundInChannelsError", "PackagesNotFoundInPrefixError"},
    "ResolvePackageNotFound": {"PackagesNotFoundInChannelsError"},
}


@pytest.mark.parametrize("case", list(_params()))
def test_conda_solver_case_through_the_cli(case: dict, channels: dict, tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    if case["installed"]:
        _installed_prefix(case, channels, prefix)
    result = subprocess.run(
        [sys.executable, "-m", "ophis", *_command(case, channels, prefix)],
        capture_output=True,
        text=True,
        env=_env(case, tmp_path),
        timeout=120,
    )
    document = json.loads(result.stdout)
    if "error" in case:
        assert result.returncode == 1
        assert document["exception_name"] in CONDA_24_NAMES.get(case["error"], {case["error"]})
        return
    assert result.returncode == 0, document
    final = set(case["installed"])
    if "actions" in document:
        actions = document["actions"]  # conda leaves out an empty UNLINK or LINK
        final -= {f"{a['channel']}::{a['dist_name']}" for a in actions.get("UNLINK", [])}
        final |= {f"{a['channel']}::{a['dist_name']}" for a in actions.get("LINK", [])}
    assert sorted(final) == sorted(case["expected"])
