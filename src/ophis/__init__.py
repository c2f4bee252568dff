"""Ophis: a conda-compatible package manager, channel server and builder."""

__version__ = "0.1.0"
