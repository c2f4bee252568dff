"""The channel server: a self-hosted Anaconda.org (see ``app.create_app``)."""
