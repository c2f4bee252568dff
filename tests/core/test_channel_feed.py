"""A channel's rss.xml from its channeldata: newest first, bounded, text never markup."""

from __future__ import annotations

from xml.etree import ElementTree

from ophis.core.channel_feed import FEED_SIZE, rss_feed


def _channeldata(count: int) -> dict:
    packages = {
        f"pkg{n}": {"version": "1.0", "subdirs": ["noarch"], "timestamp": 1_700_000_000 + n}
        for n in range(count)
    }
    return {"channeldata_version": 1, "packages": packages, "subdirs": ["noarch"]}


def test_the_feed_lists_the_newest_packages_first_and_at_most_its_size() -> None:
    feed = ElementTree.fromstring(rss_feed("alice", "https://h/conda/alice", _channeldata(150), 0))
    titles = [item.findtext("title") for item in feed.iter("item")]
    assert len(titles) == FEED_SIZE
    assert titles[0] == "pkg149 1.0 [noarch]" and titles[-1] == "pkg50 1.0 [noarch]"


def test_hostile_metadata_is_text_and_only_web_links_are_kept() -> None:
    data = _channeldata(1)
    data["packages"]["pkg0"].update(
        summary="<script>x</script>\x00\x07 & more",
        doc_url="javascript:alert(1)",
        home="https://example.org",
        dev_url="data:text/html,<b>",
    )
    feed = ElementTree.fromstring(rss_feed("a<b", "https://h/conda/a", data, 0))
    assert feed.findtext("channel/title") == "a<b"
    item = next(feed.iter("item"))
    assert item.findtext("description") == "<script>x</script> & more"
    assert item.findtext("link") == "https://example.org"
    assert item.find("comments") is None
