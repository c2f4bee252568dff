"""A channel's ``rss.xml`` as conda-index writes it: RSS 2.0 with the packages updated last,
one item per package ("name version [subdirs]"), from ``channeldata.json``.

Every text goes through the XML writer, so a package's summary cannot add markup, and
links are kept only when they are http(s) URLs (a feed reader would follow anything else).
"""

from __future__ import annotations

from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

#: how many packages the feed lists (conda-index's default)
FEED_SIZE = 100
_NO_DESCRIPTION = "No description."


def recent_packages(channeldata: dict[str, Any], limit: int = FEED_SIZE) -> list[tuple[str, dict]]:
    """The packages updated last, newest first (those without a timestamp last)."""
    packages = channeldata.get("packages") or {}
    ordered = sorted(packages.items(), key=lambda item: -int(item[1].get("timestamp") or 0))
    return ordered[:limit]


def rss_feed(name: str, url: str, channeldata: dict[str, Any], built_at: float) -> bytes:
    """The feed of the channel ``name`` served at ``url``, as of ``built_at`` (seconds)."""
    rss = ElementTree.Element("rss", {"version": "2.0"})
    channel = ElementTree.SubElement(rss, "channel")
    packages = recent_packages(channeldata)
    _add_texts(
        channel,
        {
            "title": name,
            "link": url,
            "description": f"The most recent {len(packages)} updates for {name}.",
            "lastBuildDate": formatdate(built_at, usegmt=True),
        },
    )
    for package_name, package in packages:
        item = ElementTree.SubElement(channel, "item")
        subdirs = ", ".join(sorted(str(s) for s in package.get("subdirs") or []))
        version = str(package.get("version") or "")
        timestamp = package.get("timestamp")
        _add_texts(
            item,
            {
                "title": f"{package_name} {version} [{subdirs}]",
                "description": _text(package.get("description"))
                or _text(package.get("summary"))
                or _NO_DESCRIPTION,
                "link": _web_url(package.get("doc_url")) or _web_url(package.get("home")),
                "comments": _web_url(package.get("dev_url")),
                "pubDate": formatdate(int(timestamp), usegmt=True) if timestamp else "",
            },
        )
        guid = ElementTree.SubElement(item, "guid", {"isPermaLink": "false"})
        guid.text = _printable(f"{url}#{package_name}-{version}")
    ElementTree.indent(rss)
    return ElementTree.tostring(rss, encoding="utf-8", xml_declaration=True) + b"\n"


def _add_texts(parent: ElementTree.Element, texts: dict[str, str]) -> None:
    for tag, text in texts.items():
        if text:
            ElementTree.SubElement(parent, tag).text = _printable(text)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _web_url(value: object) -> str:
    text = _text(value)
    return text if urlsplit(text).scheme in ("http", "https") else ""


def _printable(text: str) -> str:
    """XML 1.0 has no place for control characters other than tab and newline."""
    return "".join(c for c in text if c.isprintable() or c in "\t\n")
