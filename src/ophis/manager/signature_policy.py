"""Which channels' packages must be checked against signatures (see
``ophis.manager.signatures``, which does the checking). Kept apart from the checking so
that every solve can ask without loading the cryptography it needs only when a channel is
checked."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ophis.core.channel import Channel, expand_channels
from ophis.manager.config import Config

__all__ = ["Checked", "SignaturePolicy", "policy_for"]


@dataclass(frozen=True)
class Checked:
    """How one channel is checked: where its trust metadata is, where the trusted root
    is kept, and whether unsigned packages are refused."""

    metadata_url: str
    trust_dir: Path
    required: bool
    offline: bool = False  #: --offline: only the metadata kept from earlier checks


@dataclass
class SignaturePolicy:
    channels: dict[str, Checked] = field(default_factory=dict)  #: by channel base URL
    conda_wide: Checked | None = None  #: conda's settings: any channel, signed records only

    def for_channel(self, channel: Channel) -> Checked | None:
        return self.channels.get(channel.base_url) or self.conda_wide

    @property
    def active(self) -> bool:
        return bool(self.channels) or self.conda_wide is not None


def policy_for(config: Config, channels: Sequence[Channel]) -> SignaturePolicy:
    """Which of ``channels`` are checked, from the configuration."""
    av_dir = Path(config.get("av_data_dir") or Path(config.root_prefix) / "etc" / "conda")
    policy = SignaturePolicy()
    base = config.get("signing_metadata_url_base")
    if config.extra_safety_checks and base:
        policy.conda_wide = Checked(base.rstrip("/"), av_dir, False, config.offline)
    wanted = list(config.get("ophis_require_signatures") or ())
    if not wanted:
        return policy
    required = {c.base_url for c in expand_channels(wanted, config.channel_context())}
    for channel in channels:
        if channel.base_url in required:
            root = channel.url("noarch", with_token=True, with_auth=True).rsplit("/", 1)[0]
            folder = av_dir / _folder_of(channel.base_url)
            policy.channels[channel.base_url] = Checked(root, folder, True, config.offline)
    return policy


def _folder_of(url: str) -> str:
    """A folder name per channel for its trusted root (readable, and unique)."""
    parts = urlsplit(url)
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{parts.netloc}{parts.path}").strip("_")
    return f"{readable[:80]}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"
