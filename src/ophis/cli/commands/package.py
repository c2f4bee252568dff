"""``ophis package``: conda's low-level package tool (which package owns a file, the files
no package owns, a package made of them)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ophis.cli.options import NAME, PREFIX
from ophis.cli.output import fail, stdout
from ophis.core.errors import OphisError
from ophis.manager.config import load_config_from_os
from ophis.manager.package_files import make_package, remove_untracked, untracked, which_packages
from ophis.manager.targets import existing_prefix


def register(app: typer.Typer) -> None:
    app.command("package")(package)


def _say(text: str) -> None:
    stdout.print(text, highlight=False, markup=False, soft_wrap=True)


def package(
    paths: list[str] = typer.Argument(None, help="With --which: the files to look up."),
    name: str = NAME,
    prefix: str = PREFIX,
    which: bool = typer.Option(
        False, "--which", "-w", help="Print which package each PATH came from."
    ),
    reset: bool = typer.Option(False, "--reset", "-r", help="Remove all untracked files."),
    show_untracked: bool = typer.Option(
        False, "--untracked", "-u", help="List the files no package owns."
    ),
    pkg_name: str = typer.Option("unknown", "--pkg-name", help="Name of the package to make."),
    pkg_version: str = typer.Option("0.0", "--pkg-version", help="Its version."),
    pkg_build: int = typer.Option(0, "--pkg-build", help="Its build number."),
) -> None:
    """Low-level package tools: with no option, package the environment's untracked files
    as NAME-VERSION-BUILD.tar.bz2 in the current folder."""
    try:
        if which:
            for path in paths or []:
                for dist in which_packages(path):
                    _say(f"{path:<50}  {dist}")
            return
        config = load_config_from_os()
        target = existing_prefix(name, prefix, config, os.environ)
        _say(f"# prefix: {target}")
        if reset:
            remove_untracked(target)
        elif show_untracked:
            files = untracked(target)
            _say(f"# untracked files: {len(files)}")
            for file in files:
                _say(file)
        else:
            made = make_package(target, pkg_name, pkg_version, pkg_build, config.subdir, Path.cwd())
            _say(f"# files: {made.files}")
            _say(f"# success\n{made.path.name}" if made.path else "# failed: nothing to do")
    except OphisError as error:
        fail(error, False)
