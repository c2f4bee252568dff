"""Badges as SVG images, in the two-part style READMEs show (a grey label, a coloured
value), or one part when there is no label (an install command).

Text is measured with a table of approximate glyph widths of an 11 px sans-serif font and
drawn with ``textLength``, so it fills the box it was measured for whatever font the viewer
has. Every text goes through the XML writer, so nothing in a package's metadata can add
markup; overly long values are shortened before they are measured.
"""

from __future__ import annotations

from datetime import datetime
from xml.etree import ElementTree

#: the longest text a badge part shows (a license string may be a paragraph)
MAX_TEXT = 64
LABEL_COLOR = "#555"
VALUE_COLOR = "#007ec6"
_HEIGHT = 20
_PADDING = 6
_NARROW = frozenset("ijlI.,:;|!'`()[]{} ")
_WIDE = frozenset("mwMW@%")
_FONT = "DejaVu Sans,Verdana,Geneva,sans-serif"


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """One line of printable text (XML has no place for control characters), at most
    ``limit`` characters long."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_width(text: str) -> int:
    """About how wide ``text`` is at 11 px, in pixels."""
    return round(sum(_glyph(c) for c in text))


def _glyph(char: str) -> float:
    if char in _NARROW:
        return 3.5
    if char in _WIDE:
        return 10.0
    return 7.5 if char.isupper() or char.isdigit() else 6.5


def badge_svg(label: str, value: str, color: str = VALUE_COLOR) -> bytes:
    """An SVG badge ``label | value``; only ``value`` when ``label`` is empty."""
    label, value = shorten(label), shorten(value)
    parts = [(label, LABEL_COLOR)] if label else []
    parts.append((value, color))
    widths = [text_width(text) + 2 * _PADDING for text, _ in parts]
    total = sum(widths)
    title = f"{label}: {value}" if label else value
    svg = ElementTree.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "width": str(total),
            "height": str(_HEIGHT),
            "role": "img",
            "aria-label": title,
        },
    )
    ElementTree.SubElement(svg, "title").text = title
    text_group = ElementTree.Element(
        "g", {"fill": "#fff", "font-family": _FONT, "font-size": "11", "text-anchor": "middle"}
    )
    x = 0
    for (text, fill), width in zip(parts, widths, strict=True):
        box = {"x": str(x), "width": str(width), "height": str(_HEIGHT), "fill": fill}
        ElementTree.SubElement(svg, "rect", box)
        middle, length = str(x + width / 2), str(width - 2 * _PADDING)
        shadow = {"x": middle, "y": "15", "fill": "#010101", "fill-opacity": ".3"}
        ElementTree.SubElement(text_group, "text", {**shadow, "textLength": length}).text = text
        front = {"x": middle, "y": "14", "textLength": length}
        ElementTree.SubElement(text_group, "text", front).text = text
        x += width
    svg.append(text_group)
    return ElementTree.tostring(svg, encoding="utf-8", xml_declaration=False)


def relative_age(then: datetime, now: datetime) -> str:
    """``then`` as a reader says it at ``now``: "just now", "5 minutes ago", "3 days ago"."""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in _UNITS:
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


_UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("week", 7 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
)
