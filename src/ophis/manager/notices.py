"""Channel notices as conda reads them: each channel's ``notices.json``, cached for a day in
conda's own notices cache (so that conda and Ophis agree on what was seen)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import platformdirs

from ophis.core.channel import Channel

NOTICES_FILE = "notices.json"
VIEWED_FILE = "notices.cache"
#: how long a channel's answer is reused, and how often conda shows notices unasked
DISPLAY_INTERVAL_SECONDS = 86400
#: a notices.json larger than this is not read (a channel's notices are a few KB)
MAX_NOTICES_BYTES = 1 << 20
LEVELS = ("critical", "warning", "info")
_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class ChannelNotice:
    id: str
    channel_name: str
    message: str | None
    level: str
    created_at: datetime | None
    expired_at: datetime | None
    interval: int | None

    def to_json(self) -> dict[str, Any]:
        """conda's ``notices --json`` entry."""
        return {
            "id": self.id,
            "channel_name": self.channel_name,
            "message": self.message,
            "level": self.level,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "expired_at": self.expired_at.isoformat() if self.expired_at else None,
            "interval": self.interval,
        }


def cache_dir() -> Path:
    """conda's notices cache folder (``<user cache>/conda/notices``)."""
    path = Path(platformdirs.user_cache_dir("conda", appauthor="conda")) / "notices"
    path.mkdir(parents=True, exist_ok=True)
    return path


def retrieve(channels: Sequence[Channel], *, verify: bool | str = True) -> list[ChannelNotice]:
    """Every channel's notices (from the cache when fresh), marked as seen, as conda's
    ``notices`` verb shows them all."""
    folder = cache_dir()
    found = [n for channel in channels for n in _channel_notices(channel, folder, verify)]
    _mark_viewed(folder, (n.id for n in found))
    return found


def unseen(
    channels: Sequence[Channel], limit: int, *, verify: bool | str = True
) -> tuple[list[ChannelNotice], int]:
    """conda's notices after create/install/update: at most once a day, up to ``limit``
    notices not seen before (marked as seen), and how many more there are."""
    folder = cache_dir()
    if not _due(folder / VIEWED_FILE):
        return [], 0
    seen = _viewed(folder)
    found = [n for channel in channels for n in _channel_notices(channel, folder, verify)]
    fresh = [n for n in found if n.id not in seen]
    _mark_viewed(folder, (n.id for n in fresh[:limit]))  # and the day starts again
    return fresh[:limit], len(fresh[limit:])


def _due(viewed: Path) -> bool:
    try:
        return time.time() - viewed.stat().st_mtime >= DISPLAY_INTERVAL_SECONDS
    except FileNotFoundError:
        return True


def _channel_notices(channel: Channel, folder: Path, verify: bool | str) -> list[ChannelNotice]:
    url = f"{channel.base_url}/{NOTICES_FILE}"
    cached = folder / f"{hashlib.sha256(url.encode()).hexdigest()}.json"
    document = _fresh(cached)
    if document is None:
        document = _fetch(channel, verify)
        if document is not None:
            _write_atomic(cached, json.dumps(document))
    return parse_notices(document, channel.name or channel.location)


def _fresh(cached: Path) -> dict | None:
    """The cached answer, if less than a day old and none of its notices has expired."""
    try:
        if time.time() - cached.stat().st_mtime >= DISPLAY_INTERVAL_SECONDS:
            return None
        document = json.loads(cached.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    notices = parse_notices(document, "")
    now = datetime.now(UTC)
    if not notices or any(n.expired_at is None or _aware(n.expired_at) < now for n in notices):
        return None
    return document


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _fetch(channel: Channel, verify: bool | str) -> dict | None:
    """The channel's notices.json, or None when it has none (or not a readable one)."""
    url = channel.url("noarch", with_token=True, with_auth=True).removesuffix("/noarch")
    url = f"{url}/{NOTICES_FILE}"
    try:
        if urlsplit(url).scheme == "file":
            path = Path(unquote(urlsplit(url).path))
            if not path.is_file() or path.stat().st_size > MAX_NOTICES_BYTES:
                return None
            body = path.read_bytes()
        else:
            body = _get(url, verify)
        document = json.loads(body) if body is not None else None
    except (OSError, ValueError, httpx.HTTPError):
        return None
    return document if isinstance(document, dict) else None


def _get(url: str, verify: bool | str) -> bytes | None:
    with (
        httpx.Client(timeout=_TIMEOUT_SECONDS, verify=verify) as client,
        client.stream("GET", url) as response,
    ):
        if response.status_code >= 300:
            return None
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_NOTICES_BYTES:
                return None
        return bytes(body)


def parse_notices(document: Any, channel_name: str) -> list[ChannelNotice]:
    """conda's reading of ``{"notices": [...]}``: an unknown level is ``info``, a time that
    does not parse is none, ``expires_at`` or ``expired_at``."""
    if not isinstance(document, dict) or not isinstance(document.get("notices"), list):
        return []
    return [
        ChannelNotice(
            id=str(entry.get("id", "undefined")),
            channel_name=channel_name,
            message=entry.get("message"),
            level=entry.get("level") if entry.get("level") in LEVELS else "info",
            created_at=_timestamp(entry.get("created_at")),
            expired_at=_timestamp(entry.get("expires_at", entry.get("expired_at"))),
            interval=entry.get("interval") if isinstance(entry.get("interval"), int) else None,
        )
        for entry in document["notices"]
        if isinstance(entry, dict)
    ]


def _timestamp(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _viewed(folder: Path) -> set[str]:
    try:
        return set(filter(None, (folder / VIEWED_FILE).read_text("utf-8").splitlines()))
    except OSError:
        return set()


def _mark_viewed(folder: Path, ids: Iterable[str]) -> None:
    """conda's ``notices.cache``: the ids of the notices shown, one a line; its time is
    when notices were last looked for."""
    _write_atomic(folder / VIEWED_FILE, "\n".join(sorted(_viewed(folder) | set(ids))))


def _write_atomic(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, path)
