"""``ophis server notebooks``: set up JupyterLab for the server's notebooks, see which run,
stop one."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import typer

from ophis.cli.commands.server_options import CONFIG, DATA_DIR, JSON, server_settings
from ophis.cli.output import emit_json, fail, stdout
from ophis.server.errors import ServerError

LOGIN = typer.Argument(..., help="The user whose notebook server to stop.")


def notebooks_app() -> typer.Typer:
    notebooks = typer.Typer(help="The server's notebooks (JupyterLab).", no_args_is_help=True)
    notebooks.command("setup")(setup)
    notebooks.command("list")(list_)
    notebooks.command("stop")(stop)
    return notebooks


def setup(data_dir: Path = DATA_DIR, config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Install JupyterLab from PyPI into an environment of the server's own."""
    from ophis.server.services.hosting.notebooks import runtime_environment

    settings = server_settings(as_json, data_dir, None, config=config)
    target = runtime_environment(settings)
    steps = [
        [sys.executable, "-m", "venv", str(target)],
        [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "jupyterlab>=4"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            fail(
                ServerError(
                    f"{' '.join(step[:4])} failed: {done.stderr.strip()[-500:]}",
                    "Check that PyPI is reachable (or a pip index in pip.conf), then run "
                    "`ophis server notebooks setup` again.",
                ),
                as_json,
            )
    jupyter = target / "bin" / "jupyter-lab"
    if as_json:
        emit_json({"success": True, "jupyter": str(jupyter)})
    else:
        stdout.print(f"JupyterLab installed: {jupyter}", highlight=False)


def list_(data_dir: Path = DATA_DIR, config: Path = CONFIG, as_json: bool = JSON) -> None:
    """The notebook servers running on this host."""
    from ophis.server.services.hosting.notebooks import all_running

    servers = all_running(server_settings(as_json, data_dir, None, config=config))
    rows = [
        {
            "login": s.login,
            "environment": s.environment,
            "pid": s.pid,
            "running_seconds": round(time.time() - s.started_at),
        }
        for s in servers
    ]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        stdout.print(
            f"{row['login']}  {row['environment']}  pid {row['pid']}  {row['running_seconds']} s",
            highlight=False,
        )
    if not rows:
        stdout.print("No notebook server is running.")


def stop(
    login: str = LOGIN, data_dir: Path = DATA_DIR, config: Path = CONFIG, as_json: bool = JSON
) -> None:
    """Stop a user's notebook server (their files stay)."""
    from ophis.server.services.hosting.notebooks import stop as stop_server

    stopped = stop_server(server_settings(as_json, data_dir, None, config=config), login)
    if as_json:
        emit_json({"success": True, "stopped": stopped})
    else:
        stdout.print(f"Stopped {login}'s notebook server." if stopped else "It was not running.")
