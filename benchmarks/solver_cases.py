"""conda's solver cases as conda's own suite runs them: one ``ophis`` process per case.

Every solving case of pytest-conda-solvers' corpus (``ophis.testing.solver_corpus`` reads
it; conda's ``determine_constricting_specs`` helper cases are no solves) is asked as
``ophis create|install --dry-run --json`` in a new process, one after the other, with its
installed prefix prepared beforehand (not timed). Printed: the total and median wall time,
the total CPU time (user + system), and beside them the floors measured in the same run:
``python -c pass`` once per case, and py-rattler's bare work per case in a fresh process
(``import rattler``, reading the case's channels, solving its specs). conda classic's
total is the figure recorded in the issue that asked for this benchmark on the same kind
of machine; it is not measured here (conda is not installed).
Usage: python benchmarks/solver_cases.py [--repeat 1] [--limit N]
"""

from __future__ import annotations

import argparse
import compileall
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ophis
from ophis.testing.solver_corpus import SUBDIR, CorpusCase, load_cases, prepare_case, write_channels

#: conda classic on the same corpus, one process per case (recorded, not measured here)
CONDA_CLASSIC_SECONDS = 108.0
CONDA_CLASSIC_CASES = 73
#: what the issue asks for: a tenth of conda classic's total
TARGET_RATIO = 0.10

#: py-rattler alone: read the case's channels and solve its specs (errors are answers too)
_BARE = """
import asyncio, json, os, sys, rattler
channels, specs = json.loads(sys.argv[1])
sparse = [rattler.SparseRepoData(rattler.Channel(url), subdir, f"{path}/{subdir}/repodata.json")
          for url, path in channels for subdir in (sys.argv[2], "noarch")
          if os.path.exists(f"{path}/{sys.argv[2]}/repodata.json") or subdir == "noarch"]
try:
    asyncio.run(rattler.solve_with_sparse_repodata(
        [rattler.MatchSpec(s, strict=False) for s in specs], sparse,
        timestamp_policy="allow-missing"))
except Exception:
    pass
os._exit(0)  # py-rattler's threads can abort a normal interpreter shutdown
"""


def timed(
    argv: list[str], env: dict[str, str] | None, cwd: Path | None = None
) -> tuple[float, float]:
    """Wall and CPU seconds of one process (its exit status is the case's answer)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def solving_cases() -> list[CorpusCase]:
    return [c for c in load_cases() if c.kind != "determine_constricting_specs"]


def bare_command(case: CorpusCase, channels: dict[str, Path]) -> list[str]:
    used = [(channels[name].as_uri(), str(channels[name])) for name in case.channels]
    return [sys.executable, "-c", _BARE, json.dumps([used, case.specs]), SUBDIR]


def run_all(cases: list[CorpusCase], channels: dict[str, Path], work: Path) -> dict[str, list]:
    """Each case once per runner; returns (wall, cpu) per case for ophis and the floors."""
    times: dict[str, list] = {"ophis": [], "python -c pass": [], "py-rattler bare": []}
    for number, case in enumerate(cases):
        folder = work / f"{number:03d}-{case.id}"
        folder.mkdir()
        argv, env = prepare_case(case, channels, folder)
        times["ophis"].append(timed(argv, env, folder))
        times["python -c pass"].append(timed([sys.executable, "-c", "pass"], env))
        times["py-rattler bare"].append(timed(bare_command(case, channels), env))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="whole runs; per-case medians")
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases")
    args = parser.parse_args()
    cases = solving_cases()[: args.limit]
    # as an installed package has them: without, each process would compile the sources it
    # imports (PYTHONDONTWRITEBYTECODE, set on some machines, keeps it from saving them)
    compileall.compile_dir(Path(ophis.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        channels = write_channels(work / "channels")
        warm_up = work / "warm-up"
        warm_up.mkdir()
        timed(*prepare_case(cases[0], channels, warm_up), warm_up)
        runs = []
        for round_ in range(args.repeat):
            (work / f"run{round_}").mkdir()
            runs.append(run_all(cases, channels, work / f"run{round_}"))
    print(f"conda's solver corpus: {len(cases)} cases, one process each, in sequence")
    print(f"{'':<18}{'total wall':>12}{'total cpu':>12}{'median wall':>13}")
    totals = {}
    for runner in runs[0]:
        per_case = [
            tuple(statistics.median(run[runner][i][k] for run in runs) for k in (0, 1))
            for i in range(len(cases))
        ]
        walls = [wall for wall, _ in per_case]
        totals[runner] = sum(walls)
        cpu = sum(cpu for _, cpu in per_case)
        median = statistics.median(walls)
        print(f"{runner:<18}{totals[runner]:11.1f}s{cpu:11.1f}s{median:12.3f}s")
    # conda's figure is for the whole corpus: a --limit run is set against its share of it
    conda = CONDA_CLASSIC_SECONDS * len(cases) / CONDA_CLASSIC_CASES
    ratio = totals["ophis"] / conda
    print(
        f"{'conda classic':<18}{conda:11.1f}s   (recorded in the issue on this kind of machine: "
        f"{CONDA_CLASSIC_SECONDS:.0f} s for {CONDA_CLASSIC_CASES} cases; not measured here)"
    )
    print(
        f"ophis / conda classic: {ratio:.3f} (target {TARGET_RATIO}); ophis / py-rattler "
        f"bare: {totals['ophis'] / totals['py-rattler bare']:.2f}; ophis / python -c pass: "
        f"{totals['ophis'] / totals['python -c pass']:.2f}"
    )


if __name__ == "__main__":
    main()
