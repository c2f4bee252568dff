"""``python -m ophis`` runs the ``ophis`` command."""

from ophis.cli.main import main

main()
