"""Pip indexes: ``/pypi/<owner>[/label/<label>]/simple/``, served from the database (see
:mod:`ophis.server.services.channels.pypi_index`)."""
