"""Executing a transaction plan on a real prefix: conda's ``UnlinkLinkTransaction``.

First :func:`prepare` puts every package to link into the package cache
(:mod:`ophis.manager.download`: parallel, resumable, verified downloads with byte progress,
safe extraction in the layout rattler reuses) without touching the prefix, and returns the
packages' ``info/prelink_messages/*``, which conda shows and asks about before linking.
Then ``rattler.install`` does the heavy part — unlinking, linking from the cache,
prefix-placeholder replacement, noarch python and entry points — and this module adds what
conda does and rattler does not:

* a **journal** (``conda-meta/.ophis-transaction.journal``, written atomically before the
  prefix is touched, removed at the end) holding the previous and target record sets, so
  that :func:`recover` can put back the previous environment after a crash or ``kill -9``;
* **link scripts** in conda's order (``conda/core/link.py``): all ``pre-unlink`` scripts
  before anything is unlinked, each ``pre-link`` script (run from the extracted package,
  ``SOURCE_DIR`` set) right before its package is linked, ``post-link`` scripts in link order
  after everything is linked, with the environment activated (``activate.d`` sourced, the
  script sourced, as conda's ``wrap_subprocess_call`` does) and conda's variables
  ``PREFIX``, ``ROOT_PREFIX``, ``PKG_NAME``, ``PKG_VERSION``, ``PKG_BUILDNUM``; the script's
  ``$PREFIX/.messages.txt`` is collected and removed after each script. A failing
  ``pre-link``/``post-link`` script fails the transaction with :class:`LinkScriptError` in
  conda's words and the prefix is rolled back; a failing ``pre-unlink`` script is a warning;
* **clobbers** conda's way: a path shipped by several packages is reported with conda's
  ``ClobberWarning`` text and the package linked last wins on disk. rattler instead keeps
  the first package's file and moves the others' into ``<prefix>/__clobbers__/<pkg>/``,
  recording ``__clobbers__/...`` paths (with ``original_path``) in ``conda-meta``. That is
  undone here: the winner's file is moved into place, ``__clobbers__`` is removed and every
  record lists the real path again, as conda's records do;
* ``conda-meta/history`` (:mod:`ophis.manager.history`), written last;
* rattler writes ``CACHEDIR.TAG`` into the prefix root; conda does not, so it is removed
  (unless it was there before).

One difference from conda, on purpose: when a package that shared a path with a package
that stays is removed, conda deletes the file and leaves the other package broken; here the
remaining package's file is put back from its extracted package.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import indent
from typing import Any

import rattler
from rattler.networking import Client, MirrorMiddleware

from ophis.core.atomic_file import write_atomic
from ophis.core.channel import ChannelContext
from ophis.core.errors import LinkScriptError, OphisError, TransactionError
from ophis.core.platform import rattler_knows
from ophis.core.spec_name import spec_name
from ophis.manager.download import Progress, cache_stem, fill_cache
from ophis.manager.history import (
    dist_str,
    history_path,
    write_revision,
)
from ophis.manager.link_guard import check_plan_paths, contained
from ophis.manager.prefix import (
    CONDA_META,
    CorruptedEnvironmentError,
    PrefixData,
    prefix_record_from_json,
    read_prefix_record,
)
from ophis.manager.records import dist_name

#: not ``*.json``: rattler (and so pixi) reads every ``conda-meta/*.json``, hidden ones too,
#: as a package record and fails on anything else
JOURNAL = f"{CONDA_META}/.ophis-transaction.journal"
JOURNAL_VERSION = 1
CLOBBERS_DIR = "__clobbers__"
#: added to unreadable record files while rattler links (it fails on them); see recover()
SET_ASIDE = ".ophis-unreadable"
CACHEDIR_TAG = "CACHEDIR.TAG"
#: the placeholder conda-build writes into text and binary files (conda's PREFIX_PLACEHOLDER)
PREFIX_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"

Record = rattler.RepoDataRecord | rattler.PrefixRecord
#: rattler's link settings for conda's --copy
_COPY_ONLY = "allow-hard-links = false\nallow-symbolic-links = false\nallow-ref-links = false\n"


@dataclass(frozen=True)
class TransactionPlan:
    prefix: Path
    #: records to install, in link order
    link: tuple[rattler.RepoDataRecord, ...]
    #: installed records to remove
    unlink: tuple[rattler.PrefixRecord, ...]
    #: the whole environment afterwards (what ``rattler.install`` wants)
    final: tuple[Record, ...]
    update_specs: tuple[str, ...] = ()
    remove_specs: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    neutered_specs: tuple[str, ...] = ()
    #: conda's --copy (always_copy): every file copied, never hard- or soft-linked
    copy: bool = False
    #: the platform the packages are for (create --subdir); None: this machine's
    subdir: str | None = None
    #: conda's ssl_verify for the downloads (False with -k/--insecure)
    ssl_verify: bool | str = True


@dataclass
class TransactionReport:
    #: dist strings (``channel/subdir::name-version-build``) linked and unlinked
    linked: list[str] = field(default_factory=list)
    unlinked: list[str] = field(default_factory=list)
    #: the linked packages' ``info/prelink_messages/*``, as conda shows them before linking
    prelink_messages: list[str] = field(default_factory=list)
    #: the link scripts' ``.messages.txt``
    messages: list[str] = field(default_factory=list)
    #: conda's clobber warnings (the text after ``ClobberWarning:``)
    clobbered: list[str] = field(default_factory=list)
    #: other warnings (a failed pre-unlink script, a file that could not be restored)
    warnings: list[str] = field(default_factory=list)


class TransactionInProgressError(TransactionError):
    """Another process is changing the same environment."""


# --- execute -----------------------------------------------------------------------------


def execute(
    plan: TransactionPlan,
    *,
    pkgs_dirs: Sequence[Path],
    progress: Progress | None = None,
    execute_link_scripts: bool = True,
    channel_context: ChannelContext | None = None,
    root_prefix: Path | None = None,
    url_rewrites: Mapping[str, str] | None = None,
) -> TransactionReport:
    """Carry out ``plan`` on ``plan.prefix``; on any failure put the prefix back as it was.

    Calls :func:`prepare` first (nothing to do when the caller already did). Raises
    LinkScriptError when a pre-link or post-link script fails, TransactionError for any
    other failure (the prefix is rolled back in both cases; a failed download leaves it
    untouched), and TransactionInProgressError when another live process holds the
    prefix's journal.
    """
    prefix = Path(plan.prefix).absolute()
    cache_dir = _cache_dir(pkgs_dirs)
    journal = prefix / JOURNAL
    if journal.exists():
        _refuse_if_live(journal, prefix)
        raise TransactionError(
            f"An interrupted transaction was found in {prefix}.",
            "Run the command again: Ophis rolls the environment back first.",
        )
    report = TransactionReport()
    report.prelink_messages = prepare(
        plan, pkgs_dirs=pkgs_dirs, progress=progress, url_rewrites=url_rewrites
    )

    data = PrefixData(prefix)
    previous = list(data.records().values()) if data.is_environment() else []
    check_plan_paths(
        prefix, link=plan.link, unlink=plan.unlink, final=plan.final, cache_dir=cache_dir
    )
    had_tag = (prefix / CACHEDIR_TAG).exists()
    history_size = _history_size(prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / CONDA_META).mkdir(exist_ok=True)
    _write_journal(prefix, plan, previous, cache_dir, had_tag, history_size)

    env_root = Path(root_prefix) if root_prefix else prefix
    scripts = _ScriptRunner(prefix, env_root, cache_dir, report) if execute_link_scripts else None
    try:
        if scripts:
            for record in plan.unlink:
                scripts.pre_unlink(record)
        reporter = _Reporter(plan, scripts, progress)
        _rattler_install(
            prefix,
            list(plan.final),
            installed=previous,
            cache_dir=cache_dir,
            reinstall=_reinstalled(plan),
            reporter=reporter,
            url_rewrites=url_rewrites,
            unreadable=data.unreadable,
            copy=plan.copy,
            subdir=plan.subdir,
        )
        if reporter.failure is not None:
            raise reporter.failure
        _complete_records(prefix, plan, cache_dir)
        order = _link_order(previous, plan)
        report.clobbered += _settle_clobbers(prefix, order, new=plan.link, ctx=channel_context)
        report.warnings += _restore_shared_paths(prefix, removed=plan.unlink)
        _drop_cachedir_tag(prefix, had_tag)
        if scripts:
            for done, record in enumerate(plan.link, 1):
                scripts.post_link(record)
                if progress:
                    progress("post-link", done, len(plan.link))
        report.linked = [dist_str(r, channel_context) for r in plan.link]
        report.unlinked = [dist_str(r, channel_context) for r in plan.unlink]
        write_revision(
            prefix,
            cmd=list(plan.cmd),
            link=report.linked,
            unlink=report.unlinked,
            update_specs=plan.update_specs,
            remove_specs=plan.remove_specs,
            neutered_specs=plan.neutered_specs,
        )
    except BaseException as error:
        target = [json.loads(r.to_json()) for r in plan.final]
        rollback_error = _rollback(prefix, previous, cache_dir, had_tag, history_size, target)
        if isinstance(error, OphisError):
            if rollback_error:
                error.remedy = f"{error.remedy}\nRolling back also failed: {rollback_error}"
            raise
        if not isinstance(error, Exception):
            raise  # KeyboardInterrupt / SystemExit: rolled back, keep their meaning
        raise TransactionError(
            f"The transaction in {prefix} failed: {error}",
            "The environment was rolled back to its previous state."
            if not rollback_error
            else f"Rolling back also failed ({rollback_error}); run the command again to "
            "retry the rollback.",
        ) from error
    _remove_journal(prefix)
    return report


def prepare(
    plan: TransactionPlan,
    *,
    pkgs_dirs: Sequence[Path],
    progress: Progress | None = None,
    url_rewrites: Mapping[str, str] | None = None,
) -> list[str]:
    """Download, check and extract every package ``plan`` links into the package cache
    (``pkgs_dirs[0]``), touching nothing in the prefix; return the packages'
    ``info/prelink_messages/*``, which conda shows and asks about before it links.

    ``url_rewrites`` maps clean channel URL prefixes to the same with credentials: they are
    used for the requests only. ``progress`` gets ``("download", bytes done, bytes total)``
    and ``("extract", done, total)``. Raises TransactionError when a download fails or does
    not match its record, InvalidPackageError when an archive is unsafe to extract.
    """
    _check_plan(plan)
    cache_dir = _cache_dir(pkgs_dirs)
    fill_cache(
        plan.link,
        cache_dir,
        url_rewrites=url_rewrites,
        progress=progress,
        verify=plan.ssl_verify,
    )
    return _prelink_messages(plan.link, cache_dir)


def _cache_dir(pkgs_dirs: Sequence[Path]) -> Path:
    if not pkgs_dirs:
        raise TransactionError("no package cache directory was given", "Configure pkgs_dirs.")
    return Path(pkgs_dirs[0])


def conda_link_order(records: Iterable[Any]) -> list[Any]:
    """Records in conda's link order (``PrefixGraph``): a package after the packages it
    depends on; among packages that are ready at the same time, by name. A dependency
    cycle is broken at the name that sorts first. The records themselves are returned."""
    by_name = {r.name.normalized: r for r in records}
    needs: dict[str, set[str]] = {}
    for name, record in by_name.items():
        deps = {spec_name(d) for d in record.depends}
        needs[name] = {d for d in deps if d in by_name and d != name}
    ordered: list[Any] = []
    while needs:
        ready = sorted(n for n, deps in needs.items() if not deps) or [min(needs)]
        for name in ready:
            ordered.append(by_name[name])
            del needs[name]
        for deps in needs.values():
            deps.difference_update(ready)
    return ordered


def _check_plan(plan: TransactionPlan) -> None:
    final_names = {r.name.normalized for r in plan.final}
    missing = [r.name.normalized for r in plan.link if r.name.normalized not in final_names]
    if missing:
        raise TransactionError(
            f"the plan links {', '.join(missing)} but its final environment lacks them",
            "This is a bug in the caller that built the plan.",
        )


def _reinstalled(plan: TransactionPlan) -> set[str]:
    """Names unlinked and linked again as the very same package (a forced reinstall)."""
    unlinked = {dist_name(r): r.name.normalized for r in plan.unlink}
    return {unlinked[dist_name(r)] for r in plan.link if dist_name(r) in unlinked}


def _link_order(previous: Iterable[rattler.PrefixRecord], plan: TransactionPlan) -> list[str]:
    """Names in the order their files were laid down: packages kept first, then plan.link."""
    linked = [r.name.normalized for r in plan.link]
    unlinked = {r.name.normalized for r in plan.unlink}
    kept = [
        r.name.normalized
        for r in _toposort(list(previous))
        if r.name.normalized not in linked and r.name.normalized not in unlinked
    ]
    return kept + linked


def _toposort(records: list[rattler.PrefixRecord]) -> list[rattler.PrefixRecord]:
    if not records:
        return []
    try:
        return list(rattler.PackageRecord.sort_topologically(records))  # type: ignore[arg-type]
    except Exception:
        return sorted(records, key=lambda r: r.name.normalized)


async def _install_async(**kwargs: Any) -> None:
    await rattler.install(**kwargs)


def _rattler_install(
    prefix: Path,
    records: list[Record],
    *,
    installed: list[rattler.PrefixRecord],
    cache_dir: Path,
    reinstall: set[str] | None = None,
    reporter: Any = None,
    url_rewrites: Mapping[str, str] | None = None,
    unreadable: Sequence[Path] = (),
    copy: bool = False,
    subdir: str | None = None,
) -> None:
    kwargs: dict[str, Any] = {
        "records": records,
        "target_prefix": prefix,
        "cache_dir": cache_dir,
        "installed_packages": installed,
        "execute_link_scripts": False,
        "show_progress": False,
    }
    if reinstall:
        kwargs["reinstall_packages"] = reinstall
    if copy:
        kwargs["config"] = rattler.Config.from_toml(_COPY_ONLY)
    if subdir and rattler_knows(subdir):  # conda's test platforms link as this machine's
        kwargs["platform"] = rattler.Subdir(subdir)
    if reporter is not None:
        kwargs["reporter"] = reporter
    if url_rewrites:
        # rattler downloads only what prepare() could not put in the cache (an entry its own
        # validation rejects): credentials go into those request URLs only, through its
        # mirror middleware; records and conda-meta keep the clean URLs, as conda's do.
        mirrors = {source: [target] for source, target in url_rewrites.items()}
        kwargs["client"] = Client([MirrorMiddleware(mirrors)])
    with _set_aside(unreadable):
        asyncio.run(_install_async(**kwargs))


@contextlib.contextmanager
def _set_aside(record_files: Sequence[Path]) -> Iterator[None]:
    """Rename record files PrefixData skipped (with a warning) out of rattler's way while it
    links: it reads every ``conda-meta/*.json`` and fails on one that is not a record. They
    are renamed back afterwards, or by :func:`recover` after a crash."""
    moved: list[Path] = []
    try:
        for path in record_files:
            os.replace(path, path.with_name(path.name + SET_ASIDE))
            moved.append(path)
        yield
    finally:
        for path in moved:
            os.replace(path.with_name(path.name + SET_ASIDE), path)


class _Reporter:
    """rattler's ``InstallerReporter``: progress, and each pre-link script before its link."""

    def __init__(
        self, plan: TransactionPlan, scripts: _ScriptRunner | None, progress: Progress | None
    ) -> None:
        self._by_name = {r.name.normalized: r for r in plan.link}
        self._scripts = scripts
        self._progress = progress
        self._total = 0
        self._done = 0
        self._cached = 0
        self.failure: BaseException | None = None

    def _report(self, stage: str, done: int) -> None:
        if self._progress is not None:
            with contextlib.suppress(Exception):
                self._progress(stage, done, self._total)

    def on_transaction_start(self, total_operations: int) -> None:
        self._total = total_operations

    def on_populate_cache_complete(self, index: int) -> None:
        self._cached += 1
        self._report("fetch", self._cached)

    def on_link_start(self, operation: int, package_name: str) -> int:
        record = self._by_name.get(package_name)
        if self._scripts is not None and record is not None and self.failure is None:
            try:
                self._scripts.pre_link(record)
            except BaseException as error:  # reported after rattler returns
                self.failure = error
        return operation

    def on_transaction_operation_complete(self, operation: int) -> None:
        self._done += 1
        self._report("link", self._done)

    def __getattr__(self, name: str) -> Callable[..., int]:
        if name.startswith("on_"):
            return lambda *args: 0
        raise AttributeError(name)


# --- link scripts --------------------------------------------------------------------------


class _ScriptRunner:
    def __init__(self, prefix: Path, root_prefix: Path, cache_dir: Path, report: Any) -> None:
        self.prefix = prefix
        self.root_prefix = root_prefix
        self.cache_dir = cache_dir
        self.report = report

    def pre_unlink(self, record: rattler.PrefixRecord) -> None:
        script = self.prefix / "bin" / f".{record.name.source}-pre-unlink.sh"
        if script.is_file() and not self._run(record, script, "pre-unlink", self.prefix):
            self.report.warnings.append(
                f"pre-unlink script failed for package {dist_str(record)}\n"
                "consider notifying the package maintainer"
            )

    def pre_link(self, record: Record) -> None:
        source = _extracted_dir(record, self.cache_dir)
        script = source / "bin" / f".{record.name.source}-pre-link.sh"
        if script.is_file():
            self._run(record, script, "pre-link", source, source_dir=source)

    def post_link(self, record: Record) -> None:
        script = self.prefix / "bin" / f".{record.name.source}-post-link.sh"
        if script.is_file():
            self._run(record, script, "post-link", self.prefix, activate=True)

    def _run(
        self,
        record: Record,
        script: Path,
        action: str,
        messages_dir: Path,
        *,
        source_dir: Path | None = None,
        activate: bool = False,
    ) -> bool:
        env = dict(os.environ)
        env.update(
            ROOT_PREFIX=str(self.root_prefix),
            PREFIX=str(self.prefix),
            PKG_NAME=record.name.source,
            PKG_VERSION=str(record.version),
            PKG_BUILDNUM=str(record.build_number),
            PATH=os.pathsep.join((str(script.parent), env.get("PATH", ""))),
        )
        if source_dir is not None:
            env["SOURCE_DIR"] = str(source_dir)
        shell = shutil.which("bash") or "/bin/sh"
        if activate:
            # conda's wrap_subprocess_call: activate the environment, then source the script
            env.update(
                CONDA_PREFIX=str(self.prefix),
                CONDA_DEFAULT_ENV=str(self.prefix),
                PATH=os.pathsep.join((str(self.prefix / "bin"), env["PATH"])),
            )
            wrapper = (
                'for _ophis_f in "$PREFIX"/etc/conda/activate.d/*.sh; do '
                '[ -f "$_ophis_f" ] && . "$_ophis_f"; done; unset _ophis_f; . "$0"'
            )
            command = [shell, "-c", wrapper, str(script)]
        else:
            command = [shell, "-x", str(script)]
        result = subprocess.run(
            command,
            env=env,
            cwd=script.parent,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        message = _take_messages(messages_dir)
        if message:
            self.report.messages.append(message)
        if result.returncode == 0:
            return True
        if action in ("pre-link", "post-link"):
            raise LinkScriptError(
                f"{action} script failed for package {dist_str(record)}\n"
                f"location of failed script: {script}\n"
                "==> script messages <==\n"
                f"{message or '<None>'}\n"
                "==> script output <==\n"
                f"stdout: {result.stdout}\n"
                f"stderr: {result.stderr}\n"
                f"return code: {result.returncode}",
                "The environment was rolled back to its previous state. Report the failure "
                f"to the maintainers of {record.name.source}.",
            )
        return False


def _take_messages(directory: Path) -> str:
    """conda's ``messages()``: read and delete ``<dir>/.messages.txt``."""
    path = directory / ".messages.txt"
    try:
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def _extracted_dir(record: Record, cache_dir: Path) -> Path:
    extracted = getattr(record, "extracted_package_dir", None)
    if extracted and Path(extracted).is_dir():
        return Path(extracted)
    return cache_dir / cache_stem(record)


def _prelink_messages(records: Iterable[Record], cache_dir: Path) -> list[str]:
    """``info/prelink_messages/**`` as conda prints them ("File NAME:" and indented text)."""
    found: list[str] = []
    for record in records:
        folder = _extracted_dir(record, cache_dir) / "info" / "prelink_messages"
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.glob("**/*") if p.is_file()):
            text = path.read_text(encoding="utf-8", errors="replace")
            found.append(f"File {path.name}:\n\n{indent(text, '  ')}")
    return found


# --- clobbers ------------------------------------------------------------------------------


def _complete_records(prefix: Path, plan: TransactionPlan, cache_dir: Path) -> None:
    """conda's ``conda-meta/<dist>.json`` fields that rattler does not write: the channel
    with its subdir, the archive's path in the cache, ``constrains``, the package type and
    the spec the user asked for (``requested_spec``), which conda and mamba read."""
    requested = {spec_name(spec): spec for spec in plan.update_specs}
    prefix_data = PrefixData(prefix)
    for record in plan.link:
        path = prefix_data.record_file(record)
        data = json.loads(path.read_text(encoding="utf-8"))
        url = str(record.url)
        asked = requested.get(record.name.normalized)
        data.update(
            channel=url.rsplit("/", 1)[0],
            constrains=[str(c) for c in record.constrains],
            package_tarball_full_path=str(cache_dir / record.file_name),
            requested_spec=asked or "",
            requested_specs=[asked] if asked else data.get("requested_specs") or [],
        )
        noarch = str(record.noarch) if record.noarch else ""
        if noarch in ("python", "generic"):
            data["package_type"] = f"noarch_{noarch}"
        write_atomic(path, json.dumps(data, indent=2).encode("utf-8"))


def _record_json(prefix: Path, record: rattler.PrefixRecord) -> tuple[Path, dict[str, Any]]:
    path = PrefixData(prefix).record_file(record)
    return path, json.loads(path.read_text(encoding="utf-8"))


def _settle_clobbers(
    prefix: Path,
    order: Sequence[str],
    *,
    new: Iterable[Record] = (),
    ctx: ChannelContext | None = None,
) -> list[str]:
    """Make paths shared by several installed packages conda-like; return conda's warnings
    for the shared paths that involve a package of ``new``."""
    records = PrefixData(prefix).records()
    rank = {name: i for i, name in enumerate(order)}
    files: dict[str, tuple[Path, dict[str, Any]]] = {}
    claims: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, record in records.items():
        files[name] = _record_json(prefix, record)
        for entry in files[name][1].get("paths_data", {}).get("paths", []):
            original = entry.get("original_path") or entry["_path"]
            claims.setdefault(original, []).append((name, entry))
    new_names = {r.name.normalized for r in new}
    warnings: list[str] = []
    changed: set[str] = set()
    for path, owners in sorted(claims.items()):
        moved = [o for o in owners if o[1]["_path"] != path]
        if len(owners) < 2 and not moved:
            continue
        if not all(contained(prefix, p) for p in (path, *(o[1]["_path"] for o in owners))):
            continue  # never move or delete anything outside the prefix
        owners.sort(key=lambda o: (rank.get(o[0], -1), o[0]))
        entry = owners[-1][1]  # the package linked last wins, as in conda
        target = prefix / path
        if entry["_path"] != path:
            source = prefix / entry["_path"]
            if os.path.lexists(source):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
        for name, owned in owners:
            if owned["_path"] != path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(prefix / owned["_path"])
                owned["_path"] = path
                changed.add(name)
            if owned.pop("original_path", None) is not None:
                changed.add(name)
        if len(owners) > 1 and new_names & {o[0] for o in owners}:
            dists = ", ".join(dist_str(records[o[0]], ctx) for o in owners)
            warnings.append(
                "This transaction has incompatible packages due to a shared path.\n"
                f"  packages: {dists}\n"
                f"  path: '{path}'"
            )
    for name in sorted(changed):
        record_file, data = files[name]
        data["files"] = [e["_path"] for e in data.get("paths_data", {}).get("paths", [])]
        write_atomic(record_file, (json.dumps(data, indent=2) + "\n").encode("utf-8"), durable=True)
    _prune_empty_dirs(prefix / CLOBBERS_DIR)
    return warnings


def _prune_empty_dirs(top: Path) -> None:
    if not top.is_dir() or top.is_symlink():
        return
    for folder, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _restore_shared_paths(prefix: Path, *, removed: Iterable[rattler.PrefixRecord]) -> list[str]:
    """Put back files of remaining packages that were deleted with a removed package."""
    removed_paths = {str(p) for r in removed for p in r.files}
    if not removed_paths:
        return []
    warnings: list[str] = []
    for record in PrefixData(prefix).records().values():
        for entry in record.paths_data.paths:
            relative = str(entry.relative_path)
            target = prefix / relative
            if relative not in removed_paths or os.path.lexists(target):
                continue
            if not contained(prefix, relative):
                continue
            source = Path(record.extracted_package_dir or "") / relative
            if record.extracted_package_dir and source.is_file() and not entry.prefix_placeholder:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
            else:
                warnings.append(
                    f"'{relative}' of {dist_str(record)} was removed with a package that "
                    "shared it; reinstall the package to restore it"
                )
    return warnings


def _drop_cachedir_tag(prefix: Path, had_tag: bool) -> None:
    if not had_tag:
        with contextlib.suppress(FileNotFoundError):
            (prefix / CACHEDIR_TAG).unlink()


# --- journal and recovery ------------------------------------------------------------------


def _history_size(prefix: Path) -> int:
    path = history_path(prefix)
    return path.stat().st_size if path.is_file() else -1


def _write_journal(
    prefix: Path,
    plan: TransactionPlan,
    previous: Sequence[rattler.PrefixRecord],
    cache_dir: Path,
    had_tag: bool,
    history_size: int,
) -> None:
    journal = {
        "version": JOURNAL_VERSION,
        "pid": os.getpid(),
        "started": time.time(),
        "prefix": str(prefix),
        "cmd": list(plan.cmd),
        "pkgs_dir": str(cache_dir),
        "cachedir_tag_existed": had_tag,
        "history_size": history_size,
        "previous": [json.loads(r.to_json()) for r in previous],
        "target": [json.loads(r.to_json()) for r in plan.final],
    }
    write_atomic(prefix / JOURNAL, json.dumps(journal, indent=1).encode("utf-8"), durable=True)


def _remove_journal(prefix: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (prefix / JOURNAL).unlink()


def _refuse_if_live(journal: Path, prefix: Path) -> None:
    try:
        pid = int(json.loads(journal.read_text(encoding="utf-8")).get("pid", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return
    if pid and pid != os.getpid() and _process_alive(pid):
        raise TransactionInProgressError(
            f"Another process (pid {pid}) is changing the environment {prefix}.",
            "Wait for it to finish, then run the command again.",
        )


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _rollback(
    prefix: Path,
    previous: list[rattler.PrefixRecord],
    cache_dir: Path,
    had_tag: bool,
    history_size: int,
    target: Sequence[dict[str, Any]] = (),
) -> str:
    """Put the prefix back to ``previous``; return "" or what went wrong."""
    try:
        current = _readable_records(prefix)
        _remove_orphans(prefix, previous, current, target, cache_dir)
        now = {dist_name(r) for r in current}
        kept = {dist_name(r) for r in previous}
        check_plan_paths(
            prefix,
            link=[r for r in previous if dist_name(r) not in now],
            unlink=[r for r in current if dist_name(r) not in kept],
            final=previous,
            cache_dir=cache_dir,
        )
        _rattler_install(prefix, list(previous), installed=current, cache_dir=cache_dir)
        order = [r.name.normalized for r in _toposort(previous)]
        _settle_clobbers(prefix, order)
        _restore_shared_paths(prefix, removed=[r for r in current if dist_name(r) not in kept])
        _drop_cachedir_tag(prefix, had_tag)
        _truncate_history(prefix, history_size)
        if not previous and not any((prefix / CONDA_META).glob("*.json")):
            # the transaction created the environment: leave no half environment behind
            _remove_journal(prefix)
            _remove_if_empty_env(prefix)
        else:
            _remove_journal(prefix)
    except Exception as error:  # the journal stays, so a later recover() retries
        return str(error) or type(error).__name__
    return ""


def _readable_records(prefix: Path) -> list[rattler.PrefixRecord]:
    """Installed records, dropping the record files an interrupted write left corrupt."""
    found: list[rattler.PrefixRecord] = []
    meta = prefix / CONDA_META
    if not meta.is_dir():
        return found
    for path in sorted(meta.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            found.append(read_prefix_record(path, prefix))
        except CorruptedEnvironmentError:
            path.unlink()
    return found


def _remove_orphans(
    prefix: Path,
    previous: Sequence[rattler.PrefixRecord],
    current: Sequence[rattler.PrefixRecord],
    target: Sequence[dict[str, Any]],
    cache_dir: Path,
) -> None:
    """Delete files of target packages that were being linked when the process died: they
    have no conda-meta record yet, so rattler does not know to remove them."""
    known = {dist_name(r) for r in (*previous, *current)}
    owned = {str(p) for r in (*previous, *current) for p in r.files}
    for data in target:
        stem = f"{data.get('name')}-{data.get('version')}-{data.get('build')}"
        if stem in known:
            continue
        paths_json = cache_dir / stem / "info" / "paths.json"
        try:
            entries = json.loads(paths_json.read_text(encoding="utf-8")).get("paths", [])
        except (OSError, ValueError):
            continue
        for entry in entries:
            relative = entry.get("_path", "")
            if relative and relative not in owned and contained(prefix, relative):
                with contextlib.suppress(OSError):
                    os.unlink(prefix / relative)
        with contextlib.suppress(OSError):
            shutil.rmtree(prefix / CLOBBERS_DIR / str(data.get("name")))


def _truncate_history(prefix: Path, history_size: int) -> None:
    path = history_path(prefix)
    if not path.is_file():
        return
    if history_size < 0:
        if path.stat().st_size == 0 or not path.read_bytes().strip():
            return
        write_atomic(path, b"", durable=True)
        return
    data = path.read_bytes()
    if len(data) > history_size:
        write_atomic(path, data[:history_size], durable=True)


def _remove_if_empty_env(prefix: Path) -> None:
    meta = prefix / CONDA_META
    leftovers = [p for p in meta.iterdir() if p.name != "history"] if meta.is_dir() else []
    if leftovers:
        return
    history = history_path(prefix)
    if history.is_file() and history.read_bytes().strip():
        return
    shutil.rmtree(meta, ignore_errors=True)
    _prune_empty_dirs(prefix)


def recover(prefix: Path, *, pkgs_dirs: Sequence[Path] | None = None) -> bool:
    """Undo a transaction that was interrupted (crash, ``kill -9``, power loss).

    Call it before every command that reads or changes ``prefix``. When the journal
    ``conda-meta/.ophis-transaction.journal`` is found, the environment is put back to the
    record set it had before that transaction (files and ``conda-meta``; ``history`` is cut
    back to its previous length) and True is returned, so the caller can say so; False when
    there was nothing to do. Raises TransactionInProgressError when the journal belongs to a
    process that is still running, and TransactionError when the rollback fails (the journal
    is kept, so the next call tries again).
    """
    prefix = Path(prefix).absolute()
    journal_path = prefix / JOURNAL
    for stale in (prefix / CONDA_META).glob(".ophis-transaction.journal.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()  # a journal write that never completed: nothing was touched
    for aside in (prefix / CONDA_META).glob(f"*.json{SET_ASIDE}"):
        with contextlib.suppress(OSError):
            os.replace(aside, aside.with_name(aside.name.removesuffix(SET_ASIDE)))
    if not journal_path.is_file():
        return False
    _refuse_if_live(journal_path, prefix)
    try:
        journal = json.loads(journal_path.read_text(encoding="utf-8"))
        previous = [prefix_record_from_json(item) for item in journal.get("previous", [])]
    except Exception as error:
        raise TransactionError(
            f"The transaction journal {journal_path} cannot be read: {error}",
            "Remove the file and check the environment with 'ophis list'.",
        ) from None
    cache = Path(journal.get("pkgs_dir") or (pkgs_dirs[0] if pkgs_dirs else prefix / "pkgs"))
    if pkgs_dirs and not Path(journal.get("pkgs_dir", "")).is_dir():
        cache = Path(pkgs_dirs[0])
    problem = _rollback(
        prefix,
        previous,
        cache,
        bool(journal.get("cachedir_tag_existed")),
        int(journal.get("history_size", -1)),
        target=journal.get("target", []),
    )
    if problem:
        raise TransactionError(
            f"Rolling back the interrupted transaction in {prefix} failed: {problem}",
            "Make sure the packages of the previous environment are in the package cache or "
            "reachable, then run the command again.",
        )
    return True
