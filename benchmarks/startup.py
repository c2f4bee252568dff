"""What each ``ophis`` command costs as a whole process, against the floor under it.

Every row runs the command as a user's script does (a new process, an isolated HOME with one
environment, a local channel already fetched), once to warm up, then --repeat times; it
prints the median wall time and CPU time (user + system of the child). Beside each, the
floor measured in the same run: ``python -c pass`` with the same interpreter, and for the
rows that solve, py-rattler's bare call in a fresh process (``import rattler`` plus the same
solve, or solve and install) on the same files. The ratio is ophis's wall time over the
floor's.
Usage: python benchmarks/startup.py [--repeat 10]
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
    return fresh_measure(lambda _: command, None, env, repeat)


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
    make: Callable[[str], list[str]], fresh: Fresh | None, env: dict[str, str], repeat: int
) -> tuple[float, float]:
    """Median wall and CPU seconds of ``make(a new prefix)`` (after one warm-up run)."""
    walls, cpus = [], []
    for round_ in range(repeat + 1):
        wall, cpu = _once(make(fresh() if fresh else ""), env)
        if round_:
            walls.append(wall)
            cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        env = isolated_user(work / "user")
        ophis = [str(Path(PYTHON).with_name("ophis"))]
        chain = chain_channel(work)
        index4 = write_channel(
            read_snapshot(testdata_dir() / "conda" / "index4.json.zst"), work / "index4", "linux-64"
        )
        local = ["--override-channels", "-c", chain.as_uri()]
        subprocess.run(
            [*ophis, "create", "-n", "demo", *local, "pkg00", "-y", "--json"],
            env=env,
            capture_output=True,
            check=True,
        )
        subprocess.run(
            [*ophis, "search", *local, "pkg00", "--json"], env=env, capture_output=True, check=True
        )
        floor = measure([PYTHON, "-c", "pass"], env, args.repeat)
        fresh = Fresh(work / "fresh")
        dask = ["dask", "bokeh", "python=3.6"]
        solve_floor = measure([PYTHON, "-c", _BARE_SOLVE, str(index4), *dask], env, args.repeat)
        install_floor = fresh_measure(
            lambda p: [PYTHON, "-c", _BARE_INSTALL, str(chain), p, str(work / "pkgs"), "pkg00"],
            fresh,
            env,
            args.repeat,
        )
        rows: list[tuple[str, tuple[float, float], tuple[float, float], str]] = []

        def row(label: str, argv: list[str], base=floor, base_name="python -c pass") -> None:
            rows.append((label, measure([*ophis, *argv], env, args.repeat), base, base_name))

        row("--version", ["--version"])
        row("--help", ["--help"])
        row("list", ["list", "-n", "demo"])
        row("info --json", ["info", "--json"])
        row("env list --json", ["env", "list", "--json"])
        row("config --show --json", ["config", "--show", "--json"])
        row("shell hook", ["shell", "hook"])
        row("shell.posix activate", ["shell.posix", "activate", "demo"])
        row("run true", ["run", "-n", "demo", "true"])
        row("search (cached channel)", ["search", *local, "pkg00"])
        row(
            "create --dry-run --json (index4)",
            [
                "create",
                "-n",
                "x",
                "--dry-run",
                "--json",
                "--override-channels",
                "-c",
                index4.as_uri(),
                *dask,
            ],
            solve_floor,
            "rattler solve",
        )
        rows.append(
            (
                f"warm {CHAIN}-package create",
                fresh_measure(
                    lambda p: [*ophis, "create", "-p", p, *local, "pkg00", "-y", "--json"],
                    fresh,
                    env,
                    args.repeat,
                ),
                install_floor,
                "rattler solve+install",
            )
        )
        print(f"median of {args.repeat} runs after one warm-up; times in seconds")
        print(f"{'command':<36}{'wall':>7}{'cpu':>7}  {'floor':<22}{'wall':>7}{'ratio':>7}")
        for label, (wall, cpu), (base_wall, _), base_name in rows:
            print(
                f"{label:<36}{wall:7.3f}{cpu:7.3f}  {base_name:<22}{base_wall:7.3f}"
                f"{wall / base_wall:7.2f}"
            )
        print(f"(python -c pass: {floor[0]:.3f} s wall, {floor[1]:.3f} s cpu)")


if __name__ == "__main__":
    main()
