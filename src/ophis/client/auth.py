"""Credentials conda finds on its own: the anaconda-client token files.

``anaconda login`` (and ``ophis login``) store a token per API URL as
``<quote_plus(url)>.token`` in anaconda-client's data directory. conda keys each token by
that URL and by the same URL with its first ``api`` segment replaced by ``conda``, and puts
``/t/<token>/`` into any channel URL that starts with a key — so a private channel works
right after logging in, with no token in the URL. Ophis does the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote_plus

from ophis.core.channel import Channel


def token_directories(env: Mapping[str, str]) -> list[Path]:
    """Where anaconda-client keeps tokens: ``$BINSTAR_CONFIG_DIR/data``, else its user data
    directory, and the ``~/.continuum/anaconda-client/tokens`` copy newer clients write."""
    home = Path(env.get("HOME") or Path.home())
    if env.get("BINSTAR_CONFIG_DIR"):
        return [Path(env["BINSTAR_CONFIG_DIR"]) / "data"]
    data_home = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    return [data_home / "binstar", home / ".continuum" / "anaconda-client" / "tokens"]


def read_tokens(env: Mapping[str, str]) -> dict[str, str]:
    """``{url prefix: token}`` from every token file, conda's two keys per file."""
    tokens: dict[str, str] = {}
    for directory in token_directories(env):
        if not directory.is_dir():
            continue
        for entry in sorted(directory.glob("*.token")):
            try:
                token = entry.read_text().strip()
            except OSError:
                continue  # unreadable: behave as if absent, as conda does
            url = unquote_plus(entry.name.removesuffix(".token")).rstrip("/")
            tokens[url] = tokens[_api_to_conda(url)] = token
    return tokens


def _api_to_conda(url: str) -> str:
    scheme, _, rest = url.partition("://")
    parts = rest.split("/")
    if "api" in parts[1:]:
        parts[parts.index("api", 1)] = "conda"
    return f"{scheme}://{'/'.join(parts)}"


def with_stored_tokens(channels: Iterable[Channel], env: Mapping[str, str]) -> list[Channel]:
    """The channels, each given the stored token whose URL its own URL starts with."""
    channels = list(channels)
    tokens = read_tokens(env) if any(c.token is None for c in channels) else {}
    return [_with_token(channel, tokens) for channel in channels]


def _with_token(channel: Channel, tokens: Mapping[str, str]) -> Channel:
    if channel.token is not None or not tokens:
        return channel
    url = channel.base_url
    for prefix, token in tokens.items():
        if url == prefix or url.startswith(prefix + "/"):
            return dataclasses.replace(channel, token=token)
    return channel


__all__ = ["read_tokens", "token_directories", "with_stored_tokens"]
