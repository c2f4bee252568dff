"""Fetching a channel's repodata.json for one subdir, with a local cache.

``file://`` channels are read in place. HTTP channels are fetched into the cache folder,
preferring ``repodata.json.zst`` (5-10x smaller) and falling back to ``repodata.json``;
later fetches send ``If-None-Match`` / ``If-Modified-Since`` and a 304 reuses the cached
copy. Within ``ttl`` seconds of a fetch no request is made at all (conda's
``local_repodata_ttl``). Each cached document is written atomically beside a small JSON
state file holding the validators.

py-rattler's ``Gateway`` does this too, but it refuses subdirs it does not know (conda's
test channels use ``linux-fake``) and its strict channel priority differs from conda's;
the solver reads these files through ``SparseRepoData`` instead, which has neither issue.

Nothing here opens (or imports) an HTTP client until a request must really be made: a
solve on ``file://`` channels, or on copies still fresh in the cache, pays nothing for it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ophis.core.atomic_file import write_atomic
from ophis.core.channel import Channel
from ophis.core.errors import ChannelError, OphisError

if TYPE_CHECKING:
    import httpx

    from ophis.client.verified_download import TransportFactory

_USER_AGENT = "ophis (conda-compatible)"


class RepodataUnavailable(OphisError):
    """A channel cannot be reached, or refuses us."""

    exception_name = "UnavailableInvalidChannel"


class UnavailableInvalidChannel(RepodataUnavailable):
    """conda's rule: a channel without ``noarch/repodata.json`` (404, or no such file) is no
    channel; a platform subdir that is absent is only empty."""

    def __init__(self, channel: Channel, status_code: int, reason: str) -> None:
        url = channel.redacted_url
        local = urlsplit(channel.base_url).scheme == "file"
        super().__init__(
            f"HTTP {status_code} {reason} for channel {channel.name} <{url}>\n\n"
            "The channel is not accessible or is invalid.",
            f"A channel needs a noarch/repodata.json, even an empty one: run 'ophis index "
            f"{unquote(urlsplit(url).path)}'."
            if local
            else "Check the channel's URL ('ophis config --show channels'), or remove it.",
            channel_name=channel.name,
            channel_url=url,
            status_code=status_code,
            reason=reason,
            response_details="",
            json={},
        )


class CondaHTTPError(RepodataUnavailable):
    """Any other HTTP failure while fetching repodata (conda's CondaHTTPError)."""

    exception_name = "CondaHTTPError"

    def __init__(self, url: str, status_code: int | str, reason: str, remedy: str) -> None:
        super().__init__(
            f"HTTP {status_code} {reason} for url <{url}>",
            remedy,
            url=url,
            status_code=status_code,
            reason=reason,
            elapsed_time="-",
            response_details="",
            json={},
        )


@dataclass(frozen=True)
class FetchOptions:
    cache_dir: Path
    ttl_seconds: float = 30.0
    offline: bool = False
    timeout_seconds: float = 60.0
    max_workers: int = 8
    #: TLS verification: True, False (conda's -k/--insecure) or a CA bundle's path
    verify: bool | str = True
    #: makes the HTTP client's transport (None: httpx's own)
    transport: TransportFactory | None = None


@dataclass(frozen=True)
class Subdir:
    """One channel subdir, and where its repodata.json is on disk (None: the subdir is absent)."""

    channel: Channel
    subdir: str
    path: Path | None


class LazyClient:
    """An ``httpx.Client`` (its ``get``) opened by the first request that needs one, from
    any thread; until then httpx is not even imported."""

    def __init__(self, options: FetchOptions) -> None:
        self._options = options
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._opened().get(url, **kwargs)

    def _opened(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                import httpx

                options = self._options
                self._client = httpx.Client(
                    timeout=options.timeout_seconds,
                    follow_redirects=True,
                    headers={"User-Agent": _USER_AGENT},
                    verify=options.verify,
                    transport=options.transport(verify=options.verify)
                    if options.transport
                    else None,
                )
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def fetch_all(
    channels: Iterable[Channel],
    subdirs: Iterable[str],
    options: FetchOptions,
    names: Iterable[str] | None = None,
) -> list[Subdir]:
    """repodata for every (channel, subdir), fetched concurrently, in priority order.

    With ``names`` (the packages a request is about), HTTP channels that offer sharded
    repodata are read through their shards, fetching only what those names can reach.
    """
    wanted = [(c, s) for c in channels for s in subdirs]
    with (
        closing(LazyClient(options)) as client,
        ThreadPoolExecutor(max_workers=options.max_workers) as pool,
    ):
        shard_indexes: list[Path | None] = [None] * len(wanted)
        if names is not None:
            shard_indexes = list(
                pool.map(lambda cs: fetch_shards_index(client, *cs, options), wanted)
            )
        unsharded = [cs for cs, index in zip(wanted, shard_indexes, strict=True) if not index]
        full_paths = dict(
            zip(
                unsharded,
                pool.map(lambda cs: _fetch_one(client, *cs, options), unsharded),
                strict=True,
            )
        )
        sharded_paths = {}
        if any(shard_indexes):
            indexes = dict(zip(wanted, shard_indexes, strict=True))
            sharded_paths = _read_shards(client, indexes, full_paths, names or (), options, pool)
    paths = {**full_paths, **sharded_paths}
    return [Subdir(c, s, paths[(c, s)]) for c, s in wanted]


def _read_shards(
    client: LazyClient,
    indexes: dict[tuple[Channel, str], Path | None],
    full_paths: dict[tuple[Channel, str], Path | None],
    names: Iterable[str],
    options: FetchOptions,
    pool: ThreadPoolExecutor,
) -> dict[tuple[Channel, str], Path]:
    """The subdirs with a shards index, read as far as ``names`` reach, each written as one
    repodata file (the shards' reader is imported only for channels that offer shards)."""
    from ophis.client.sharded_repodata import FullSubdir, ShardedSubdir, resolve_closure

    sharded = {
        cs: ShardedSubdir(cs[0], cs[1], index, options.cache_dir)
        for cs, index in indexes.items()
        if index
    }
    full = [FullSubdir(c, s, p) for (c, s), p in full_paths.items() if p is not None]
    resolve_closure(client, list(sharded.values()), full, names, pool)
    return {cs: source.write_repodata() for cs, source in sharded.items()}


def fetch_shards_index(
    client: httpx.Client | LazyClient, channel: Channel, subdir: str, options: FetchOptions
) -> Path | None:
    """The cached CEP-16 shards index of an HTTP channel's subdir (revalidated with its
    ETag after ``ttl``); None when the channel offers no shards."""
    if urlsplit(channel.url(subdir)).scheme not in ("http", "https"):
        return None
    from ophis.core.shards import SHARDS_INDEX  # with msgpack: for HTTP channels only

    return _HttpSubdir(client, channel, subdir, options, SHARDS_INDEX).fetch()


def _fetch_one(
    client: LazyClient, channel: Channel, subdir: str, options: FetchOptions
) -> Path | None:
    url = channel.url(subdir, with_token=True, with_auth=True)
    scheme = urlsplit(url).scheme
    if scheme == "file":
        path = Path(unquote(urlsplit(url).path)) / "repodata.json"
        found = path if path.is_file() else None
    elif scheme in ("http", "https"):
        found = _HttpSubdir(client, channel, subdir, options).fetch()
    else:
        raise ChannelError(
            f"Channel {channel.redacted_url} uses '{scheme}://', which Ophis cannot fetch yet.",
            "Use an http(s):// or file:// channel.",
        )
    if found is None and subdir == "noarch":
        raise UnavailableInvalidChannel(channel, 404, "NOT FOUND")
    return found


class _HttpSubdir:
    """One cached document of a channel subdir: ``repodata.json`` (tried as ``.zst`` first,
    stored decompressed) or the CEP-16 shards index (stored as fetched)."""

    def __init__(
        self,
        client: httpx.Client | LazyClient,
        channel: Channel,
        subdir: str,
        options: FetchOptions,
        filename: str = "repodata.json",
    ) -> None:
        self.client = client
        self.channel = channel
        self.filename = filename
        self.url = channel.url(subdir, with_token=True, with_auth=True)
        identity = f"{channel.url(subdir, with_token=True)}/{filename}"
        key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        options.cache_dir.mkdir(parents=True, exist_ok=True)
        suffix = ".json" if filename == "repodata.json" else ".msgpack.zst"
        self.document = options.cache_dir / f"{key}{suffix}"
        self.state_file = options.cache_dir / f"{key}.state.json"
        self.options = options

    def fetch(self) -> Path | None:
        state = self._state()
        fresh = time.time() - state.get("fetched_at", 0) < self.options.ttl_seconds
        if self.document.exists() and (fresh or self.options.offline):
            return None if state.get("missing") else self.document
        if self.options.offline:
            raise RepodataUnavailable(
                f"No cached repodata for {self.channel.redacted_url} and --offline is set.",
                "Run once without --offline to fill the cache.",
            )
        variants = (".zst", "") if self.filename == "repodata.json" else ("",)
        for suffix in variants:
            response = self._get(f"{self.url}/{self.filename}{suffix}", state)
            if response.status_code == 304:
                self._save_state({**state, "fetched_at": time.time()})
                return None if state.get("missing") else self.document
            if response.status_code == 200:
                body = response.content
                if suffix == ".zst":
                    import zstandard

                    body = zstandard.ZstdDecompressor().stream_reader(body).read()
                self._store(body, response)
                return self.document
            if response.status_code in (401, 403):
                raise self._http_error(
                    response,
                    "Log in with 'ophis login', or put a token in the channel URL "
                    "(https://HOST/t/TOKEN/CHANNEL).",
                )
            if response.status_code != 404:
                raise self._http_error(response, "Check the channel URL, or try again later.")
        self._store(b"", None, missing=True)  # 404 for every variant: not offered
        return None

    def _get(self, url: str, state: dict) -> httpx.Response:
        import httpx  # a request is made: the network is needed now

        headers = {}
        if self.document.exists() and state.get("variant") == url.rsplit("/", 1)[-1]:
            if state.get("etag"):
                headers["If-None-Match"] = state["etag"]
            if state.get("last_modified"):
                headers["If-Modified-Since"] = state["last_modified"]
        try:
            return self.client.get(url, headers=headers)
        except httpx.HTTPError as error:
            from ophis.client.address_guard import refusal  # it imports httpx: only here

            raise CondaHTTPError(
                f"{self.channel.redacted_url}/{self.filename}",
                "000",
                "CONNECTION FAILED",
                f"Could not reach the channel ({refusal(error) or type(error).__name__}): check "
                "your network and the channel URL, or use --offline with a filled cache.",
            ) from None

    def _http_error(self, response: httpx.Response, remedy: str) -> CondaHTTPError:
        return CondaHTTPError(
            f"{self.channel.redacted_url}/{self.filename}",
            response.status_code,
            response.reason_phrase.upper(),
            remedy,
        )

    def _state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _store(self, body: bytes, response: httpx.Response | None, missing: bool = False) -> None:
        write_atomic(self.document, body)
        state = {"fetched_at": time.time(), "missing": missing}
        if response is not None:
            state.update(
                variant=response.request.url.path.rsplit("/", 1)[-1],  # no token on disk
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            )
        self._save_state(state)

    def _save_state(self, state: dict) -> None:
        write_atomic(self.state_file, json.dumps(state).encode())
