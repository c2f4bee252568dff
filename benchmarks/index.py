"""How fast ``ophis index`` is, against py-rattler's own indexer in the same run.

Builds a synthetic channel of N small packages (2,000 names x 5 versions for N=10,000;
70 % noarch, 30 % linux-64), then times, for each indexer, on its own copy:
  cold     -- index from nothing
  add one  -- add one package and index again
Usage: python benchmarks/index.py [--count 10000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import rattler.index

from ophis.indexer.channel_index import IndexOptions, index_channel
from ophis.testing.packages import make_package

VERSIONS_PER_NAME = 5


def _make(job: tuple[str, int]) -> None:
    root, i = job
    name, version = f"pkg{i // VERSIONS_PER_NAME:05d}", f"1.{i % VERSIONS_PER_NAME}"
    subdir = "linux-64" if i % 10 < 3 else "noarch"
    depends = [f"pkg{(i // VERSIONS_PER_NAME + 1) % 2000:05d} >=1.0"]
    make_package(Path(root) / subdir, name, version, "0", subdir=subdir, depends=depends)


def build_channel(root: Path, count: int) -> None:
    (root / "noarch").mkdir(parents=True)
    (root / "linux-64").mkdir()
    with ProcessPoolExecutor() as pool:
        list(pool.map(_make, [(str(root), i) for i in range(count)], chunksize=200))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(name: str, channel: Path, run: Callable[[Path], object]) -> tuple[float, float]:
    cold = timed(lambda: run(channel))
    make_package(channel / "noarch", "added", "1.0", "0")
    again = timed(lambda: run(channel))
    print(f"{name:<34} cold {cold:8.2f} s   add one {again:7.3f} s")
    return cold, again


def run_ophis(options: IndexOptions) -> Callable[[Path], object]:
    return lambda channel: index_channel(channel, options)


def run_rattler(channel: Path) -> None:
    asyncio.run(rattler.index.index_fs(channel, write_zst=True, write_shards=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ophis-bench-", dir=args.workdir))
    try:
        source = workdir / "source"
        print(f"building {args.count} packages ...", flush=True)
        seconds = timed(lambda: build_channel(source, args.count))
        print(f"  built in {seconds:.1f} s on {os.cpu_count()} cores")
        runs = {
            "ophis index (all outputs)": run_ophis(IndexOptions()),
            "ophis index (rattler's outputs)": run_ophis(
                IndexOptions(write_bz2=False, write_current_repodata=False)
            ),
            "rattler index_fs": run_rattler,
        }
        results = {}
        for name, run in runs.items():
            copy = workdir / name.replace(" ", "_").replace("'", "")
            shutil.copytree(source, copy)
            results[name] = measure(name, copy, run)
        base_cold, base_again = results["rattler index_fs"]
        for name in list(runs)[:2]:
            cold, again = results[name]
            print(
                f"ratio rattler/ophis [{name}]: cold {base_cold / cold:.2f}x, "
                f"add one {base_again / again:.2f}x  (>1 means ophis is faster)"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
