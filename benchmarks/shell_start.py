"""How much ``ophis shell init``'s block adds to an interactive shell's start-up, against the
same shell without it, against conda init's way of doing it with Ophis (``eval "$(ophis
shell hook)"`` in the start-up file) and against ``conda init``'s block when conda is on
this machine.

Each case is a HOME of its own whose start-up file (``.bashrc``; ``.zshrc`` when zsh is
installed) is empty, holds Ophis's block (written by ``ophis shell init``), or holds conda's
(written by ``conda init``, which runs ``conda shell.bash hook`` in every new shell). The
time is that of ``bash -i -c exit`` (``zsh -i -c exit``), median of --repeat runs, after one
warm-up run. Usage: python benchmarks/shell_start.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPHIS = Path(sys.executable).with_name("ophis")
RC = {"bash": ".bashrc", "zsh": ".zshrc"}


def make_home(root: Path, name: str) -> Path:
    home = root / name
    home.mkdir()
    for rc in RC.values():
        (home / rc).write_text("")
    return home


def user_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "OPHIS", "_CE_"))}
    env.update(HOME=str(home), ZDOTDIR=str(home), PATH="/usr/bin:/bin")
    return env


def init(command: list[str], home: Path, shell: str) -> None:
    done = subprocess.run(
        [*command, shell], env=user_env(home), capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} {shell} failed:\n{done.stdout}{done.stderr}")


def start_ms(shell: str, homes: list[Path], repeat: int) -> list[float]:
    """Median start-up of ``shell`` in each home, the homes' runs interleaved (so that a
    busy moment of the machine falls on all of them alike)."""
    command = [shell, "-i", "-c", "exit"]
    envs = [user_env(home) for home in homes]
    for env in envs:  # warm-up
        subprocess.run(command, env=env, capture_output=True, timeout=60)
    times: list[list[float]] = [[] for _ in homes]
    for _ in range(repeat):
        for env, found in zip(envs, times, strict=True):
            started = time.perf_counter()
            subprocess.run(command, env=env, capture_output=True, timeout=60, check=True)
            found.append((time.perf_counter() - started) * 1000)
    return [statistics.median(found) for found in times]


def has_function(shell: str, home: Path) -> bool:
    done = subprocess.run(
        [shell, "-i", "-c", "type ophis"], env=user_env(home), capture_output=True, text=True
    )
    return "function" in done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    conda = shutil.which("conda")
    shells = [s for s in RC if shutil.which(s)]
    with tempfile.TemporaryDirectory(prefix="ophis-shell-start-") as folder:
        root = Path(folder)
        for shell in shells:
            homes = [make_home(root, f"{shell}-bare"), make_home(root, f"{shell}-ophis")]
            init([str(OPHIS), "shell", "init"], homes[1], shell)
            assert has_function(shell, homes[1]), "the block did not define 'ophis'"
            # what conda init's block does, with Ophis: run the executable in every shell
            homes.append(make_home(root, f"{shell}-eval"))
            (homes[2] / RC[shell]).write_text(f'eval "$({OPHIS} shell hook --shell {shell})"\n')
            if conda is not None:
                homes.append(make_home(root, f"{shell}-conda"))
                init([conda, "init"], homes[3], shell)
            base, ophis, evaluated, *others = start_ms(shell, homes, args.repeat)
            print(f"{shell} -i -c exit, median of {args.repeat}:")
            print(f"  no hook:            {base:7.1f} ms")
            print(
                f"  ophis shell init:   {ophis:7.1f} ms  ({ophis - base:+.1f} ms, "
                f"x{ophis / base:.2f} of no hook)"
            )
            print(
                f"  eval ophis hook:    {evaluated:7.1f} ms  ({evaluated - base:+.1f} ms: "
                "conda init's way, a Python start-up per shell)"
            )
            if not others:
                print("  conda init:         conda not available")
                continue
            print(
                f"  conda init:         {others[0]:7.1f} ms  ({others[0] - base:+.1f} ms, "
                f"x{others[0] / ophis:.2f} of Ophis's)"
            )


if __name__ == "__main__":
    main()
