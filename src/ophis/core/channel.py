"""Channels: conda's rules for turning ``conda-forge``, URLs and paths into channel URLs.

A channel is ``scheme://[auth@]location[/t/token]/name[/platform]``, the split conda makes
in ``conda/models/channel.py``: ``location`` is the server part (``conda.anaconda.org``,
``host:8080/conda``, or a directory for ``file://`` channels) and ``name`` the rest
(``conda-forge``, ``owner/label/dev``, ``pkgs/main``).

Names, as conda gives them (``Channel.name``, the ``channel`` field of ``--json`` output):

* a URL under the channel alias (or a migrated alias): the path after the alias
  (``https://conda.anaconda.org/t/<tok>/owner/label/dev/linux-64`` → ``owner/label/dev``);
* a URL under a custom channel's location: that channel's name plus the rest of the path;
* a ``file://`` URL: the last path segment (``file:///x/channel-1`` → ``channel-1``);
* any other URL: the path, minus a leading ``conda/`` segment (Anaconda Enterprise layout).

Canonical names (``Channel.canonical_name``, what ``conda list`` and ``dist_str`` show),
conda's rule in order:

1. a channel whose name is the name of a member of a multichannel gets the multichannel's
   name (``https://repo.anaconda.com/pkgs/main`` → ``defaults``);
2. a name at or below a custom channel's name is canonical as is (``chuck/label/dev``);
3. a channel whose location is the channel alias or a migrated alias keeps its name
   (``conda-forge``, ``owner/label/dev``);
4. anything else is its full base URL without credentials
   (``file:///x/channel-1``, ``https://host/prefix/owner``).

A token found anywhere in a URL (``/t/<token>/``, conda's ``[A-Za-z0-9-]*`` token syntax) is
taken out of it and put back right after the location when URLs are built with credentials,
as conda does (``https://host/t/<tok>/conda/ch`` builds ``https://host/conda/t/<tok>/ch``).

Two deliberate differences from conda: a name prefix must match whole segments of the
prefix (conda compares only as many segments as the shorter side has), and ``owner/label/main``
compares equal to ``owner`` (Anaconda.org serves label ``main`` at the bare owner URL).
"""

from __future__ import annotations

import ntpath
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from ophis.core.errors import ChannelError
from ophis.core.platform import KNOWN_SUBDIRS

if TYPE_CHECKING:
    import rattler

DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"
DEFAULTS_CHANNEL_NAME = "defaults"
#: conda's ``DEFAULT_CHANNELS_UNIX``; on Windows conda appends ``.../pkgs/msys2``.
DEFAULT_CHANNELS: tuple[str, ...] = (
    "https://repo.anaconda.com/pkgs/main",
    "https://repo.anaconda.com/pkgs/r",
)
#: conda's ``RECOGNIZED_URL_SCHEMES`` plus the object stores py-rattler can read.
RECOGNIZED_SCHEMES: frozenset[str] = frozenset({"http", "https", "ftp", "s3", "file", "oci", "gcs"})

_VALID_CHANNEL_HINT = (
    "A channel is a name such as 'conda-forge' or 'owner/label/dev', a URL such as "
    "'https://conda.anaconda.org/conda-forge', or a local path such as '/srv/channel', "
    "'./channel' or 'C:\\channel'."
)
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]{0,11})://")
_TOKEN_RE = re.compile(r"/t/([a-zA-Z0-9-]*)")
_PATH_RE = re.compile(r"\./|\.\.|\.\\|~|/|[a-zA-Z]:[/\\]|\\\\")
_DRIVE_RE = re.compile(r"^/?([a-zA-Z]):(?:[/\\]|$)")
_NAME_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")
_PACKAGE_EXTENSIONS = (".conda", ".tar.bz2", ".json")
_URL_SAFE_PATH_CHARS = "/:!$&'()*+,;=@-._~"
_MASK = "*****"


def _error(what: str) -> ChannelError:
    return ChannelError(what, _VALID_CHANNEL_HINT)


def join_url(*parts: str | None) -> str:
    """conda's ``join_url``: join with single slashes; leading slash kept from the first part."""
    start = "/" if not parts[0] or parts[0].startswith("/") else ""
    return start + "/".join(p for p in (part.strip("/") for part in parts if part) if p)


def _segments_start_with(value: str, prefix: str) -> bool:
    # conda's tokenized_startswith zips the two lists; here the whole prefix must match.
    tokens, wanted = value.strip("/").split("/"), prefix.strip("/").split("/")
    return len(tokens) >= len(wanted) and tokens[: len(wanted)] == wanted


# --- values ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Channel:
    """One channel (conda's ``Channel``), resolved against a :class:`ChannelContext`."""

    scheme: str
    #: server part without scheme or credentials: ``conda.anaconda.org``, ``host:8080/conda``,
    #: or the parent directory of a ``file://`` channel (``/srv``).
    location: str
    #: conda's channel name: ``conda-forge``, ``owner/label/dev``, ``pkgs/main``.
    name: str
    canonical_name: str
    token: str | None = field(default=None, repr=False)
    auth: tuple[str, str] | None = field(default=None, repr=False)
    #: the subdir the spec or URL named (``.../conda-forge/linux-64``), else None.
    platform: str | None = None
    #: the package file a URL pointed at (``.../linux-64/zlib-1.2-0.conda``), else None.
    package_filename: str | None = None
    #: the subdirs selected for this channel (the session's, or the named platform + noarch).
    subdirs: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        """``scheme://location/name``: no token, no credentials, no subdir, no trailing slash."""
        return self._join(with_token=False, with_auth=False)

    @property
    def channels(self) -> tuple[Channel, ...]:
        return (self,)

    @property
    def label(self) -> str | None:
        """The Anaconda.org label the name selects (``owner/label/dev`` → ``dev``), else None."""
        segments = self.name.split("/")
        for index in range(1, len(segments) - 1):
            if segments[index] == "label":
                return segments[index + 1]
        return None

    def _root(self, *, with_token: bool, with_auth: bool, mask: bool = False) -> str:
        token = "<TOKEN>" if mask else self.token
        path = join_url(self.location, *(("t", token) if with_token and self.token else ()))
        prefix = f"{self.scheme}://"
        if with_auth and self.auth:
            user, password = self.auth
            secret = _MASK if mask else quote(password, safe="")
            credentials = f"{quote(user, safe='')}:{secret}" if password else quote(user, safe="")
            prefix += f"{credentials}@"
        return prefix + path

    def _join(self, *parts: str | None, with_token: bool, with_auth: bool) -> str:
        root = self._root(with_token=with_token, with_auth=with_auth)
        tail = "/".join(p.strip("/") for p in (_quote_path(self.name), *parts) if p)
        return f"{root}/{tail}" if tail else root

    def url(
        self, subdir: str | None = None, *, with_token: bool = False, with_auth: bool = False
    ) -> str:
        """The URL of one subdir (default: the named platform, else the first selected one)."""
        if subdir is None and self.platform:
            return self._join(
                self.platform, self.package_filename, with_token=with_token, with_auth=with_auth
            )
        chosen = subdir or next((s for s in self.subdirs if s != "noarch"), "noarch")
        return self._join(chosen, with_token=with_token, with_auth=with_auth)

    def selected_subdirs(self, subdirs: Iterable[str] | None = None) -> tuple[str, ...]:
        """The subdirs to read: the named platform + noarch, else ``subdirs`` + noarch."""
        chosen = (self.platform,) if self.platform else tuple(subdirs or self.subdirs)
        return tuple(dict.fromkeys((*chosen, "noarch")))

    def urls(
        self,
        subdirs: Iterable[str] | None = None,
        *,
        with_token: bool = False,
        with_auth: bool = False,
    ) -> list[str]:
        """One URL per subdir; ``noarch`` is always included, last unless listed earlier."""
        return [
            self._join(subdir, with_token=with_token, with_auth=with_auth)
            for subdir in self.selected_subdirs(subdirs)
        ]

    @property
    def redacted_url(self) -> str:
        """The base URL with credentials shown but hidden: ``<TOKEN>`` and ``*****``."""
        root = self._root(with_token=True, with_auth=True, mask=True)
        return f"{root}/{_quote_path(self.name)}" if self.name else root

    def to_rattler(self, *, with_token: bool = False) -> rattler.Channel:
        """The same channel as a py-rattler ``Channel`` (for its gateway and solver)."""
        import rattler  # here: channel names are parsed by commands that never solve

        return rattler.Channel(self._join(with_token=with_token, with_auth=False))

    def _key(self) -> tuple[str, str]:
        name = self.name.removesuffix("/label/main")
        return self.location, name

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Channel):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return join_url(self.base_url, self.platform) if self.platform else self.base_url


@dataclass(frozen=True)
class MultiChannel:
    """A name standing for several channels (conda's ``MultiChannel``), e.g. ``defaults``."""

    name: str
    channels: tuple[Channel, ...]
    platform: str | None = None

    @property
    def canonical_name(self) -> str:
        return self.name

    def urls(
        self,
        subdirs: Iterable[str] | None = None,
        *,
        with_token: bool = False,
        with_auth: bool = False,
    ) -> list[str]:
        wanted = tuple(subdirs) if subdirs is not None else None
        return [
            url
            for channel in self.channels
            for url in channel.urls(wanted, with_token=with_token, with_auth=with_auth)
        ]

    def __str__(self) -> str:
        return self.name


# --- configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    """A configured location: conda's ``Channel`` objects held by its ``context``."""

    scheme: str | None
    location: str
    name: str = ""
    auth: tuple[str, str] | None = None
    token: str | None = None


@dataclass(frozen=True)
class _Resolved:
    alias: _Place
    migrated_aliases: tuple[_Place, ...]
    custom: Mapping[str, _Place]
    migrated_custom: Mapping[str, _Place]
    multichannels: Mapping[str, tuple[_Place, ...]]
    known_subdirs: tuple[str, ...]


@dataclass(frozen=True)
class ChannelContext:
    """The configuration channel names are resolved against (the caller reads ``.condarc``)."""

    channel_alias: str = DEFAULT_CHANNEL_ALIAS
    default_channels: Sequence[str] = DEFAULT_CHANNELS
    #: name → base URL the name lives under (``{"chuck": "https://host/with/path"}``).
    custom_channels: Mapping[str, str] = field(default_factory=dict)
    #: name → member channels (``defaults`` is added from ``default_channels`` and wins).
    custom_multichannels: Mapping[str, Sequence[str]] = field(default_factory=dict)
    migrated_channel_aliases: Sequence[str] = ()
    migrated_custom_channels: Mapping[str, str] = field(default_factory=dict)
    #: directory relative paths are resolved against (the working directory).
    root_dir: str | None = None
    #: directory ``~`` stands for.
    home_dir: str | None = None
    #: the session's subdirs; they count as known platforms when parsing URLs.
    subdirs: Sequence[str] = ()

    @cached_property
    def _resolved(self) -> _Resolved:
        return _resolve(self)


def _split_token(url: str) -> tuple[str, str | None]:
    match = _TOKEN_RE.search(url)
    if match is None:
        return url.rstrip("/"), None
    token = match.group(1)
    return url.replace(f"/t/{token}", "", 1).rstrip("/"), token or None


@lru_cache(maxsize=64)
def _platform_pattern(known_subdirs: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(s) for s in known_subdirs)
    return re.compile(rf"/({alternatives})(?:/|$)", re.IGNORECASE)


def _split_platform(url: str, known_subdirs: Sequence[str]) -> tuple[str, str | None]:
    """conda's ``split_platform``: the first ``/<known subdir>`` segment comes out of the URL."""
    if not known_subdirs:
        return url.rstrip("/"), None
    match = _platform_pattern(tuple(known_subdirs)).search(url)
    if match is None:
        return url.rstrip("/"), None
    found = match.group(1)
    return url.replace(f"/{found}", "", 1).rstrip("/"), found.lower()


@dataclass(frozen=True)
class _UrlParts:
    scheme: str
    host: str | None
    port: int | None
    path: str
    auth: tuple[str, str] | None
    token: str | None = None
    platform: str | None = None
    package_filename: str | None = None

    @property
    def server(self) -> str:
        """host[:port] as conda writes it (``Url(hostname, port)``)."""
        if self.host is None:
            return ""
        return f"{self.host}:{self.port}" if self.port else self.host

    @property
    def test_url(self) -> str:
        """host[:port]/path without scheme, credentials or token: what conda compares."""
        return self.server + self.path.rstrip("/")


def _parse_url(url: str, known_subdirs: Sequence[str]) -> _UrlParts:
    if any(ch.isspace() for ch in url):
        raise _error(f"channel URL {url!r} contains whitespace")
    cleaned, token = _split_token(url)
    cleaned, platform = _split_platform(cleaned, known_subdirs)
    filename = None
    if cleaned.endswith(_PACKAGE_EXTENSIONS) and "/" in cleaned.split("://", 1)[1]:
        cleaned, filename = cleaned.rsplit("/", 1)
    parts = urlsplit(cleaned)
    scheme = parts.scheme.lower()
    if scheme not in RECOGNIZED_SCHEMES:
        raise _error(f"channel URL {url!r} has scheme {scheme!r}, which conda does not read")
    netloc, path = parts.netloc, parts.path
    if scheme == "file" and _DRIVE_RE.match(netloc):
        netloc, path = "", f"/{netloc}{path}"  # file://C:/x written without the third slash
    try:
        host_parts = urlsplit(f"//{netloc}")
        host, port = host_parts.hostname, host_parts.port
    except ValueError as exc:
        raise _error(f"channel URL {url!r} has an invalid host or port ({exc})") from exc
    if scheme != "file" and not host:
        raise _error(f"channel URL {url!r} has no host")
    if scheme == "file" and not host and not path.strip("/"):
        raise _error(f"channel URL {url!r} has no path")
    auth = None
    if host_parts.username:
        auth = (unquote(host_parts.username), unquote(host_parts.password or ""))
    return _UrlParts(scheme, host or None, port, path, auth, token, platform, filename)


def _place_from_url(url: str, name: str | None, alias: _Place) -> _Place:
    """conda's ``Channel.make_simple_channel``."""
    if not _SCHEME_RE.match(url):
        return replace(alias, name=(name or url).strip("/"))
    parts = _parse_url(url, ())
    test_url = parts.test_url if parts.host else parts.path.rstrip("/")
    if name:
        return _Place(parts.scheme, test_url, name.strip("/"), parts.auth, parts.token)
    if alias.location and test_url.startswith(alias.location):
        rest = test_url[len(alias.location) :]
        return _Place(parts.scheme, alias.location, rest.strip("/"), parts.auth, parts.token)
    if parts.host is None:
        location, _, rest = test_url.rpartition("/")
        return _Place(parts.scheme, location or "/", rest, parts.auth, parts.token)
    return _Place(parts.scheme, parts.server, parts.path.strip("/"), parts.auth, parts.token)


def _alias_place(url: str) -> _Place:
    """conda's ``context.channel_alias``: the whole URL minus scheme, auth and token."""
    if not _SCHEME_RE.match(url.strip()):
        raise _error(f"channel alias {url!r} is not a URL such as 'https://conda.anaconda.org'")
    parts = _parse_url(url.strip(), ())
    location = parts.test_url if parts.host else parts.path.rstrip("/")
    return _Place(parts.scheme, location, "", parts.auth, parts.token)


def _resolve(ctx: ChannelContext) -> _Resolved:
    alias = _alias_place(ctx.channel_alias)
    migrated = tuple(_alias_place(url) for url in ctx.migrated_channel_aliases)
    multi = {
        name: tuple(_place_from_url(_member_url(u, ctx), None, alias) for u in urls)
        for name, urls in {
            **ctx.custom_multichannels,
            DEFAULTS_CHANNEL_NAME: ctx.default_channels,
        }.items()
    }
    custom = {place.name: place for places in multi.values() for place in places if place.name}
    custom |= {
        n: _place_from_url(_member_url(u, ctx), n, alias) for n, u in ctx.custom_channels.items()
    }
    migrated_custom = {
        n: _place_from_url(u, n, alias) for n, u in ctx.migrated_custom_channels.items()
    }
    known = tuple(dict.fromkeys((*KNOWN_SUBDIRS, *ctx.subdirs)))
    return _Resolved(alias, migrated, custom, migrated_custom, multi, known)


def _member_url(value: str, ctx: ChannelContext) -> str:
    return _path_to_url(value, ctx) if _is_path(value) else value


# --- paths --------------------------------------------------------------------------------


def _is_path(value: str) -> bool:
    """conda's ``is_path`` (plus a bare ``.``/``..`` and Windows ``.\\``)."""
    if "://" in value:
        return False
    return value in (".", "..") or bool(_PATH_RE.match(value))


def _path_to_url(value: str, ctx: ChannelContext) -> str:
    """conda's ``path_to_url``, with the working and home directories passed in."""
    path = _expand_home(value, ctx)
    if path.startswith(("\\\\", "//")):
        return "file:" + path.replace("\\", "/")  # UNC: //server/share → file://server/share
    if _DRIVE_RE.match(path):
        return _file_url(ntpath.normpath(path).replace("\\", "/"))
    if not path.startswith("/"):
        path = _absolute(path, value, ctx)
        if _DRIVE_RE.match(path):
            return _file_url(path.replace("\\", "/"))
    return _file_url(posixpath.normpath(path))


def _expand_home(value: str, ctx: ChannelContext) -> str:
    if not value.startswith("~"):
        return value
    head, sep, tail = value.replace("\\", "/").partition("/")
    if head != "~":
        raise _error(f"cannot expand {head!r} in {value!r}; only '~' (your home) is supported")
    if not ctx.home_dir:
        raise _error(f"cannot expand '~' in {value!r}: no home directory is configured")
    return ctx.home_dir.rstrip("/\\") + "/" + tail if sep else ctx.home_dir


def _absolute(path: str, original: str, ctx: ChannelContext) -> str:
    if not ctx.root_dir:
        raise _error(f"relative channel path {original!r} needs a working directory to resolve")
    if _DRIVE_RE.match(ctx.root_dir):
        return ntpath.normpath(ntpath.join(ctx.root_dir, path))
    return posixpath.join(ctx.root_dir, path.replace("\\", "/"))


def _quote_path(path: str) -> str:
    return quote(path, safe=_URL_SAFE_PATH_CHARS + "%")


def _file_url(path: str) -> str:
    encoded = quote(path, safe=_URL_SAFE_PATH_CHARS)
    return f"file:///{encoded.lstrip('/')}"


# --- parsing ------------------------------------------------------------------------------


def _read_configuration(parts: _UrlParts, cfg: _Resolved) -> _Place:
    """conda's ``_read_channel_configuration``: which configured location a URL is under."""
    path = parts.path.rstrip("/")
    test_url = parts.test_url
    if not path:
        return _Place(parts.scheme, parts.server, "")
    for name, place in sorted(cfg.migrated_custom.items(), key=lambda kv: -len(kv[0])):
        old = join_url(place.location, name)
        if _segments_start_with(test_url, old):
            channel_name = join_url(name, test_url[len(old) :])
            return replace(_place_for_name(channel_name, cfg)[0], name=channel_name)
    for migrated in cfg.migrated_aliases:
        if test_url.startswith(migrated.location):
            return replace(cfg.alias, name=test_url[len(migrated.location) :].strip("/"))
    for _name, place in sorted(cfg.custom.items(), key=lambda kv: -len(kv[0])):
        under = join_url(place.location, place.name)
        if place.name and _segments_start_with(test_url, under):
            subname = test_url[len(under) :].strip("/")
            return replace(place, scheme=parts.scheme, name=join_url(place.name, subname))
    if cfg.alias.location and _segments_start_with(test_url, cfg.alias.location):
        name = test_url[len(cfg.alias.location) :].strip("/")
        return replace(cfg.alias, scheme=parts.scheme, name=name)
    if parts.host is None:
        location, _, name = test_url.rpartition("/")
        return _Place("file", location or "/", name)
    segments = path.strip("/").split("/")
    if segments[0] == "conda":
        return _Place(parts.scheme, f"{parts.server}/conda", "/".join(segments[1:]))
    return _Place(parts.scheme, parts.server, path.strip("/"))


def _place_for_name(name: str, cfg: _Resolved) -> tuple[_Place, str | None]:
    """conda's ``_get_channel_for_name``: a custom channel at or above the name, else the alias."""
    stripped, platform = _split_platform(name, cfg.known_subdirs)
    test = stripped
    while True:
        if test in cfg.custom:
            return replace(cfg.custom[test], name=stripped), platform
        if "/" not in test:
            return replace(cfg.alias, name=stripped), platform
        test = test.rsplit("/", 1)[0]


def _canonical_name(place: _Place, cfg: _Resolved) -> str:
    if place.name:
        for multiname, members in cfg.multichannels.items():
            if any(member.name == place.name for member in members):
                return multiname
        if any(_segments_start_with(place.name, custom) for custom in cfg.custom):
            return place.name
    if any(a.location == place.location for a in (cfg.alias, *cfg.migrated_aliases)):
        return place.name
    return f"{place.scheme or 'https'}://{join_url(place.location, _quote_path(place.name))}"


def _make_channel(
    place: _Place,
    cfg: _Resolved,
    subdirs: Sequence[str],
    *,
    platform: str | None = None,
    package_filename: str | None = None,
) -> Channel:
    name = unquote(place.name)
    place = replace(place, name=name)
    selected = tuple(subdirs) if platform is None else tuple(dict.fromkeys((platform, "noarch")))
    return Channel(
        scheme=place.scheme or "https",
        location=place.location,
        name=name,
        canonical_name=_canonical_name(place, cfg),
        token=place.token,
        auth=place.auth,
        platform=platform,
        package_filename=unquote(package_filename) if package_filename else None,
        subdirs=selected,
    )


def _channel_from_url(url: str, ctx: ChannelContext) -> Channel:
    cfg = ctx._resolved
    if url.lower().startswith("file:"):
        url = url.replace("\\", "/")  # conda's win_path_backout
    parts = _parse_url(url, cfg.known_subdirs)
    place = _read_configuration(parts, cfg)
    place = replace(place, auth=parts.auth or place.auth, token=parts.token or place.token)
    return _make_channel(
        place,
        cfg,
        ctx.subdirs,
        platform=parts.platform,
        package_filename=parts.package_filename,
    )


def _validate_name(value: str) -> str:
    name = value.strip("/")
    if "::" in name:
        raise _error(
            f"{value!r} is a 'channel::package' spec, not a channel; pass only the part before '::'"
        )
    for segment in name.split("/"):
        if not segment:
            raise _error(f"channel name {value!r} has an empty path segment ('//')")
        if segment in (".", "..") or not _NAME_SEGMENT_RE.match(segment):
            raise _error(
                f"channel name {value!r} contains {segment!r}; names use letters, digits "
                "and '-', '_', '.', '+' separated by '/'"
            )
    return name


def parse_channel(spec: str, ctx: ChannelContext) -> Channel | MultiChannel:
    """Resolve a channel name, URL or path with conda's rules.

    Multichannel names (``defaults``, ``custom_multichannels``) give a :class:`MultiChannel`;
    use :func:`expand_channels` to get their member channels.
    """
    value = spec.strip() if isinstance(spec, str) else ""
    if not value:
        raise _error("the channel is empty")
    if _SCHEME_RE.match(value):
        return _channel_from_url(value, ctx)
    if _is_path(value):
        return _channel_from_url(_path_to_url(value, ctx), ctx)
    if any(ch.isspace() for ch in value):
        raise _error(f"channel name {value!r} contains whitespace")
    if "://" in value:
        raise _error(f"{value!r} is not a URL: a URL starts with a scheme such as 'https://'")
    cfg = ctx._resolved
    name = _validate_name(value)
    stripped, platform = _split_platform(name, cfg.known_subdirs)
    if stripped in cfg.multichannels:
        members = tuple(
            _make_channel(place, cfg, ctx.subdirs, platform=platform)
            for place in cfg.multichannels[stripped]
        )
        return MultiChannel(stripped, members, platform)
    place, platform = _place_for_name(name, cfg)
    return _make_channel(place, cfg, ctx.subdirs, platform=platform)


def expand_channels(specs: Iterable[str], ctx: ChannelContext) -> list[Channel]:
    """Parse channels in priority order, expanding multichannels; duplicates are dropped."""
    seen: dict[tuple[Channel, str | None], Channel] = {}
    for spec in specs:
        for channel in parse_channel(spec, ctx).channels:
            seen.setdefault((channel, channel.platform), channel)
    return list(seen.values())


def split_channel_and_spec(spec: str) -> tuple[str | None, str]:
    """Split conda's ``channel::spec`` / ``channel/subdir::spec`` into its two parts.

    ``numpy>=1`` → ``(None, "numpy>=1")``; ``conda-forge::numpy>=1`` → ``("conda-forge",
    "numpy>=1")``; the channel may be a URL or path (``file:///srv/ch::numpy``).
    """
    text = spec.strip()
    head, bracket, tail = text.partition("[")
    if "::" not in head:
        if ":" in head and "://" not in head and not _DRIVE_RE.match(head):
            raise _error(
                f"{spec!r} has a single ':'; write 'channel::package', e.g. 'conda-forge::numpy'"
            )
        return None, text
    channel, _, package = head.rpartition("::")
    if not channel.strip():
        raise _error(f"{spec!r} has nothing before '::'; write e.g. 'conda-forge::numpy'")
    if "::" in channel or channel.endswith(":"):
        raise _error(f"{spec!r} has more than one '::'; write e.g. 'conda-forge::numpy'")
    package = (package + bracket + tail).strip()
    if not package or package.startswith("["):
        raise _error(f"{spec!r} names no package after '::'; write e.g. 'conda-forge::numpy'")
    return channel.strip(), package


# --- conda's Channel objects as `config --show --json` writes them --------------------------


def _scheme_auth_token(url: str) -> tuple[str, str | None, str | None, str | None]:
    """conda's ``split_scheme_auth_token``: the URL without scheme, credentials and
    ``/t/<token>``, then the scheme, ``user:password`` and the token."""
    without_token, token = _split_token(url)
    parts = urlsplit(without_token)
    if not parts.scheme:
        return without_token.rstrip("/"), None, None, token
    host = parts.hostname or ""
    location = host + (f":{parts.port}" if parts.port else "") + parts.path
    auth = None
    if parts.username is not None:
        auth = unquote(parts.username) + (f":{unquote(parts.password)}" if parts.password else "")
    return location.rstrip("/"), parts.scheme, auth, token


def channel_dump(url: str, alias: str, name: str | None = None) -> dict[str, str | None]:
    """conda's ``Channel.make_simple_channel(alias, url, name).dump()``: a URL under the
    alias keeps the alias's location and is named by the rest of its path; a named custom
    channel keeps its whole URL as the location."""
    location, scheme, auth, token = _scheme_auth_token(url)
    if scheme is None:  # a bare name lives under the alias
        alias_location, scheme, auth, _ = _scheme_auth_token(alias)
        location, name = alias_location, name or location
    elif not name:
        alias_location = _scheme_auth_token(alias)[0]
        if alias_location and location.startswith(alias_location):
            location, name = alias_location, location[len(alias_location) :]
        else:
            parts = urlsplit(f"{scheme}://{location}")
            host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
            location, name = host, parts.path
    return {
        "scheme": scheme,
        "auth": auth,
        "location": location,
        "token": token,
        "name": (name or "").strip("/"),
        "platform": None,
        "package_filename": None,
    }


def alias_dump(url: str) -> dict[str, str | None]:
    """conda's channel alias (or a migrated one) as a Channel: no name of its own."""
    location, scheme, auth, token = _scheme_auth_token(url)
    return {
        "scheme": scheme,
        "auth": auth,
        "location": location,
        "token": token,
        "name": "",
        "platform": None,
        "package_filename": None,
    }
