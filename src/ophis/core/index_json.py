"""The metadata a package carries about itself (``info/index.json``, ``about.json``,
``run_exports.json``), parsed strictly and checked field by field against the types conda
and rattler accept.

Whatever index.json says ends up in ``repodata.json``, and rattler refuses a whole
repodata.json when one record has a field of the wrong type (``build_number`` must be an
unsigned integer, ``depends`` a list of strings, ``timestamp`` an integer, ...); NaN or
Infinity are not JSON at all to most readers. So every field a client reads is checked
here, on upload and on index, and the same check lets a channel skip a stored record that
an older version let in (:func:`problem`).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from rattler import Version

__all__ = [
    "MAX_DEPTH",
    "MetadataError",
    "check_about",
    "check_facts",
    "check_index",
    "check_run_exports",
    "loads",
    "problem",
]

#: nesting deeper than this is refused (index.json needs 3 levels; rattler's reader stops
#: at 128, orjson's writer at 254)
MAX_DEPTH = 32
_MAX_STRING = 64 * 1024  # one name, version, dependency... (a whole index.json is 1 MiB)
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# rattler reads a timestamp above year 9999 in seconds as milliseconds; both must be in
# the range its clock type holds
_MAX_SECONDS, _MAX_MILLISECONDS = 253_402_207_200, 253_402_207_200_999
_SECONDS_CUTOFF = 253_402_300_799
_RUN_EXPORT_KINDS = ("weak", "strong", "noarch", "weak_constrains", "strong_constrains")


class MetadataError(ValueError):
    """A metadata field has a value the clients cannot read; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"'{field}' {problem}")
        self.field = field


# --- parsing ------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(data: bytes | str, what: str) -> Any:
    """JSON as the clients read it: no NaN or Infinity, at most MAX_DEPTH levels deep, the
    depth measured on the text before it is parsed (the caller bounds its size). Raises
    ValueError naming ``what``."""
    raw = data.encode() if isinstance(data, str) else data
    if _nesting(raw) > MAX_DEPTH:
        raise ValueError(f"{what} is nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:  # not reached after the scan; Python's parser guards itself too
        raise ValueError(f"{what} is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"{what} is not valid JSON: {error}") from None


_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def _nesting(raw: bytes) -> int:
    """The deepest bracket nesting of a JSON text outside its strings, in C-speed passes:
    drop escape pairs (``\\\\`` first, then ``\\"``), so every quote left opens or
    closes a string; keep what lies between strings; keep only brackets; sum."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_STEP.__getitem__, outside)), default=0)


def _depth(value: Any) -> int:
    """How deep ``value`` nests (without recursion); raises MetadataError for NaN or
    Infinity (Python's json writes them, orjson silently writes null)."""
    if type(value) not in (dict, list):
        return 0
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        for child in item.values() if type(item) is dict else item:
            kind = type(child)
            if kind is dict or kind is list:
                pending.append((child, level + 1))
            elif kind is float and not math.isfinite(child):
                raise MetadataError("(record)", "holds NaN or Infinity, which are not JSON")
    return deepest


# --- value checks -------------------------------------------------------------------------

Check = Callable[[Any], bool]


def _string(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= _MAX_STRING


def _optional_string(value: Any) -> bool:
    return value is None or _string(value)


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and all(_string(item) for item in value)


def _count(value: Any) -> bool:  # bool is an int subclass: refused by the exact type
    return type(value) is int and 0 <= value < 2**64


def _hex(length: int) -> Check:
    return lambda value: isinstance(value, str) and len(value) == length and bool(_HEX.match(value))


def _name(value: Any) -> bool:
    return _string(value) and bool(_NAME.match(value))


def _version(value: Any) -> bool:
    return _string(value) and bool(value) and "-" not in value and _parses(value)


@functools.lru_cache(maxsize=8192)  # a channel repeats its versions many times
def _parses(version: str) -> bool:
    try:
        Version(version)
    except Exception:  # rattler's parse error types differ between releases
        return False
    return True


def _build(value: Any) -> bool:
    return _string(value) and bool(value) and "-" not in value


def _noarch(value: Any) -> bool:
    return value is None or isinstance(value, bool) or value in ("python", "generic", "")


def _timestamp(value: Any) -> bool:
    if type(value) is not int:
        return False
    return 0 <= value <= _MAX_SECONDS or _SECONDS_CUTOFF < value <= _MAX_MILLISECONDS


def _features(value: Any) -> bool:
    return _string(value) or _string_list(value)


def _lists_by_name(value: Any) -> bool:
    return isinstance(value, dict) and all(_string_list(v) for v in value.values())


def _run_exports(value: Any) -> bool:
    if isinstance(value, list):  # conda-build's older form: weak run exports
        return _string_list(value)
    return isinstance(value, dict) and all(
        _string_list(value[kind]) for kind in _RUN_EXPORT_KINDS if kind in value
    )


_STRING, _OPTIONAL = "must be a string", "must be a string or null"
_LIST = "must be a list of strings"
_COUNT = "must be a non-negative integer"
#: every index.json / repodata field conda or rattler reads, with what it must be
_INDEX_FIELDS: dict[str, tuple[Check, str]] = {
    "name": (_name, "must be a package name (letters, digits, '_', '-' and '.')"),
    "version": (_version, "must be a version string (without '-') that conda can read"),
    "build": (_build, "must be a non-empty string without '-'"),
    "build_number": (_count, _COUNT),
    "depends": (_string_list, _LIST),
    "constrains": (_string_list, _LIST),
    "subdir": (_string, _STRING),
    "arch": (_optional_string, _OPTIONAL),
    "platform": (_optional_string, _OPTIONAL),
    "noarch": (_noarch, "must be 'python', 'generic', true, false or null"),
    "license": (_optional_string, _OPTIONAL),
    "license_family": (_optional_string, _OPTIONAL),
    "timestamp": (_timestamp, "must be an integer time (seconds or milliseconds since 1970)"),
    "track_features": (_features, "must be a string or a list of strings"),
    "features": (_optional_string, _OPTIONAL),
    "md5": (_hex(32), "must be 32 hexadecimal digits"),
    "legacy_bz2_md5": (_hex(32), "must be 32 hexadecimal digits"),
    "sha256": (_hex(64), "must be 64 hexadecimal digits"),
    "size": (_count, _COUNT),
    "legacy_bz2_size": (_count, _COUNT),
    "python_site_packages_path": (_optional_string, _OPTIONAL),
    "purls": (_string_list, _LIST),
    "flags": (_string_list, _LIST),
    "run_exports": (_run_exports, "must be a map of weak/strong/... to lists of strings"),
    "extra_depends": (_lists_by_name, "must be a map of names to lists of strings"),
    "preferred_env": (_optional_string, _OPTIONAL),
    "package_type": (_optional_string, _OPTIONAL),
    "date": (_optional_string, _OPTIONAL),
}
_REQUIRED = ("name", "version", "build", "build_number")

#: about.json fields that reach channeldata.json, and the search and web pages
_ABOUT_FIELDS: dict[str, tuple[Check, str]] = {
    **dict.fromkeys(
        (
            "description",
            "dev_url",
            "doc_source_url",
            "doc_url",
            "home",
            "license",
            "license_family",
            "recipe_origin",
            "summary",
            "source_git_url",
        ),
        (_optional_string, _OPTIONAL),
    ),
    **dict.fromkeys(("identifiers", "keywords", "tags"), (_string_list, _LIST)),
    "source_url": (lambda v: v is None or _features(v), "must be a string or a list of strings"),
}


def _check_fields(
    document: Any, fields: Mapping[str, tuple[Check, str]], required: tuple[str, ...] = ()
) -> None:
    if not isinstance(document, dict):
        raise MetadataError("(document)", "must be a JSON object")
    for key in required:
        if key not in document:
            raise MetadataError(key, "is missing")
    for key, (check, expected) in fields.items():
        if key in document and not check(document[key]):
            raise MetadataError(key, f"{expected}, not {_shown(document[key])}")


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_index(index: Any) -> None:
    """Raise MetadataError for the first field of index.json (or of a repodata record) that
    conda or rattler could not read."""
    _check_fields(index, _INDEX_FIELDS, _REQUIRED)


def check_about(about: Any) -> None:
    _check_fields(about, _ABOUT_FIELDS)


def check_run_exports(run_exports: Any) -> None:
    if not _run_exports(run_exports):
        raise MetadataError("run_exports", "must be a map of weak/strong/... to lists of strings")


def check_facts(facts: Any) -> None:
    """What channeldata keeps of a package's about.json and run_exports.json."""
    check_about(facts)
    check_run_exports(facts.get("run_exports") or {})


def problem(document: Any, check: Callable[[Any], None] = check_index) -> str | None:
    """Why a stored document (by default a repodata record) cannot be served, or None. A
    channel's documents skip such a record instead of failing as a whole: records stored by
    older versions were not all checked."""
    try:
        check(document)
        if _depth(document) > MAX_DEPTH:
            raise MetadataError("(record)", f"is nested more than {MAX_DEPTH} levels deep")
    except (MetadataError, ValueError, TypeError, RecursionError) as error:
        return str(error) or type(error).__name__
    return None
