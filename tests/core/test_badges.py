"""Badges as SVG: well-formed whatever the text, text never markup, sizes that follow it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from ophis.core.badges import MAX_TEXT, badge_svg, relative_age

SVG = "{http://www.w3.org/2000/svg}"


def test_hostile_text_stays_text_in_a_well_formed_image() -> None:
    hostile = '<script>alert(1)</script>"\x00\x1b[31m & \ud7ff'
    svg = ElementTree.fromstring(badge_svg("license", hostile))
    assert [e.tag for e in svg.iter()].count(f"{SVG}script") == 0
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts[-1] is not None and texts[-1].startswith("<script>alert(1)</script>")
    assert "\x00" not in (texts[-1] or "")


def test_a_long_value_is_shortened_and_a_wider_text_makes_a_wider_badge() -> None:
    svg = ElementTree.fromstring(badge_svg("license", "x" * 1000))
    assert len(list(svg.iter(f"{SVG}text"))[-1].text or "") == MAX_TEXT
    narrow = int(ElementTree.fromstring(badge_svg("v", "1.0")).get("width") or 0)
    wide = int(ElementTree.fromstring(badge_svg("version", "10.20.30")).get("width") or 0)
    assert 0 < narrow < wide


def test_a_badge_without_label_has_one_part() -> None:
    svg = ElementTree.fromstring(badge_svg("", "conda install -c alice pkg"))
    assert len(list(svg.iter(f"{SVG}rect"))) == 1


@pytest.mark.parametrize(
    ("age", "said"),
    [
        (timedelta(seconds=5), "just now"),
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(hours=5), "5 hours ago"),
        (timedelta(days=3), "3 days ago"),
        (timedelta(days=20), "2 weeks ago"),
        (timedelta(days=400), "1 year ago"),
        (-timedelta(days=1), "just now"),  # a clock ahead of ours
    ],
)
def test_relative_age(age: timedelta, said: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert relative_age(now - age, now) == said
