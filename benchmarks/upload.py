"""Seconds to upload N small packages with ``ophis upload`` and with the ``anaconda`` client.

Starts a real server (``ophis server start``), makes N small conda packages, logs each
client in as its own user (not timed), then times one ``ophis upload FILES...`` and one
``anaconda upload FILES...`` of the same files, each to its own owner on the same server, in
the same run. Also times ``ophis upload`` of the same files again (nothing left to send:
the resumable check alone). The anaconda client runs standalone, with its own
BINSTAR_CONFIG_DIR and telemetry off.
Usage: python benchmarks/upload.py [--count 200] [--parallel 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer, run_server

PASSWORD = "bench-password"
ANACONDA = Path(sys.executable).with_name("anaconda")


def _make(job: tuple[str, int]) -> str:
    folder, i = job
    return str(make_package(Path(folder), f"pkg{i:04d}", "1.0", "0", fmt=".conda"))


def _environment(home: Path) -> dict[str, str]:
    """A user of their own: HOME, both clients' configs and token files, no keyring."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BINSTAR", "ANACONDA"))}
    env.update(
        HOME=str(home),
        BINSTAR_CONFIG_DIR=str(home / "binstar"),
        OPHIS_CLIENT_CONFIG_DIR=str(home / "ophis"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        ANACONDA_CLIENT_FORCE_STANDALONE="1",
        ANACONDA_TELEMETRY_ENABLED="false",
        OTEL_SDK_DISABLED="true",
    )
    return env


def _run(command: list[str], env: dict[str, str], stdin: str = "") -> float:
    """Seconds ``command`` took; fails loudly when it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, input=stdin, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} ... failed:\n{done.stdout}{done.stderr}")
    return seconds


def _user(server: RunningServer, login: str) -> None:
    created = server.ophis("user", "create", login, "--password", PASSWORD)
    if created.returncode != 0:
        raise SystemExit(created.stderr)


def time_ophis(server: RunningServer, home: Path, files: list[str], parallel: int) -> tuple:
    env = _environment(home)
    ophis = [sys.executable, "-m", "ophis"]
    _run([*ophis, "login", server.url, "--username", "ophis-bench"], env, f"{PASSWORD}\n")
    upload = [*ophis, "upload", "--json", "--parallel", str(parallel), *files]
    return _run(upload, env), _run(upload, env)


def time_anaconda(server: RunningServer, home: Path, files: list[str]) -> float:
    env = _environment(home)
    _run([str(ANACONDA), "config", "--set", "url", server.api], env)
    _run([str(ANACONDA), "login", "--username", "anaconda-bench", "--password", PASSWORD], env)
    return _run([str(ANACONDA), "upload", "--no-progress", *files], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=4, help="ophis upload --parallel")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ophis-bench-", dir=args.workdir))
    try:
        made = workdir / "packages"
        made.mkdir()
        with ProcessPoolExecutor() as pool:
            jobs = [(str(made), i) for i in range(args.count)]
            files = list(pool.map(_make, jobs, chunksize=50))
        with run_server(workdir / "data") as server:
            _user(server, "ophis-bench")
            _user(server, "anaconda-bench")
            ophis, again = time_ophis(server, workdir / "ophis-user", files, args.parallel)
            anaconda = time_anaconda(server, workdir / "anaconda-user", files)
        rate = f"{args.count} packages"
        print(f"ophis upload    {rate}: {ophis:6.2f} s  ({args.count / ophis:5.0f}/s)")
        print(f"anaconda upload {rate}: {anaconda:6.2f} s  ({args.count / anaconda:5.0f}/s)")
        print(f"ophis upload again (all there, nothing sent): {again:6.2f} s")
        print(f"ratio anaconda/ophis: {anaconda / ophis:.2f}x  (>1 means ophis is faster)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
