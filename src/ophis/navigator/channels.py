"""The Channels page's changes: the user's ``.condarc`` channel list, edited with the same
writer ``ophis config --add/--remove`` uses, and signing in to an Ophis server the way
``ophis login`` does (the token kept where ``ophis login`` keeps it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from ophis.client import credentials
from ophis.client.credentials import ClientConfig, Server
from ophis.core.errors import CondaValueError
from ophis.manager import condarc
from ophis.manager.config import user_rc_path


@dataclass(frozen=True)
class ChannelSettings:
    rc_path: Path
    channels: list[str]  #: the user's .condarc list, highest priority first
    servers: list[Server]  #: servers signed in to with ``ophis login`` or this page


def channel_settings(environ: Mapping[str, str]) -> ChannelSettings:
    path = user_rc_path(environ)
    listed = condarc.read_rc_file(path).get("channels") or []
    servers = [s for s in ClientConfig.load(environ).servers.values() if s.token_store]
    return ChannelSettings(path, [str(c) for c in listed], servers)


def add_channel(environ: Mapping[str, str], channel: str, *, top: bool) -> list[str]:
    """``ophis config --prepend|--append channels CHANNEL``; returns its warnings."""
    channel = channel.strip()
    if not channel or any(c.isspace() for c in channel):
        raise CondaValueError(
            "A channel is a name (conda-forge), a URL or a file:// path, without spaces.",
            "Type one channel, e.g. conda-forge or https://host/conda/owner.",
        )
    return _edit(environ, lambda doc: condarc.add_item(doc, "channels", channel, prepend=top))


def remove_channel(environ: Mapping[str, str], channel: str) -> None:
    _edit(environ, lambda doc: condarc.remove_item(doc, "channels", channel))


def move_channel(environ: Mapping[str, str], channel: str, offset: int) -> None:
    _edit(environ, lambda doc: condarc.move_item(doc, "channels", channel, offset))


def _edit(environ: Mapping[str, str], change: Callable[[CommentedMap], Any]) -> list[str]:
    path = user_rc_path(environ)
    doc = condarc.read_rc_file(path)
    warnings = change(doc) or []
    condarc.write_rc_file(path, doc)
    return warnings


def sign_in(environ: Mapping[str, str], url: str, username: str, password: str) -> Server:
    """``ophis login URL -u USER``: a new token from the server, stored for conda too."""
    if not (url.strip() and username.strip() and password):
        raise CondaValueError(
            "The server URL, user name and password are all needed.", "Fill in all three."
        )
    config = ClientConfig.load(environ)
    target = credentials.login_target(config, url, None)
    return credentials.login(config, target, username.strip(), password, environ)


def sign_out(environ: Mapping[str, str], name: str) -> None:
    """``ophis logout --server NAME``: the token revoked and forgotten."""
    config = ClientConfig.load(environ)
    credentials.logout(config, config.resolve(name), environ)
