"""Where package files live: a small :class:`~ophis.server.storage.interfaces.Storage`
protocol with the local-directory backend; an S3 backend can sit behind the same protocol."""
