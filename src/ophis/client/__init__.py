"""Talking to channels over HTTP: transport, credentials, repodata fetching and caching."""
