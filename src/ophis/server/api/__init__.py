"""The anaconda-client API under ``<root>/api`` (reference: anaconda-client-api.md)."""
