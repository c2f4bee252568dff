"""The human-readable index.html pages of a channel and of each subdir."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_ENV = Environment(
    loader=PackageLoader("ophis.indexer", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_channel_index(channel_name: str, channeldata: dict[str, Any]) -> bytes:
    template = _ENV.get_template("channel_index.html.j2")
    return template.render(channel=channel_name, channeldata=channeldata).encode()


def render_subdir_index(channel_name: str, repodata: dict[str, Any]) -> bytes:
    files = {**repodata.get("packages", {}), **repodata.get("packages.conda", {})}
    template = _ENV.get_template("subdir_index.html.j2")
    return template.render(
        channel=channel_name,
        subdir=repodata.get("info", {}).get("subdir", ""),
        files=sorted(files.items()),
    ).encode()
