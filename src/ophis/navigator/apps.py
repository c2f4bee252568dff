"""Applications on the Home page: which are installed in an environment (their entry point
in its ``bin/``), and launching one inside the environment.

A launch activates the environment as ``ophis run`` does (PATH, CONDA_PREFIX, the
environment's variables, activate.d scripts), then starts the program detached from the
navigator (its own session, output to a log file), and remembers its PID.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ophis.core.errors import OphisError
from ophis.manager.activation import SHELLS, Activator, run_script
from ophis.manager.config import Config


@dataclass(frozen=True)
class App:
    key: str
    title: str
    package: str  #: the conda package that provides it
    entry: str  #: its entry point in the environment's bin/
    description: str
    args: tuple[str, ...] = ()


CATALOG: tuple[App, ...] = (
    App("jupyterlab", "JupyterLab", "jupyterlab", "jupyter-lab",
        "Notebooks, terminals and text files in one web-based workspace."),
    App("notebook", "Jupyter Notebook", "notebook", "jupyter-notebook",
        "The classic notebook: code, text and plots in a web page."),
    App("qtconsole", "Qt Console", "qtconsole", "jupyter-qtconsole",
        "A desktop console for Jupyter kernels, with inline figures."),
    App("spyder", "Spyder", "spyder", "spyder",
        "A scientific Python IDE with an editor, a variable explorer and a debugger."),
    App("vscode", "VS Code", "vscode", "code",
        "A code editor with Python and Jupyter extensions."),
    App("rstudio", "RStudio", "rstudio-desktop", "rstudio",
        "An IDE for R: console, editor, plots and workspace."),
    App("glue", "Glue", "glueviz", "glue",
        "Linked-view visualization of related data sets."),
    App("orange", "Orange", "orange3", "orange-canvas",
        "Visual data mining and machine learning by connecting widgets."),
)  # fmt: skip


def app_named(key: str) -> App:
    for app in CATALOG:
        if app.key == key:
            return app
    raise OphisError(
        f"There is no application called '{key}'.", "Pick one of those the Home page lists."
    )


def entry_point(prefix: Path, app: App) -> Path:
    return prefix / ("Scripts" if os.name == "nt" else "bin") / app.entry


def is_installed(prefix: Path, app: App) -> bool:
    return entry_point(prefix, app).exists()


@dataclass
class Launched:
    app: App
    prefix: Path
    process: subprocess.Popen[bytes]
    log: Path
    started: float

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def status(self) -> str:
        code = self.process.poll()  # also reaps it, so no zombie is left behind
        return "running" if code is None else f"exited with status {code}"


def launch(
    app: App, prefix: Path, config: Config, environ: dict[str, str], log_dir: Path
) -> Launched:
    """Start ``app`` inside the activated environment, detached from the navigator."""
    if not is_installed(prefix, app):
        raise OphisError(
            f"{app.title} is not installed in {prefix}.",
            f"Install it first with the Install button (the '{app.package}' package).",
        )
    bash = shutil.which("bash") or shutil.which("sh")
    if bash is None or sys.platform == "win32":
        raise OphisError(
            "Launching needs bash or sh to activate the environment.",
            "Install bash, or activate the environment and start the program yourself.",
        )
    activator = Activator(config, environ, SHELLS["posix"])
    command = [str(entry_point(prefix, app)), *app.args]
    script = run_script(activator, str(prefix), command, [sys.executable, "-m", "ophis"])
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{app.key}-{int(time.time())}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [bash, "-c", script],
            env=environ,
            cwd=environ.get("HOME") or None,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # closing the navigator does not close the program
        )
    return Launched(app, prefix, process, log, time.time())
