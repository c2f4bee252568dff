"""Running the build worker where it can write only into its staging folder.

On Linux the worker starts in a new user and mount namespace (``unshare``, no privileges
needed) in which every mount is read-only but the staging folder: a build script that writes
into the user's environments, home or anywhere else gets "Read-only file system". Elsewhere,
or where namespaces are disabled, the worker still gets its own HOME and TMPDIR inside the
staging folder, and a message says the build is not contained.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# make the staging folder its own mount (so it stays writable), then every other mount
# read-only; mounts that cannot be remounted (/proc in some containers) are left as they are
_SETUP = r"""
set -e
stage="$1"; shift
mount --bind "$stage" "$stage"
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r m; do
  case "$m" in "$stage"|"$stage"/*) continue;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
# prove it: the folder above the staging folder must now refuse a new file
probe="$(dirname "$stage")/.ophis-sandbox-probe-$$"
if (: > "$probe") 2>/dev/null; then rm -f "$probe"; exit 97; fi
exec "$@"
"""
#: the exit code of the setup when the file system stayed writable
NOT_CONTAINED = 97


@functools.cache
def namespaces_available() -> bool:
    """Whether an unprivileged user+mount namespace can be made here."""
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None:
        return False
    try:
        done = subprocess.run([unshare, "-Urm", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def worker_env(stage: Path, base: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment: the caller's, but with HOME, caches and temporary files in
    the staging folder and none of the caller's conda settings (a build must not see or
    change the user's environments)."""
    env = {k: v for k, v in base.items() if not k.startswith(("CONDA", "MAMBA", "PIXI"))}
    for name in ("home", "tmp", "cache"):
        (stage / name).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(stage / "home"),
        TMPDIR=str(stage / "tmp"),
        XDG_CACHE_HOME=str(stage / "cache"),
        RATTLER_CACHE_DIR=str(stage / "cache" / "rattler"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run_contained(
    command: Sequence[str], stage: Path, env: Mapping[str, str], contain: bool = True
) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Run ``command`` with only ``stage`` writable when ``contain`` and namespaces allow;
    returns the finished process and whether it was contained."""
    contained = contain and namespaces_available()
    full = list(command)
    if contained:
        full = ["unshare", "-Urm", "--", "sh", "-c", _SETUP, "sh", str(stage.resolve()), *full]
    done = subprocess.run(full, env=dict(env), capture_output=True, text=True, cwd=stage)
    return done, contained


def python_command(module: str, *args: str) -> list[str]:
    """``python -m module args`` with this interpreter (the worker imports Ophis)."""
    return [sys.executable, "-m", module, *args]


def worker_pythonpath(env: dict[str, str]) -> None:
    """Let the worker import Ophis from where this process does (a source checkout too)."""
    import ophis

    root = str(Path(ophis.__file__).resolve().parents[1])
    paths = [root, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
