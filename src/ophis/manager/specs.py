"""conda's match-spec syntax, read with conda's meaning and handed to py-rattler.

Rules (conda's ``MatchSpec._parse_spec_str`` and ``VersionSpec``), and where they differ
from py-rattler's strict parser:

* ``numpy=1.11`` is fuzzy (``1.11.*``); ``numpy==1.11`` is exact; a bare version after a
  space (``numpy 1.11``) is exact too (conda's ``VersionSpec`` reads an operator-less
  version as ``==``), and ``1.11`` equals ``1.11.0``.
* ``numpy=1.11=py36_0`` and ``numpy 1.11 py36_0``: the version is exact when a build is
  given; the build may hold ``*`` wildcards.
* ``>=1.8,<2|1.9``: ``,`` binds tighter than ``|``; operator-less leaves are exact.
* ``numpy=1.11.*`` (a fuzzy ``=`` with a star) means ``1.11.*``.
* ``numpy[version='>=1.8', build_number=3]``: brackets override the positional parts.
* ``channel::numpy`` and ``channel/subdir::numpy``: the channel (a name, URL or path) and
  subdir are kept apart in :class:`ParsedSpec` so the solver can map them onto its channels.
* A URL or path to a ``.conda`` / ``.tar.bz2`` file is an explicit spec: name, exact
  version and build from the file name, channel and subdir from its folder.
* ``numpy=`` (no version after ``=``) is conda's plain ``numpy``.
* ``numpy=>1.11`` and ``numpy=<2`` (an operator after the fuzzy ``=``): conda strips the
  ``=`` and, with no build given, appends its fuzzy ``*``, so ``=>1.11`` is ``>1.11*``:
  1.11 and above *including* 1.11's pre-releases (``>=1.11dev`` here), and ``=<2`` is
  ``<2*``: below 2 and its pre-releases (``<2dev``). With a build, or a version ending in
  ``.*``, the operator is kept as written (``>1.11``). ``=>1,<2`` stays invalid, as in conda.
* ``~=1.0.*`` is refused, as conda refuses a compatible-release operator with ``.*``.
* ``numpy[features=mkl]`` (conda's legacy features, matched as an exact set): rattler has no
  such key; it is kept apart in :attr:`ParsedSpec.features` for the solver's ranking
  (``ophis.manager.conda_ranking``).

py-rattler's lenient mode (``strict=False``) already reads all of the above as conda does,
so the translation here is limited to what it does not do (package files, ``numpy=``,
channel/subdir split, conda-like error messages).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ophis.core.channel import split_channel_and_spec
from ophis.core.errors import ChannelError, InvalidMatchSpecError
from ophis.core.lazy import LazyModule
from ophis.core.platform import KNOWN_SUBDIRS

if TYPE_CHECKING:
    import rattler
else:  # py-rattler is imported when first used
    rattler = LazyModule("rattler")

__all__ = ["ParsedSpec", "parse_spec", "spec_name", "split_features", "to_rattler_spec"]

_PACKAGE_SUFFIXES = (".conda", ".tar.bz2")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_REMEDY = (
    "Write a spec such as 'numpy', 'numpy=1.11', 'numpy>=1.8,<2', 'numpy=1.11=py36_0', "
    "'numpy[version=\">=1.8\"]' or 'conda-forge::numpy'."
)
# a trailing '=' with nothing after it: conda treats 'numpy=' as 'numpy'
_EMPTY_FUZZY = re.compile(r"^([^\s=<>!~\[]+)\s*=$")
# a fuzzy '=' before an ordering operator: 'numpy=>1.11', 'numpy =<2 py_0'
_FUZZY_OPERATOR = re.compile(
    r"^(?P<name>[^\s=<>!~\[]+)\s*=+(?P<op>[<>])(?P<version>[^\s=,|\[]+)(?P<tail>(?:[\s\[].*)?)$"
)
# the same in brackets: numpy[version='=>1.11']
_FUZZY_OPERATOR_BRACKET = re.compile(
    r"(?P<key>\bversion\s*=\s*)(?P<quote>['\"]?)=+(?P<op>[<>])(?P<version>[^\s=,|'\"\]]+)(?P=quote)"
)
# conda refuses '~=' with a '.*' version (its VersionSpec: "invalid operator with '.*'")
_COMPATIBLE_STAR = re.compile(r"~=[^\s,|'\"\]]*\.\*")
# one key=value of a bracket, the value optionally quoted
_BRACKET_ITEM = re.compile(r"""\s*(\w+)\s*=\s*("[^"]*"|'[^']*'|[^,\]]*)\s*""")


@dataclass(frozen=True)
class ParsedSpec:
    """One spec as typed, split into what the solver needs."""

    name: str
    #: the channel part as typed (``conda-forge``, ``file:///srv/ch``), else None
    channel: str | None
    #: the subdir named with the channel (``conda-forge/linux-64::numpy``), else None
    subdir: str | None
    #: the spec without its channel, for py-rattler
    rattler_spec: rattler.MatchSpec
    original: str
    #: the package file a URL/path spec points at, else None
    url: str | None = None
    #: the exact legacy ``features`` set a ``[features=...]`` key demands, else None
    features: frozenset[str] | None = None

    @property
    def is_explicit(self) -> bool:
        return self.url is not None


def _invalid(text: str, why: str) -> InvalidMatchSpecError:
    return InvalidMatchSpecError(
        f"Invalid spec '{text}': {why}", _REMEDY, invalid_spec=text, details=why
    )


def _is_package_file(text: str) -> bool:
    head = text.split("[", 1)[0]
    return head.endswith(_PACKAGE_SUFFIXES) and ("/" in head or "\\" in head or "::" not in head)


def _parse_package_file(text: str) -> ParsedSpec:
    if _SCHEME.match(text):
        url = text
        path = unquote(urlsplit(text).path)
    else:
        path = os.path.abspath(os.path.expanduser(text))
        url = "file://" + ("" if path.startswith("/") else "/") + path.replace("\\", "/")
    folder, _, filename = path.replace("\\", "/").rpartition("/")
    stem = filename.removesuffix(".conda").removesuffix(".tar.bz2")
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        raise _invalid(text, f"{filename!r} is not a package file name 'name-version-build'")
    name, version, build = parts
    _, _, subdir = folder.rpartition("/")
    channel_url = url[: url.rfind("/")]
    if subdir in KNOWN_SUBDIRS:
        channel_url = channel_url[: channel_url.rfind("/")]
    else:
        subdir = None
    try:
        spec = rattler.MatchSpec(f"{name} =={version} {build}", strict=False)
    except Exception as exc:  # rattler raises its own parse errors
        raise _invalid(text, _reason(exc)) from exc
    return ParsedSpec(name.lower(), channel_url, subdir, spec, text, url)


def split_features(text: str) -> tuple[str, frozenset[str] | None]:
    """``numpy[version='>=1',features=mkl]`` → (``numpy[version='>=1']``, {mkl})."""
    head, sep, bracket = text.partition("[")
    if not sep or not bracket.rstrip().endswith("]"):
        return text, None
    items = _BRACKET_ITEM.findall(bracket.rstrip()[:-1])
    features = [value.strip("'\"") for key, value in items if key == "features"]
    if not features:
        return text, None
    kept = ",".join(f"{key}={value}" for key, value in items if key != "features")
    names = features[-1].replace(",", " ").split()
    return head + (f"[{kept}]" if kept else ""), frozenset(names)


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def parse_spec(text: str) -> ParsedSpec:
    """Parse one spec as conda would; raise :class:`InvalidMatchSpecError` if it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise _invalid(str(text or ""), "the spec is empty")
    original = text
    text = text.strip()
    if _is_package_file(text):
        return _parse_package_file(text)
    try:
        channel, rest = split_channel_and_spec(text)
    except ChannelError as exc:
        raise _invalid(original, exc.message) from exc
    subdir = None
    if channel is not None:
        head, _, last = channel.rstrip("/").rpartition("/")
        if head and last in KNOWN_SUBDIRS:
            channel, subdir = head, last
    # conda treats 'numpy=' (nothing after '=') as valid and means plain 'numpy'
    empty = _EMPTY_FUZZY.match(rest)
    if empty:
        rest = empty.group(1)
    if re.match(r"^[=<>!~]", rest):
        raise _invalid(original, "no package name before the version")
    if _COMPATIBLE_STAR.search(rest):
        raise _invalid(original, "invalid operator with '.*' (write '~=1.0', not '~=1.0.*')")
    rest = _fuzzy_operator(rest)
    rest, features = split_features(rest)
    try:
        spec = rattler.MatchSpec(rest, strict=False)
    except Exception as exc:  # rattler's InvalidMatchSpecException and friends
        raise _invalid(original, _reason(exc)) from exc
    if spec.name is None:
        raise _invalid(original, "no package name")
    name = spec.name.normalized
    if spec.channel is not None:
        # the channel came in brackets (numpy[channel=conda-forge]): keep it apart, as above
        channel = channel or spec.channel.name
        spec = _without_channel(spec)
    if spec.subdir and subdir is None:
        subdir = spec.subdir
    return ParsedSpec(name, channel, subdir, spec, original, features=features)


def _fuzzy_operator(text: str) -> str:
    """conda's reading of ``name=>V`` / ``name=<V`` (see the module docstring), written so
    py-rattler reads it the same."""
    text = _FUZZY_OPERATOR_BRACKET.sub(
        lambda m: m["key"] + m["quote"] + _fuzzy_bound(m["op"], m["version"]) + m["quote"], text
    )
    match = _FUZZY_OPERATOR.match(text)
    if match is None:
        return text
    name, op, version, tail = match.group("name", "op", "version", "tail")
    if tail.strip() and not tail.lstrip().startswith("["):  # a build: no fuzzy star
        return f"{name} {op}{version}{tail}"
    return f"{name} {_fuzzy_bound(op, version)}{tail}"


def _fuzzy_bound(op: str, version: str) -> str:
    """conda's ``>V*`` / ``<V*``; a ``.*`` version keeps the plain operator, as in conda."""
    if version.endswith(".*"):
        return f"{op}{version[:-2]}"
    # '>1*' admits every 1.x pre-release, as '>=1dev' does ('dev' sorts first)
    lowest = f"{version.rstrip('*')}dev"
    return f">={lowest}" if op == ">" else f"<{lowest}"


def _without_channel(spec: rattler.MatchSpec) -> rattler.MatchSpec:
    text = str(spec)
    head, sep, tail = text.partition("[")
    if "::" in head:
        head = head.split("::", 1)[1]
    return rattler.MatchSpec(head + sep + tail, strict=False)


def to_rattler_spec(text: str) -> rattler.MatchSpec:
    """The py-rattler spec meaning what conda means by ``text`` (channel kept if any)."""
    parsed = parse_spec(text)
    if parsed.channel is None or parsed.url is not None:
        return parsed.rattler_spec
    prefix = parsed.channel + (f"/{parsed.subdir}" if parsed.subdir else "")
    return rattler.MatchSpec(f"{prefix}::{parsed.rattler_spec}", strict=False)


def spec_name(text: str) -> str:
    """The package name a spec is about (lower case)."""
    return parse_spec(text).name
