"""Mirroring an upstream conda channel into a local channel folder or a server channel."""
