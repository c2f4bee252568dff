"""What each ``ophis`` command costs as a whole process, against the floor under it.

Every row runs the command as a user's script does (a new process, an isolated HOME with one
environment, a local channel already fetched, Python's bytecode cache written as an
installed package has it), once to warm up, then --repeat times; it prints the median wall
time and CPU time (user + system of the child). Beside each, the floor measured in the same
run: ``python -c pass`` with the same interpreter, and for the rows that solve, py-rattler's
bare call in a fresh process (``import rattler`` plus the same solve, or solve and install)
on the same files. The ratio is ophis's wall time over the floor's.

With ``--base SRC`` (another checkout's ``src`` folder, e.g. ``git archive main src``), each
row is measured for both trees, the runs alternated so that both see the same machine load.
Usage: python benchmarks/startup.py [--repeat 10] [--base OTHER/src]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user
from ophis.testing.packages import make_package, testdata_dir
from ophis.testing.snapshots import read_snapshot, write_channel

PYTHON = sys.executable
CHAIN = 40  # packages in the warm create: pkg00 needs pkg01 needs ... pkg39

_BARE_SOLVE = """
import asyncio, os, sys, rattler
channel = rattler.Channel(sys.argv[1])
sparse = [rattler.SparseRepoData(channel, s, f"{sys.argv[1]}/{s}/repodata.json")
          for s in ("linux-64", "noarch")]
asyncio.run(rattler.solve_with_sparse_repodata(sys.argv[2:], sparse,
            timestamp_policy="allow-missing"))
os._exit(0)  # py-rattler's threads can abort a normal interpreter shutdown
"""

_BARE_INSTALL = """
import asyncio, os, sys, rattler
channel = rattler.Channel(sys.argv[1])
sparse = [rattler.SparseRepoData(channel, "noarch", f"{sys.argv[1]}/noarch/repodata.json")]
records = asyncio.run(rattler.solve_with_sparse_repodata(sys.argv[4:], sparse))
asyncio.run(rattler.install(records, target_prefix=sys.argv[2], cache_dir=sys.argv[3],
            show_progress=False))
os._exit(0)
"""


def measure(command: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``command`` (after one warm-up run)."""
    return fresh_measure(lambda _: command, None, [env], repeat)[0]


def chain_channel(root: Path) -> Path:
    noarch = root / "chain" / "noarch"
    noarch.mkdir(parents=True)
    for index in range(CHAIN):
        depends = [f"pkg{index + 1:02d}"] if index + 1 < CHAIN else []
        payload = {f"share/pkg{index:02d}/data.txt": b"x" * 4096}
        make_package(noarch, f"pkg{index:02d}", "1.0", depends=depends, files=payload)
    index_channel(root / "chain")
    return root / "chain"


class Fresh:
    """A new environment name (or prefix) per run, for commands that create one."""

    def __init__(self, root: Path) -> None:
        self.root, self.count = root, 0

    def __call__(self) -> str:
        self.count += 1
        return str(self.root / f"e{self.count}")


def fresh_measure(
    make: Callable[[str], list[str]], fresh: Fresh | None, envs: list[dict[str, str]], repeat: int
) -> list[tuple[float, float]]:
    """Median wall and CPU seconds of ``make(a new prefix)`` (after one warm-up run) in each
    of ``envs``, their runs alternated."""
    walls: list[list[float]] = [[] for _ in envs]
    cpus: list[list[float]] = [[] for _ in envs]
    for round_ in range(repeat + 1):
        for index, env in enumerate(envs):
            wall, cpu = _once(make(fresh() if fresh else ""), env)
            if round_:
                walls[index].append(wall)
                cpus[index].append(cpu)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus, strict=True)]


def _once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout!r}\n{done.stderr!r}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--base", type=Path, help="another checkout's src folder to compare")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        env = isolated_user(work / "user")
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode
        trees = {"branch": env}
        if args.base:
            trees = {"base": {**env, "PYTHONPATH": str(args.base.resolve())}, "branch": env}
        envs = list(trees.values())
        ophis = [str(Path(PYTHON).with_name("ophis"))]
        chain = chain_channel(work)
        index4 = write_channel(
            read_snapshot(testdata_dir() / "conda" / "index4.json.zst"), work / "index4", "linux-64"
        )
        local = ["--override-channels", "-c", chain.as_uri()]
        on_index4 = ["--override-channels", "-c", index4.as_uri()]
        subprocess.run(
            [*ophis, "create", "-n", "demo", *local, "pkg00", "-y", "--json"],
            env=env,
            capture_output=True,
            check=True,
        )
        floor = measure([PYTHON, "-c", "pass"], env, args.repeat)
        fresh = Fresh(work / "fresh")
        dask = ["dask", "bokeh", "python=3.6"]
        solve_floor = measure([PYTHON, "-c", _BARE_SOLVE, str(index4), *dask], env, args.repeat)
        install_floor = fresh_measure(
            lambda p: [PYTHON, "-c", _BARE_INSTALL, str(chain), p, str(work / "pkgs"), "pkg00"],
            fresh,
            [env],
            args.repeat,
        )[0]
        rows: list[tuple[str, list[tuple[float, float]], tuple[float, float], str]] = []

        def row(label: str, argv: list[str], base=floor, base_name="python -c pass") -> None:
            timed = fresh_measure(lambda _: [*ophis, *argv], None, envs, args.repeat)
            rows.append((label, timed, base, base_name))

        row("--version", ["--version"])
        row("--help", ["--help"])
        row("list", ["list", "-n", "demo"])
        row("info --json", ["info", "--json"])
        row("env list --json", ["env", "list", "--json"])
        row("config --show --json", ["config", "--show", "--json"])
        row("shell hook", ["shell", "hook"])
        row("activate", ["shell.posix", "activate", "demo"])
        row("run true", ["run", "-n", "demo", "true"])
        row("search numpy (cached channel)", ["search", *on_index4, "numpy"])
        row(
            "create --dry-run --json (index4)",
            ["create", "-n", "x", "--dry-run", "--json", *on_index4, *dask],
            solve_floor,
            "rattler solve",
        )
        rows.append(
            (
                f"warm {CHAIN}-package create",
                fresh_measure(
                    lambda p: [*ophis, "create", "-p", p, *local, "pkg00", "-y", "--json"],
                    fresh,
                    envs,
                    args.repeat,
                ),
                install_floor,
                "rattler solve+install",
            )
        )
        _print_table(list(trees), rows, args.repeat, floor)


def _print_table(
    trees: list[str],
    rows: list[tuple[str, list[tuple[float, float]], tuple[float, float], str]],
    repeat: int,
    floor: tuple[float, float],
) -> None:
    print(f"median of {repeat} runs after one warm-up; times in seconds")
    heads = "".join(f"{tree + ' wall':>13}{'cpu':>7}" for tree in trees)
    print(f"{'command':<34}{heads}  {'floor':<22}{'wall':>7}{'ratio':>7}")
    for label, timed, (base_wall, _), base_name in rows:
        cells = "".join(f"{wall:13.3f}{cpu:7.3f}" for wall, cpu in timed)
        ratio = timed[-1][0] / base_wall
        print(f"{label:<34}{cells}  {base_name:<22}{base_wall:7.3f}{ratio:7.2f}")
    print(f"(python -c pass: {floor[0]:.3f} s wall, {floor[1]:.3f} s cpu)")


if __name__ == "__main__":
    main()
