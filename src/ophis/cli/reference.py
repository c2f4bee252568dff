"""The whole ``ophis`` command, every verb registered, as one click command: what the
documentation site's CLI reference is generated from (mkdocs-click reads
``ophis.cli.reference:command``)."""

from __future__ import annotations

import typer

from ophis.cli.main import build_app

command = typer.main.get_command(build_app())
