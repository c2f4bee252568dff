"""The options many commands share (conda's spelling) and the warnings they print.

A module of its own so that a command importing them needs nothing else of
:mod:`ophis.cli.commands.change` (the solver, the downloads, the transaction).
"""

from __future__ import annotations

import typer

from ophis.cli.output import warn as warn  # its home is output: commands Typer never loads

NAME = typer.Option(None, "--name", "-n", help="Name of the environment.")
PREFIX = typer.Option(None, "--prefix", "-p", help="Full path to the environment.")
CHANNEL = typer.Option(
    [], "--channel", "-c", help="Channel to search (repeatable, highest priority first)."
)
OVERRIDE = typer.Option(False, "--override-channels", "-O", help="Ignore the configured channels.")
STRICT = typer.Option(False, "--strict-channel-priority", help="Strict channel priority.")
NO_PRIORITY = typer.Option(False, "--no-channel-priority", help="Disable channel priority.")
DRY_RUN = typer.Option(False, "--dry-run", "-d", help="Only show what would be done.")
JSON = typer.Option(False, "--json", help="Report as JSON, the shape conda uses.")
YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars.")
NO_DEPS = typer.Option(False, "--no-deps", help="Do not install dependencies.")
ONLY_DEPS = typer.Option(False, "--only-deps", help="Install only the dependencies.")
FILE = typer.Option(
    [], "--file", "-f", help="Read package specs, or @EXPLICIT package URLs, from this file."
)
LOCKED = typer.Option(
    None, "--locked", help="Install exactly what this lock file pins (see 'ophis lock')."
)
OFFLINE = typer.Option(False, "--offline", help="Use only cached repodata and packages.")
FORCE_REINSTALL = typer.Option(False, "--force-reinstall", help="Reinstall even if present.")
FREEZE = typer.Option(
    False, "--freeze-installed", "--no-update-deps", help="Do not change installed packages."
)
NO_PIN = typer.Option(
    False, "--no-pin", help="Ignore pinned_packages and the environment's conda-meta/pinned."
)
UPDATE_SPECS = typer.Option(False, "--update-specs", help="Update the named specs only.")
UPDATE_DEPS = typer.Option(False, "--update-deps", help="Update dependencies too.")
REFUSE_LINK_SCRIPTS = typer.Option(
    False,
    "--refuse-link-scripts",
    help="Refuse the change if a package would run a pre-link, post-link or pre-unlink "
    "script (as 'ophis_link_scripts: refuse' does).",
)
COPY = typer.Option(
    False, "--copy", help="Install every package by copying its files (no hard or soft links)."
)
DOWNLOAD_ONLY = typer.Option(
    False,
    "--download-only",
    help="Solve and fill the package cache, then stop before the environment changes.",
)
REPODATA_FN = typer.Option(
    [],
    "--repodata-fn",
    help="Repodata file names to try first (repeatable); repodata.json is always the last.",
)
SOLVER = typer.Option(
    None, "--solver", help="conda's solver choice: classic, libmamba or rattler (see docs)."
)
USE_INDEX_CACHE = typer.Option(
    False, "--use-index-cache", "-C", help="Use cached repodata even when it has expired."
)
INSECURE = typer.Option(
    False, "--insecure", "-k", help="Do not verify TLS certificates (ssl_verify: false)."
)
SATISFIED_SKIP_SOLVE = typer.Option(
    False,
    "--satisfied-skip-solve",
    "-S",
    help="Do nothing when the installed packages already satisfy the specs.",
)
SPECS = typer.Argument(None, help="Package specs, e.g. 'numpy>=1.26' or 'conda-forge::scipy'.")
