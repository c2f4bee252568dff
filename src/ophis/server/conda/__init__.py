"""Conda channels: ``/conda/<owner>[/label/<label>]/...``, served from the database (see
:mod:`ophis.server.services.channels.repodata`)."""
