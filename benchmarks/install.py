"""Seconds to create a 40-package environment, from a warm package cache and a cold one.

Builds a local channel of 40 packages (20 files each; ``app`` depends on the other 39),
indexes it with ``ophis index``, warms the package cache once, then creates a fresh
environment five times with ``ophis create`` (the full path: config, repodata, solve,
link, scripts, history) and with py-rattler's bare ``solve_with_sparse_repodata`` +
``install`` in the same process. Then the same over HTTP (the channel served by
``python -m http.server`` in another process) with an empty package cache every time:
ophis downloads, verifies and extracts the archives itself before rattler links them
(its figure also includes fetching repodata; rattler's reads it from disk).
Prints the medians and the ratios.
Usage: python benchmarks/install.py [--packages 40] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rattler

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user
from ophis.testing.http import serve_in_process
from ophis.testing.packages import make_package


def build_channel(root: Path, count: int) -> None:
    for i in range(1, count):
        files = {f"lib/pkg{i}/file{j}.txt": f"{i}:{j}\n".encode() * 50 for j in range(20)}
        make_package(root / "noarch", f"pkg{i}", "1.0", "0", files=files)
    make_package(root / "noarch", "app", "1.0", "0", depends=[f"pkg{i}" for i in range(1, count)])
    index_channel(root)


def served(root: Path) -> contextlib.AbstractContextManager[str]:
    """``root`` over HTTP from another process (no GIL shared with the installers)."""
    return serve_in_process(
        lambda port: [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "-b",
            "127.0.0.1",
            "-d",
            str(root),
        ]
    )


def create_argv(channel: str, prefix: Path) -> list[str]:
    return [
        "create",
        "-p",
        str(prefix),
        "--override-channels",
        "-c",
        channel,
        "app",
        "-y",
        "--json",
    ]


def ophis_create(channel: str, prefix: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "ophis", *create_argv(channel, prefix)],
        check=True,
        env=env,
        capture_output=True,
    )


def ophis_create_in_process(channel: str, prefix: Path, env: dict[str, str]) -> None:
    run_in_process(create_argv(channel, prefix), env)


def run_in_process(argv: list[str], env: dict[str, str]) -> None:
    """``ophis ARGV`` in this process, with ``env`` as its environment and stdout dropped."""
    from ophis.cli.main import build_app

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            build_app(argv)(argv, standalone_mode=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def rattler_create(channel: str, repodata: Path, prefix: Path, cache: Path) -> None:
    """Solve from the local ``repodata`` of ``channel``; install from ``channel``'s URLs."""
    sparse = [
        rattler.SparseRepoData(
            rattler.Channel(channel), subdir, repodata / subdir / "repodata.json"
        )
        for subdir in ("noarch",)
    ]
    records = rattler.solve_with_sparse_repodata(["app"], sparse, timestamp_policy="allow-missing")
    records = asyncio.run(records) if asyncio.iscoroutine(records) else records
    asyncio.run(rattler.install(records, prefix, cache_dir=cache, show_progress=False))


def median_seconds(action, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ophis-bench-install-"))
    try:
        channel = work / "channel"
        build_channel(channel, args.packages)
        env = isolated_user(work)
        counter = iter(range(10**6))

        def fresh(name: str) -> Path:
            return work / f"{name}-{next(counter)}"

        local = channel.as_uri()
        ophis_create(local, fresh("warm"), env)  # fills the package cache
        rattler_create(local, channel, fresh("warm"), work / "rattler-pkgs")
        ophis_s = median_seconds(lambda: ophis_create(local, fresh("ophis"), env), args.runs)
        inproc_s = median_seconds(
            lambda: ophis_create_in_process(local, fresh("inproc"), env), args.runs
        )
        bare_s = median_seconds(
            lambda: rattler_create(local, channel, fresh("rattler"), work / "rattler-pkgs"),
            args.runs,
        )
        with served(channel) as url:
            cold_s = median_seconds(
                lambda: ophis_create_in_process(
                    url, fresh("cold"), {**env, "CONDA_PKGS_DIRS": str(fresh("cold-pkgs"))}
                ),
                args.runs,
            )
            bare_cold_s = median_seconds(
                lambda: rattler_create(url, channel, fresh("rcold"), fresh("rcold-pkgs")),
                args.runs,
            )
        print(f"create {args.packages}-package env, warm cache, median of {args.runs}:")
        print(f"  ophis create (whole command, new process)   {ophis_s:7.3f} s")
        print(f"  ophis create (same command, in process)     {inproc_s:7.3f} s")
        print(f"  py-rattler solve + install (in process)     {bare_s:7.3f} s")
        print(
            f"  ratio ophis/rattler: {ophis_s / bare_s:.2f}x with process start-up, "
            f"{inproc_s / bare_s:.2f}x in process"
        )
        print(f"create {args.packages}-package env over HTTP, cold cache, median of {args.runs}:")
        print(f"  ophis create (in process)                   {cold_s:7.3f} s")
        print(f"  py-rattler solve + install (in process)     {bare_cold_s:7.3f} s")
        print(f"  ratio ophis/rattler: {cold_s / bare_cold_s:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
