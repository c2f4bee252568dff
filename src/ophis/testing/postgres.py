"""A throwaway PostgreSQL cluster for tests and benchmarks, from Debian's ``postgresql``
package: ``initdb`` into a temporary directory, the server on 127.0.0.1 and a free port,
everything removed when done. As root (CI), the cluster runs as the ``postgres`` user the
package creates, since PostgreSQL refuses to run as root."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ophis.testing.http import free_port

INSTALL_HINT = "Install Debian's PostgreSQL server: apt-get install postgresql"
#: no durability, for speed: a test cluster never outlives its run
_TEST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def postgres_bin() -> Path | None:
    """The newest installed server's ``bin`` directory, or None."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
    )
    return versions[-1].parent if versions else None


@contextmanager
def running_postgres(*, durable: bool = False, max_connections: int = 400) -> Iterator[str]:
    """Start a cluster; yield its superuser's SQLAlchemy URL (``postgresql+psycopg://``)."""
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError(f"PostgreSQL is not installed. {INSTALL_HINT}")
    root = Path(tempfile.mkdtemp(prefix="ophis-postgres-"))
    data, port = root / "data", free_port()
    as_owner = _owner_prefix(root)
    try:
        _run(
            [
                *as_owner,
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        )
        options = [
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root}",
            f"-c max_connections={max_connections}",
        ]
        if not durable:
            options += [f"-c {setting}" for setting in _TEST_SETTINGS]
        _run(
            [
                *as_owner,
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-o",
                " ".join(options),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*as_owner, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def restart_postgres(admin_url: str) -> None:
    """Restart the cluster behind ``admin_url`` (fast shutdown: connections are cut)."""
    import psycopg

    with psycopg.connect(_libpq(admin_url), autocommit=True) as connection:
        data = connection.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
    binaries = postgres_bin()
    assert binaries is not None
    root = Path(data).parent
    # The log file, as at start: the new server must not inherit our pipes (we'd wait on
    # them forever); pg_ctl reuses the first start's options.
    pg_ctl = [str(binaries / "pg_ctl"), "-D", data, "-l", str(root / "log")]
    _run([*_owner_prefix(root), *pg_ctl, "-m", "fast", "-w", "restart"])


def create_database(admin_url: str, name: str) -> str:
    """A new empty database on the cluster; its URL."""
    import psycopg

    with psycopg.connect(_libpq(admin_url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _owner_prefix(root: Path) -> list[str]:
    """Commands run as ``postgres`` when we are root (the directory handed over first)."""
    if os.geteuid() != 0:
        return []
    shutil.chown(root, "postgres", "postgres")
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[-3:])} failed:\n{result.stdout}{result.stderr}")


def wait_for(url: str, timeout: float = 30.0) -> None:
    """Until the cluster accepts connections again (after a restart)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(_libpq(url), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
