"""conda's answers to the requests whose meaning, not shape, differs between tools: pins,
``update`` and its modifiers, virtual packages as specs, no channels, spec spellings.

One table of cases, each a command run as a user (``--json``) against a local channel and
one installed environment, with the answer conda 26.x gives. conda's default solver there is
conda-libmamba-solver, so where the classic solver answers otherwise the libmamba answer is
the one kept (each case names the conda source it was transcribed from).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user, ophis
from ophis.testing.packages import make_package

CH = ("--override-channels", "-c", "{chan}")
DRY = ("--dry-run",)


@dataclass(frozen=True)
class Case:
    id: str
    source: str  #: the conda code or test the expected answer comes from
    argv: tuple[str, ...]  #: {chan}, {env}, {new} are filled in
    #: name -> version of each package LINKed, exactly (None: not checked)
    link: dict[str, str] | None = None
    error: str | None = None  #: exception_name
    fields: dict[str, Any] = field(default_factory=dict)  #: error fields, exactly
    exit_code: int | None = None  #: default: 1 for an error, else 0
    pinned: str | None = None  #: the environment's conda-meta/pinned during the case
    condarc: str = ""
    environ: dict[str, str] = field(default_factory=dict)
    in_stderr: str = ""
    in_message: str = ""  #: part of the error's message


CASES = [
    # --- pins: pinned_packages and conda-meta/pinned ------------------------------------
    Case(
        "pin-file-conflict",
        "libmamba state.py check_for_pin_conflicts; conda prefix_data.py get_pinned_specs",
        ("install", "-p", "{env}", *CH, "up>=2", *DRY),
        error="SpecsConfigurationConflictError",
        fields={
            "requested_specs": ["up[version='>=2']"],
            "pinned_specs": ["up=1"],
            "prefix": "{env}",
        },
        pinned="# held back on purpose\nup 1.*\n\n",
    ),
    Case(
        "pins-merged-and-listed-whole",
        "conda core/solve.py get_pinned_specs (condarc first, then the file); libmamba "
        "state.py lists every requested spec and every pin, sorted by name",
        ("install", "-p", "{env}", *CH, "up=3", "top", *DRY),
        error="SpecsConfigurationConflictError",
        fields={
            "requested_specs": ["top", "up=3"],
            "pinned_specs": ["dep[version='<2']", "up=1"],
        },
        pinned="up 1.*\n",
        condarc="pinned_packages: ['dep<2']\n",
    ),
    Case(
        "no-pin-ignores-both",
        "conda cli/helpers.py --no-pin (ignore_pinned); core/solve.py pinned_specs",
        ("install", "-p", "{env}", *CH, "up>=2", "--no-pin", *DRY),
        link={"up": "3.0"},
        pinned="up 1.*\n",
        condarc="pinned_packages: ['up<2']\n",
    ),
    Case(
        "pin-constrains-name-only-request",
        "libmamba tests/test_solver.py test_ca_certificates_pins",
        ("install", "-p", "{env}", *CH, "up", *DRY),
        link={"up": "2.0"},
        pinned="up 2.*\n",
    ),
    Case(
        "pin-holds-through-update-all",
        "libmamba state.py always_update (pinned names are not updated)",
        ("update", "-p", "{env}", *CH, "--all", *DRY),
        link={"dep": "2.0", "top": "2.0"},
        pinned="up 1.*\n",
    ),
    Case(
        "name-only-pin-locks-installed",
        "libmamba solver.py _specs_to_request_jobs_add (name-only pins freeze the installed)",
        ("update", "-p", "{env}", *CH, "--all", *DRY),
        link={"up": "3.0", "top": "2.0"},
        pinned="dep\n",
    ),
    Case(
        "name-only-pin-conflict-lists-the-record",
        "libmamba tests/test_solver.py test_locking_pins",
        ("install", "-p", "{env}", *CH, "up=3", *DRY),
        error="SpecsConfigurationConflictError",
        fields={"requested_specs": ["up=3"]},
        pinned="up\n",
    ),
    Case(
        "dependency-against-pin-is-unsatisfiable",
        "conda tests/core/test_solve.py test_pinned_1 (LIBMAMBA ADJUSTMENT: UnsatisfiableError)",
        ("install", "-p", "{env}", *CH, "hi", *DRY),
        error="UnsatisfiableError",
        pinned="up 1.*\n",
    ),
    Case(
        "classic-requested-spec-overrides-pin",
        "conda core/solve.py Solver._add_specs (classic: 'Overriding pinned spec', a warning)",
        ("install", "-p", "{env}", *CH, "up>=2", *DRY),
        link={"up": "3.0"},
        pinned="up 1.*\n",
        condarc="solver: classic\n",
        in_stderr="up=1 conflicts with the requested up[version='>=2']",
    ),
    Case(
        "classic-dependency-against-pin",
        "conda tests/core/test_solve.py test_pinned_1 (classic: the _kwargs it checks)",
        ("install", "-p", "{env}", *CH, "hi", *DRY),
        error="SpecsConfigurationConflictError",
        fields={"requested_specs": ["hi"], "pinned_specs": ["up=1"], "prefix": "{env}"},
        pinned="up 1.*\n",
        condarc="solver: classic\n",
    ),
    Case(
        "bad-pin-file-is-named",
        "Ophis: a pin conda could not parse stops the solve, naming the file and line",
        ("install", "-p", "{env}", *CH, "up", *DRY),
        error="CondaValueError",
        pinned="up 1.*\nup[\n",
        in_message="conda-meta/pinned: line 2",
    ),
    Case(
        "create-ignores-the-old-pin-file",
        "conda cli/main_create.py removes the existing environment before solving",
        ("create", "-p", "{new}", *CH, "up>=2", *DRY),
        link={"up": "3.0"},
    ),
    # --- update and the update modifiers --------------------------------------------------
    Case(
        "update-frees-the-history-spec",
        "libmamba solver.py _specs_to_request_jobs_add (a requested name is an Update job)",
        ("update", "-p", "{env}", *CH, "up", *DRY),
        link={"up": "3.0"},
    ),
    Case(
        "install-of-an-installed-name-updates-it",
        "libmamba solver.py _specs_to_request_jobs_add (requested and installed: Update job)",
        ("install", "-p", "{env}", *CH, "up", *DRY),
        link={"up": "3.0"},
    ),
    Case(
        "update-takes-names-only",
        "conda cli/install.py ensure_update_specs_exist",
        ("update", "-p", "{env}", *CH, "up=2", *DRY),
        error="CondaUpdatePackageError",
    ),
    Case(
        "install-keeps-dependencies",
        "conda core/solve.py _add_specs (history specs are kept as targets)",
        ("install", "-p", "{env}", *CH, "top", *DRY),
        link={"top": "2.0"},
    ),
    Case(
        "install-update-deps",
        "conda core/solve.py _post_sat_handling UPDATE_DEPS; libmamba state.py post_solve",
        ("install", "-p", "{env}", *CH, "top", "--update-deps", *DRY),
        link={"dep": "2.0", "top": "2.0"},
    ),
    Case(
        "update-update-deps",
        "conda core/solve.py _post_sat_handling UPDATE_DEPS",
        ("update", "-p", "{env}", *CH, "top", "--update-deps", *DRY),
        link={"dep": "2.0", "top": "2.0"},
    ),
    Case(
        "update-deps-respects-pins",
        "conda core/solve.py _post_sat_handling (pinned names are popped from the new specs)",
        ("install", "-p", "{env}", *CH, "top", "--update-deps", *DRY),
        link={"top": "2.0"},
        pinned="dep 1.*\n",
    ),
    Case(
        "no-update-deps-is-freeze-installed",
        "conda cli/helpers.py add_parser_update_modifiers (--freeze-installed, --no-update-deps)",
        ("install", "-p", "{env}", *CH, "top", "--no-update-deps", *DRY),
        link={"top": "2.0"},
    ),
    Case(
        "install-update-all-needs-packages",
        "conda cli/main_install.py (too few arguments)",
        ("install", "-p", "{env}", *CH, "--update-all", *DRY),
        error="CondaValueError",
    ),
    # --- virtual packages as specs ----------------------------------------------------------
    Case(
        "virtual-package-spec-installs-nothing",
        "libmamba solver.py _export_solution (virtual records are skipped)",
        ("create", "-p", "{new}", *CH, "__glibc>=2.17", *DRY),
        link={},
        environ={"CONDA_OVERRIDE_GLIBC": "2.28"},
    ),
    Case(
        "virtual-package-next-to-a-package",
        "libmamba solver.py _export_solution",
        ("install", "-p", "{env}", *CH, "__glibc", "up=2", *DRY),
        link={"up": "2.0"},
        environ={"CONDA_OVERRIDE_GLIBC": "2.28"},
    ),
    Case(
        "virtual-package-the-system-lacks",
        "conda core/solve.py _run_sat absent_specs; libmamba _maybe_raise_for_problems",
        ("create", "-p", "{new}", *CH, "__glibc>=99", *DRY),
        error="PackagesNotFoundInChannelsError",
        fields={"packages": ["__glibc>=99"]},
        environ={"CONDA_OVERRIDE_GLIBC": "2.28"},
    ),
    # --- no channels ---------------------------------------------------------------------
    Case(
        "no-channels-configured",
        "conda core/solve.py solve_for_transaction; tests/core/test_solve.py "
        "test_no_channels_error",
        ("create", "-p", "{new}", "up", *DRY),
        error="NoChannelsConfiguredError",
        fields={"packages": ["up"], "packages_str": "up"},
        condarc="channels: []\n",
    ),
    Case(
        "override-channels-without-c",
        "conda base/context.py Context.channels",
        ("create", "-p", "{new}", "--override-channels", "up", *DRY),
        error="ArgumentError",
        exit_code=2,
    ),
    Case(
        "override-channels-disabled",
        "conda base/context.py Context.channels (override_channels_enabled)",
        ("create", "-p", "{new}", *CH, "up", *DRY),
        error="OperationNotAllowed",
        condarc="override_channels_enabled: false\n",
    ),
    # --- spec spellings (conda models/match_spec.py _sanitize_version_str, version.py) ----
    Case(
        "fuzzy-greater-admits-pre-releases",
        "match_spec.py _sanitize_version_str: 'rc=>1' is 'rc[version=>1*]'",
        ("create", "-p", "{new}", *CH, "rc=>1", *DRY),
        link={"rc": "1.0rc1"},
    ),
    Case(
        "fuzzy-less-excludes-pre-releases",
        "match_spec.py _sanitize_version_str: 'pre=<1' is 'pre[version=<1*]'",
        ("create", "-p", "{new}", *CH, "pre =<1", *DRY),
        link={"pre": "0.9"},
    ),
    Case(
        "fuzzy-greater-in-brackets",
        "match_spec.py _parse_spec_str sanitizes a bracket version too",
        ("create", "-p", "{new}", *CH, "rc[version='=>1']", *DRY),
        link={"rc": "1.0rc1"},
    ),
    Case(
        "fuzzy-greater-with-a-list-is-invalid",
        "version.py VersionSpec: '=>1,<3' is an invalid operator",
        ("create", "-p", "{new}", *CH, "up=>1,<3", *DRY),
        error="InvalidMatchSpec",
    ),
    Case(
        "compatible-release-with-star-is-invalid",
        "version.py VersionSpec: invalid operator with '.*'",
        ("create", "-p", "{new}", *CH, "up~=1.0.*", *DRY),
        error="InvalidMatchSpec",
    ),
    Case(
        "operator-spellings",
        "match_spec.py _parse_spec_str and version.py VersionSpec",
        (
            "create",
            "-p",
            "{new}",
            *CH,
            "up==2.0",
            "dep =1.0",
            "top>=1,<2",
            "rc 0.9 0",
            "pre[version='>=0.9,<1.0']",
            *DRY,
        ),
        link={"up": "2.0", "dep": "1.0", "top": "1.0", "rc": "0.9", "pre": "1.0rc1"},
    ),
    Case(
        "operator-spellings-2",
        "match_spec.py _parse_spec_str and version.py VersionSpec",
        ("create", "-p", "{new}", *CH, "up=2.*", "top~=1.0", "dep!=2.0", *DRY),
        link={"up": "2.0", "top": "1.0", "dep": "1.0"},
    ),
    # --- create over an environment, install with nothing ----------------------------------
    Case(
        "create-dry-run-over-an-environment",
        "conda cli/main_create.py",
        ("create", "-p", "{env}", *CH, "up", *DRY),
        error="CondaValueError",
    ),
    Case(
        "install-nothing",
        "conda cli/main_install.py (too few arguments)",
        ("install", "-p", "{env}", *CH),
        error="CondaValueError",
    ),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A channel, a user, and an environment made with ``up=1.0 dep=1.0 top=1.0``."""
    root = tmp_path_factory.mktemp("semantics")
    chan = root / "chan"
    noarch = chan / "noarch"
    noarch.mkdir(parents=True)
    for version in ("1.0", "2.0", "3.0"):
        make_package(noarch, "up", version)
    for version in ("1.0", "2.0"):
        make_package(noarch, "dep", version)
        make_package(noarch, "top", version, depends=["dep"])
    make_package(noarch, "hi", depends=["up >=2"])
    for version in ("0.9", "1.0rc1"):
        make_package(noarch, "rc", version)
    for version in ("0.9", "1.0rc1", "1.0"):
        make_package(noarch, "pre", version)
    index_channel(chan)
    user = isolated_user(root / "user")
    env = root / "env"
    made = ophis(user, "create", "-p", str(env), "--override-channels", "-c", chan.as_uri(),
                 "up=1.0", "dep=1.0", "top=1.0", "--json", "-y")  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    yield {"user": user, "chan": chan.as_uri(), "env": str(env)}


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conda_semantics(case: Case, world: dict[str, Any], tmp_path: Path) -> None:
    names = {"chan": world["chan"], "env": world["env"], "new": str(tmp_path / "new")}
    user = {**world["user"], **case.environ}
    if case.condarc:
        (tmp_path / ".condarc").write_text(case.condarc)
        user["CONDARC"] = str(tmp_path / ".condarc")
    pin_file = Path(world["env"]) / "conda-meta" / "pinned"
    if case.pinned is not None:
        pin_file.write_text(case.pinned)
    try:
        result = ophis(user, *_fill(list(case.argv), names), "--json")
    finally:
        pin_file.unlink(missing_ok=True)
    expected_code = case.exit_code if case.exit_code is not None else int(bool(case.error))
    assert result.returncode == expected_code, result.stdout + result.stderr
    assert case.in_stderr in result.stderr
    document = json.loads(result.stdout)
    if case.error:
        assert document["exception_name"] == case.error, document
        for key, expected in case.fields.items():
            assert document[key] == _fill(expected, names), key
        assert case.in_message in document["message"]
        return
    assert document["success"] is True
    if case.link is not None:
        linked = document.get("actions", {}).get("LINK", [])
        assert {a["name"]: a["version"] for a in linked} == case.link


def test_name_only_pin_lists_the_installed_record(world: dict[str, Any]) -> None:
    """conda puts the record a name-only pin holds into ``pinned_specs`` (libmamba state.py
    check_for_pin_conflicts); its JSON is the record's dump."""
    pin_file = Path(world["env"]) / "conda-meta" / "pinned"
    pin_file.write_text("up\n")
    try:
        result = ophis(world["user"], "install", "-p", world["env"], "--override-channels",
                       "-c", world["chan"], "up=3", "--dry-run", "--json")  # fmt: skip
    finally:
        pin_file.unlink()
    document = json.loads(result.stdout)
    (held,) = document["pinned_specs"]
    assert (held["name"], held["version"], held["fn"]) == ("up", "1.0", "up-1.0-0.tar.bz2")
    assert f"{world['chan']}/noarch::up==1.0=0" in document["message"]


def test_update_deps_records_the_dependencies(world: dict[str, Any], tmp_path: Path) -> None:
    """After ``--update-deps`` the history names the dependencies as requested too
    (conda core/solve.py: the new specs_to_add are what history records)."""
    copy = tmp_path / "copy"
    cloned = ophis(world["user"], "create", "-p", str(copy), "--clone", world["env"], "--json")
    assert cloned.returncode == 0, cloned.stderr
    result = ophis(world["user"], "install", "-p", str(copy), "--override-channels", "-c",
                   world["chan"], "top", "--update-deps", "--json", "-y")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    history = (copy / "conda-meta" / "history").read_text()
    assert "# update specs: ['dep', 'top']" in history
    listed = json.loads(ophis(world["user"], "list", "-p", str(copy), "--json").stdout)
    assert {p["name"]: p["version"] for p in listed} == {"dep": "2.0", "top": "2.0", "up": "1.0"}
