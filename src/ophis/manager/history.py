"""``conda-meta/history``, written and read exactly as conda does (``conda/history.py``).

One revision per transaction::

    ==> 2024-01-02 03:04:05 <==
    # cmd: /opt/conda/bin/conda install -c conda-forge numpy
    # conda version: 26.7.1
    -conda-forge/linux-64::numpy-1.26.0-py311h0
    +conda-forge/linux-64::numpy-1.26.4-py311h1
    # update specs: ['numpy']

Lines: the header with the local time; ``# cmd:`` (``sys.argv`` joined by spaces, no
quoting); ``# conda version:``; removed then added dists, each group sorted, as
``<channel canonical name>/<subdir>::<name>-<version>-<build>`` (conda's ``dist_str``; conda
< 4.7 wrote ``defaults::name-version-build``, which reads the same); then, only when not
empty and in this order, ``# remove specs:``, ``# update specs:``, ``# neutered specs:``
holding the Python ``repr`` of a list of strings (conda parses them with
``ast.literal_eval``; conda < 4.5 wrote ``a,b >=1,<2`` comma lists, also read here).

Ophis adds ``# ophis version: X`` after the conda version line: conda's parser only looks at
``# cmd:``, ``# conda version:`` and ``# <word> specs:`` comments, so the extra line is
invisible to conda. The ``# conda version:`` value is the conda release Ophis behaves as
(:data:`CONDA_COMPAT_VERSION`); conda only compares it to warn about downgrades.
"""

from __future__ import annotations

import ast
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ophis import __version__ as OPHIS_VERSION
from ophis.core.atomic_file import write_atomic
from ophis.core.channel import ChannelContext, parse_channel
from ophis.core.errors import OphisError
from ophis.core.lazy import LazyModule
from ophis.core.platform import KNOWN_SUBDIRS
from ophis.core.redaction import redact
from ophis.core.spec_name import spec_name

if TYPE_CHECKING:
    import rattler
else:  # py-rattler is imported when first used
    rattler = LazyModule("rattler")

#: the conda release whose behaviour Ophis reproduces; written as ``# conda version:``
CONDA_COMPAT_VERSION = "26.7.1"
#: conda-meta/created_at: when the environment was made (Linux keeps no birth time)
CREATED_AT = "created_at"
HISTORY = "conda-meta/history"

_HEADER = re.compile(r"==>\s*(.+?)\s*<==")
_CMD = re.compile(r"#\s*cmd:\s*(.+)")
_CONDA_VERSION = re.compile(r"#\s*conda version:\s*(.+)")
_SPECS = re.compile(r"#\s*(\w+)\s*specs:\s*(.+)?")
# conda's version_relation_re: a spec fragment that is only a version constraint
_VERSION_RELATION = re.compile(r"^(=|==|!=|<=|>=|<|>|~=)(?![=<>!~])(\S+)$")
#: conda's names for a dist without a channel, and for the channel it does not print
UNKNOWN_CHANNEL = "<unknown>"
DEFAULTS_CHANNEL = "defaults"


class HistoryError(OphisError):
    """conda-meta/history cannot be understood (conda's ``CondaHistoryError``)."""

    exception_name = "CondaHistoryError"


class HistoryNotFoundError(OphisError):
    """The environment has no ``conda-meta/history`` (conda's ``PathNotFoundError``)."""

    exception_name = "PathNotFoundError"


class CondaRevisionError(OphisError):
    """A revision number that the history does not have (conda's ``install --revision N``
    reports it as CondaIndexError)."""

    exception_name = "CondaIndexError"


@dataclass
class Revision:
    """One ``==> date <==`` block of the history file."""

    number: int
    timestamp: str
    cmd: str | None = None
    conda_version: str | None = None
    link: list[str] = field(default_factory=list)
    unlink: list[str] = field(default_factory=list)
    update_specs: list[str] = field(default_factory=list)
    remove_specs: list[str] = field(default_factory=list)
    neutered_specs: list[str] = field(default_factory=list)
    #: dists listed without ``+``/``-`` (the oldest format: the whole state, not a diff)
    listed: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def is_diff(self) -> bool:
        return bool(self.link or self.unlink)


def history_path(prefix: str | os.PathLike[str]) -> Path:
    return Path(prefix) / HISTORY


def read_history(prefix: str | os.PathLike[str]) -> list[Revision]:
    """Every revision in ``conda-meta/history``, oldest (revision 0) first."""
    path = history_path(prefix)
    if not path.is_file():
        return []
    return parse_history(path.read_text(encoding="utf-8", errors="replace"))


def parse_history(text: str) -> list[Revision]:
    revisions: list[Revision] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        header = _HEADER.match(line)
        if header:
            revisions.append(Revision(number=len(revisions), timestamp=header.group(1)))
        elif not revisions:
            continue  # conda ignores anything before the first header
        elif line.startswith("#"):
            _read_comment(revisions[-1], line)
        elif line.startswith("+"):
            revisions[-1].link.append(line[1:])
        elif line.startswith("-"):
            revisions[-1].unlink.append(line[1:])
        else:
            revisions[-1].listed.append(line)
    return revisions


def _read_comment(revision: Revision, line: str) -> None:
    revision.comments.append(line)
    if match := _CMD.match(line):
        revision.cmd = match.group(1)
    if match := _CONDA_VERSION.match(line):
        revision.conda_version = match.group(1)
    if match := _SPECS.match(line):
        action, text = match.group(1), match.group(2) or ""
        specs = [s for s in _parse_specs(text) if s and not s.endswith("@")]
        if action in ("update", "install", "create"):
            revision.update_specs = specs
        elif action in ("remove", "uninstall"):
            revision.remove_specs = specs
        elif action == "neutered":
            revision.neutered_specs = specs


def _parse_specs(text: str) -> list[str]:
    if text.startswith("["):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return []
        return [str(s) for s in value] if isinstance(value, list | tuple) else []
    if "[" in text:
        return []  # conda leaves these unparsed too
    specs: list[str] = []
    for part in text.split(","):
        # conda < 4.5: "python>=3.5.1,jupyter >=1.0.0,<2.0" — a bare constraint continues
        if _VERSION_RELATION.match(part) and specs:
            specs[-1] = f"{specs[-1]},{part}"
        else:
            specs.append(part)
    return specs


def requested_specs(
    prefix: str | os.PathLike[str], *, installed: Iterable[str] | None = None
) -> dict[str, str]:
    """conda's ``History.get_requested_specs_map``: package name → the spec the user asked for.

    For each revision with a ``# cmd:`` line, in order: remove specs delete, update specs
    override, neutered specs override again. Names no longer installed are dropped (conda
    reads ``conda-meta`` for this; pass ``installed`` to give the names yourself).
    """
    spec_map: dict[str, str] = {}
    for revision in read_history(prefix):
        if revision.cmd is None:
            continue  # conda only counts blocks that have a cmd line
        for spec in revision.remove_specs:
            spec_map.pop(spec_name(spec), None)
        for spec in (*revision.update_specs, *revision.neutered_specs):
            spec_map[spec_name(spec)] = spec
    if installed is None:
        from ophis.manager.prefix import PrefixData

        installed = PrefixData(prefix).records()
    names = set(installed)
    return {name: spec for name, spec in spec_map.items() if name in names}


def construct_states(revisions: Sequence[Revision]) -> list[set[str]]:
    """The set of dists installed after each revision (conda's ``construct_states``)."""
    states: list[set[str]] = []
    current: set[str] = set()
    for revision in revisions:
        if not revision.is_diff:
            current = set(revision.listed)
        else:
            if revision.listed:
                raise HistoryError(
                    f"Did not expect: {revision.listed[0]}",
                    f"Fix or remove the line in {HISTORY} (revision {revision.number}).",
                )
            current.difference_update(revision.unlink)
            current.update(revision.link)
        states.append(set(current))
    return states


def state_at(prefix: str | os.PathLike[str], revision_number: int) -> set[str]:
    """The dists installed at ``revision_number`` (for ``install --revision N``)."""
    states = construct_states(read_history(prefix))
    if not 0 <= revision_number < len(states):
        raise CondaRevisionError(
            f"no such revision: {revision_number}",
            "List the revisions with 'ophis list --revisions'."
            if states
            else f"{history_path(prefix)} has no revisions.",
        )
    return states[revision_number]


def revision_log(prefix: str | os.PathLike[str]) -> list[Revision]:
    """The revisions ``list --revisions`` shows; conda's PathNotFoundError without history."""
    path = history_path(prefix)
    if not path.is_file():
        raise HistoryNotFoundError(
            f"{path}", "The environment has no history: it was not made by conda or Ophis."
        )
    return read_history(prefix)


def dist_quad(dist: str) -> tuple[str, str, str, str]:
    """conda's ``dist_str_to_quad``: ``channel/subdir::name-version-build`` → (name, version,
    build, channel); a dist without ``::`` has the channel ``<unknown>``."""
    for extension in (".conda", ".tar.bz2"):
        dist = dist.removesuffix(extension)
    channel = UNKNOWN_CHANNEL
    if "::" in dist:
        channel, dist = dist.split("::", 1)
        head, _, subdir = channel.rpartition("/")
        if head and subdir in KNOWN_SUBDIRS:
            channel = head
    name, version, build = ([p.strip() for p in dist.rsplit("-", 2)] + ["", ""])[:3]
    return name, version, build, channel


def _changes(revision: Revision) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(removed, added): lower-cased name → (version, build, channel), as conda keys them."""
    removed = {q[0].lower(): q[1:] for q in map(dist_quad, revision.unlink)}
    added = {q[0].lower(): q[1:] for q in map(dist_quad, revision.link)}
    return removed, added


def pretty_lines(revision: Revision) -> list[str]:
    """conda's ``pretty_content``: the lines ``conda list --revisions`` prints for a revision."""
    if not revision.is_diff:
        return sorted(set(revision.listed))

    def shown(quad: tuple[str, ...]) -> str:
        version, _build, channel = quad
        return version if channel == DEFAULTS_CHANNEL else f"{version} ({channel})"

    removed, added = _changes(revision)
    changed = added.keys() & removed.keys()
    lines = [f" {n}  {{{shown(removed[n])} -> {shown(added[n])}}}" for n in sorted(changed)]
    lines += [f"-{n}-{shown(removed[n])}" for n in sorted(removed.keys() - changed)]
    lines += [f"+{n}-{shown(added[n])}" for n in sorted(added.keys() - changed)]
    return lines


def revision_event(revision: Revision) -> dict[str, Any]:
    """conda's ``History.object_log`` entry for one revision (``list --revisions --json``)."""
    event: dict[str, Any] = {
        "date": revision.timestamp,
        "rev": revision.number,
        "install": [],
        "remove": [],
        "upgrade": [],
        "downgrade": [],
    }
    if not revision.is_diff:
        event["install"] = sorted(set(revision.listed))
        return event
    removed, added = _changes(revision)
    changed = added.keys() & removed.keys()
    for name in sorted(changed):
        kind = "upgrade" if _newer(added[name], removed[name]) else "downgrade"
        event[kind].append(
            {"old": "-".join((name, *removed[name])), "new": "-".join((name, *added[name]))}
        )
    event["remove"] = ["-".join((n, *removed[n])) for n in sorted(removed.keys() - changed)]
    event["install"] = ["-".join((n, *added[n])) for n in sorted(added.keys() - changed)]
    return event


def _newer(new: tuple[str, ...], old: tuple[str, ...]) -> bool:
    """conda compares the (version, build, channel) strings, so 10.0 is "older" than 9.0;
    here versions are compared as versions, the strings only break a tie."""
    try:
        new_version, old_version = rattler.Version(new[0]), rattler.Version(old[0])
    except Exception:  # not a version rattler can read: conda's string order
        return new > old
    if new_version != old_version:
        return new_version > old_version
    return new[1:] > old[1:]


def record_spec(record: rattler.PackageRecord, ctx: ChannelContext | None = None) -> str:
    """conda's ``str(record.to_match_spec())``: ``<channel>/<subdir>::<n>==<v>=<b>``, the spec
    conda writes to history for a package installed from an explicit URL."""
    location, _, _ = dist_str(record, ctx).rpartition("::")
    return f"{location}::{record.name.source}=={record.version}={record.build}"


def dist_str(record: rattler.PackageRecord, ctx: ChannelContext | None = None) -> str:
    """conda's ``PackageRecord.dist_str()``: ``<canonical channel>/<subdir>::<n>-<v>-<b>``."""
    channel = str(getattr(record, "channel", "") or "")
    if not channel:
        url = str(getattr(record, "url", "") or "")
        channel = url.rsplit("/", 2)[0] if url.count("/") >= 2 else ""
    canonical = ""
    if channel:
        try:
            canonical = parse_channel(channel, ctx or ChannelContext()).canonical_name
        except OphisError:
            canonical = channel.rstrip("/")
    subdir = record.subdir or ""
    name = f"{record.name.source}-{record.version}-{record.build}"
    return f"{canonical}{'/' + subdir if subdir else ''}::{name}"


def format_revision(
    *,
    cmd: Sequence[str],
    link: Iterable[str],
    unlink: Iterable[str],
    update_specs: Sequence[str] = (),
    remove_specs: Sequence[str] = (),
    neutered_specs: Sequence[str] = (),
    timestamp: float | None = None,
    conda_version: str = CONDA_COMPAT_VERSION,
) -> str:
    """The text of one revision block, as conda's ``UpdateHistoryAction`` writes it."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
    lines = [
        f"==> {when} <==",
        f"# cmd: {' '.join(cmd)}",
        f"# conda version: {'.'.join(conda_version.split('.')[:3])}",
        f"# ophis version: {OPHIS_VERSION}",
    ]
    lines += [f"-{dist}" for dist in sorted(set(unlink))]
    lines += [f"+{dist}" for dist in sorted(set(link))]
    for action, specs in (
        ("remove", remove_specs),
        ("update", update_specs),
        ("neutered", neutered_specs),
    ):
        if specs:
            lines.append(f"# {action} specs: {[str(s) for s in specs]!r}")
    return "\n".join(lines) + "\n"


def write_revision(
    prefix: str | os.PathLike[str],
    *,
    cmd: Sequence[str],
    link: Iterable[rattler.PackageRecord | str],
    unlink: Iterable[rattler.PackageRecord | str],
    update_specs: Sequence[str] = (),
    remove_specs: Sequence[str] = (),
    neutered_specs: Sequence[str] = (),
    ctx: ChannelContext | None = None,
    timestamp: float | None = None,
) -> Revision:
    """Append one revision to ``conda-meta/history``, atomically (whole file to a temporary
    file in ``conda-meta``, then renamed over the old one). Returns the revision written."""
    path = history_path(prefix)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_bytes() if path.is_file() else b""
    created = path.with_name(CREATED_AT)
    if not old.strip() and not created.exists():  # a new environment (rattler may have
        # made an empty history): conda's creation time, which env list reports
        write_atomic(created, repr(time.time()).encode())
    if old and not old.endswith(b"\n"):
        old += b"\n"
    block = format_revision(
        cmd=cmd,
        link=[d if isinstance(d, str) else dist_str(d, ctx) for d in link],
        unlink=[d if isinstance(d, str) else dist_str(d, ctx) for d in unlink],
        update_specs=update_specs,
        remove_specs=remove_specs,
        neutered_specs=neutered_specs,
        timestamp=timestamp,
    )
    # conda writes the command line as typed; tokens and passwords in it are not kept
    block = redact(block)
    write_atomic(path, old + block.encode("utf-8"), durable=True)
    number = len(parse_history(old.decode("utf-8", errors="replace")))
    revision = parse_history(block)[0]
    revision.number = number
    return revision
