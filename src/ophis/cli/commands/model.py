"""``ophis model``: the model catalog. Each subcommand lives in a module of its own, listed
here; each module's ``register(group)`` adds its commands to the group."""

from __future__ import annotations

import importlib

import typer

#: the modules under ophis.cli.commands that add ``ophis model`` subcommands
SUBCOMMANDS = ("model_upload", "model_local")


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Models: weights in several quantizations, uploaded, searched, pulled and served.",
        no_args_is_help=True,
    )
    for module in SUBCOMMANDS:
        importlib.import_module(f"ophis.cli.commands.{module}").register(group)
    app.add_typer(group, name="model")
