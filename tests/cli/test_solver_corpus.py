"""conda's community solver corpus (``pytest-conda-solvers``) asked through ``ophis``.

Every case of the package's YAML files runs as ``ophis create|install --dry-run --json`` in
a subprocess on local ``file://`` channels (see ``ophis.testing.solver_corpus``); the
subprocesses run in parallel once per module and each test checks one case's answer
against conda classic's. Cases only conda's libmamba solver answers so are skipped (ophis
aims at classic's answers); each case ophis answers differently is an xfail saying why.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ophis.testing.solver_corpus import (
    CorpusCase,
    Outcome,
    load_cases,
    mismatches,
    run_case,
    write_channels,
)

pytest.importorskip("pytest_conda_solvers", reason="the test extra installs the corpus")

CASES = load_cases()

#: conda's Solver.determine_constricting_specs is a helper behind `conda update`'s printed
#: hint, given hand-made solution records: no command asks it
NOT_A_SOLVE = "determine_constricting_specs is conda's in-process update hint, not a solve"

#: why ophis answers differently from conda classic, by case id
DIFFERENCES = {
    "B006": "conda's UnsatisfiableError lists its conflict chains (numpy=1.5 -> nose -> "
    "python=3.3, numpy=1.5 -> python 2.6|2.7, python=3); ophis finds no chain and lists "
    "rattler's explanation",
    "B017": "auto_update_conda: conda adds `conda` to an install in its own root prefix; "
    "ophis is not the conda package and does not update it",
    "B022": "conda prefers the arch build of a requested package to an equal noarch one "
    "(itsdangerous py36_0 over py_0), prunes what nothing needs any more (channel-4's "
    "libedit, ncurses, xz) and does not relink urllib3, pysocks and cryptography-vectors; "
    "rattler ranks equal builds by timestamp, and ophis keeps installed packages",
    "B032": "--update-deps: conda updates the requested packages' dependencies to their "
    "newest (python 2.7.5, numpy 1.7.1); ophis keeps python=2.7.3",
    "I004": "a request conflicting with a pin: conda raises SpecsConfigurationConflictError, "
    "ophis finds it unsatisfiable",
    "I008a": "--update-all with python requested: conda moves python 2.6 to 3.3 (numba, "
    "numpy, llvmpy follow, argparse goes); ophis keeps python 2.6",
    "I014": "conda also removes xz, which python 2.7 no longer needs and nobody asked for; "
    "ophis keeps installed packages nobody asked for",
}


def _params():
    classic_twins = {c.name.removesuffix("_libmamba") for c in CASES if "libmamba" in c.solvers}
    for case in CASES:
        marks = []
        if case.kind == "determine_constricting_specs":
            marks.append(pytest.mark.skip(reason=NOT_A_SOLVE))
        elif case.solvers and "classic" not in case.solvers:
            twin = case.name.removesuffix("_libmamba")
            reason = f"conda libmamba's answer (classic's is {twin})"
            if twin not in classic_twins:
                reason = "a case for conda's libmamba solver only"
            marks.append(pytest.mark.skip(reason=reason))
        elif case.id in DIFFERENCES:
            marks.append(pytest.mark.xfail(strict=True, reason=DIFFERENCES[case.id]))
        yield pytest.param(case, id=f"{case.id}-{case.name}", marks=marks)


PARAMS = list(_params())


def _runnable(param) -> bool:
    return not any(mark.name == "skip" for mark in param.marks)


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Every selected case's answer, asked in parallel subprocesses."""
    params = (getattr(getattr(i, "callspec", None), "params", {}) for i in request.session.items)
    selected = {p["case"].id for p in params if isinstance(p.get("case"), CorpusCase)}
    cases = [p.values[0] for p in PARAMS if _runnable(p) and p.values[0].id in selected]
    root = tmp_path_factory.mktemp("corpus")
    channels = write_channels(root / "channels")

    def ask(case: CorpusCase) -> Outcome:
        folder = root / case.id
        folder.mkdir()
        return run_case(case, channels, folder)

    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 1) as pool:
        return dict(zip((c.id for c in cases), pool.map(ask, cases), strict=True))


@pytest.mark.parametrize("case", PARAMS)
def test_solver_corpus_case(case: CorpusCase, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.id]
    assert mismatches(case, outcome) == [], outcome.stderr


def test_every_corpus_case_is_asked_or_says_why_not() -> None:
    """A new corpus release adds cases: each runs, or is a libmamba twin or not a solve."""
    assert len(CASES) >= 80
    assert {p.values[0].kind for p in PARAMS if _runnable(p)} == {
        "solve",
        "solve_for_diff",
        "unsatisfiable",
    }
    assert set(DIFFERENCES) <= {c.id for c in CASES}


def test_the_corpus_reads_conda_features_as_conda_does(tmp_path: Path) -> None:
    """The corpus's channels keep legacy ``features`` (conda's test export turns them into
    track_features); the adapter writes them unchanged."""
    channels = write_channels(tmp_path)
    text = (channels["channel-1"] / "linux-64" / "repodata.json").read_text()
    assert '"features": "mkl"' in text
