"""Seconds to create the same environment three ways, warm package cache: by solving, from
an ``@EXPLICIT`` file and from a lock file (``ophis create`` as a new process each time,
median of N), against py-rattler's bare install of the same records in the same run.

The environment is benchmarks/install.py's: 40 packages, ``app`` depending on the other 39.
Usage: python benchmarks/envs.py [--packages 40] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import rattler

from install import build_channel, median_seconds, run_in_process  # install.py's channel
from ophis.manager.lockfile import locked_records
from ophis.testing.cli import isolated_user


def ophis(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ophis", *args], check=True, env=env, capture_output=True, text=True
    )
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ophis-bench-envs-"))
    try:
        channel = work / "channel"
        build_channel(channel, args.packages)
        env = isolated_user(work)
        counter = iter(range(10**6))

        def fresh() -> str:
            return str(work / f"env-{next(counter)}")

        source = ["--override-channels", "-c", channel.as_uri()]
        first = fresh()
        ophis(env, "create", "-p", first, *source, "app", "-y", "--json")  # warms the cache
        explicit = work / "env.txt"
        explicit.write_text(ophis(env, "list", "-p", first, "--explicit", "--md5"))
        lock = work / "ophis.lock"
        ophis(env, "lock", *source, "app", "--lockfile", str(lock))

        def run(*how: str) -> tuple[float, float]:
            process = median_seconds(
                lambda: ophis(env, "create", "-p", fresh(), *how, "-y", "--json"), args.runs
            )
            in_process = median_seconds(
                lambda: run_in_process(["create", "-p", fresh(), *how, "-y", "--json"], env),
                args.runs,
            )
            return process, in_process

        results = {
            "by solving": run(*source, "app"),
            "from an @EXPLICIT file": run("--file", str(explicit)),
            "from a lock file": run("--locked", str(lock)),
        }
        records = locked_records(lock, str(rattler.Platform.current()))
        cache = work / "rattler-pkgs"
        asyncio.run(rattler.install(records, Path(fresh()), cache_dir=cache, show_progress=False))
        bare = median_seconds(
            lambda: asyncio.run(
                rattler.install(records, Path(fresh()), cache_dir=cache, show_progress=False)
            ),
            args.runs,
        )
        print(f"create a {args.packages}-package environment, warm cache, median of {args.runs}:")
        print(f"  {'':<37}{'new process':>12}{'in process':>12}{'ratio':>8}")
        for label, (process, in_process) in results.items():
            print(
                f"  ophis create {label:<24}{process:10.3f} s{in_process:10.3f} s"
                f"{in_process / bare:7.1f}x"
            )
        print(
            f"  py-rattler install of the same records{'':>12}{bare:10.3f} s   (the ratio's base)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
