"""conda classic's ranking rules that rattler's solver lacks, laid on a solve-only copy.

rattler ranks a package's candidates by track_features (a record tracking a feature comes
last), version, build number and timestamp. conda classic (``conda/resolve.py``) ranks them
otherwise in two places, and this module rewrites the records it hands to rattler so that
rattler's ranking gives conda's answer. The rewritten values never leave the solve: the
records rattler returns get their own values back.

* **Legacy features.** A record with ``features: mkl`` needs a package that *tracks* mkl
  (``track_features: mkl``: ``mkl``, ``accelerate``, ``nomkl`` for ``nomkl``). conda
  minimises the features tracked, then, for each feature a tracker in the solution
  activates, prefers the featured builds of every package that has some. Here a solve first
  ranks the featured records of an inactive feature as trackers (last); the features the
  solution then tracks are active, and a second solve ranks the records *without* an active
  feature last where the package has a build with it, and does not hold such a build when
  it is installed (installing ``nomkl`` switches numpy to its nomkl build). The second
  answer is kept when it still tracks those features. A spec ``numpy[features=mkl]``
  (conda's exact match on the features set) keeps only the numpy records with exactly those
  features, and activates them; so does conda's ``track_features`` setting.
* **Channel ties without channel priority.** With ``channel_priority: disabled`` conda still
  ranks equal versions by channel priority before build number (``Resolve.version_key``:
  version, channel, build number); rattler goes from version to build number. Here each
  channel's build numbers are raised by a step per channel above it, which makes rattler's
  order conda's. Not done when a spec names a build number.

The rewritten records reach rattler through a ``RepoDataSource`` per channel (rattler's
custom sources), which costs a round trip to Python per package name; it is used only when
a rule applies: a channel whose repodata has ``features``, a features spec, or several
channels without priority. A request it cannot solve is solved again on the repodata itself
for rattler's usual explanation (``ophis.manager.solve``).
"""

from __future__ import annotations

import asyncio
import mmap
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import rattler
from rattler.exceptions import SolverError

from ophis.core.atomic_file import file_version

__all__ = ["Ranking", "has_legacy_features", "ranked_solve"]

#: a build-number step per channel above: far beyond any real build number
_CHANNEL_STEP = 10**9
#: the track_feature that ranks a record below its package's builds with an active feature
_MISSING_ACTIVE_FEATURE = "_ophis_missing_active_feature"
_FEATURES_KEY = b'"features"'
_SCAN_CACHE: dict[str, tuple[tuple[int, ...], bool]] = {}


def _feature_set(value: str | None) -> frozenset[str]:
    return frozenset((value or "").replace(",", " ").split())


def has_legacy_features(path: str | os.PathLike[str]) -> bool:
    """Whether a repodata file has a record with a ``features`` key (a byte scan,
    remembered while the file is unchanged)."""
    stamp = file_version(path)
    cached = _SCAN_CACHE.get(os.fspath(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    found = False
    if os.path.getsize(path):
        with (
            open(path, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
        ):
            found = data.find(_FEATURES_KEY) >= 0
    _SCAN_CACHE[os.fspath(path)] = (stamp, found)
    return found


@dataclass(frozen=True)
class Ranking:
    """Which of conda's rules apply to one solve."""

    #: channel base URLs, highest priority first
    channels: tuple[str, ...]
    #: raise build numbers per channel (conda's tie-break with priority disabled)
    channel_ties: bool = False
    #: features switched on before the solve (conda's ``track_features`` setting)
    features: frozenset[str] = frozenset()
    #: package name → the exact features set a requested spec demands
    feature_specs: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: whether some channel has records with legacy features
    legacy_features: bool = False

    @property
    def applies(self) -> bool:
        return self.channel_ties or self.legacy_features or bool(self.feature_specs)


def _key(record: rattler.RepoDataRecord) -> str:
    return str(record.url)


class _Catalog:
    """Every channel's records by name, rewritten for one set of active features."""

    def __init__(
        self,
        sources: Mapping[str, Sequence[rattler.SparseRepoData]],
        ranking: Ranking,
        active: frozenset[str],
    ) -> None:
        self.sources = sources
        self.ranking = ranking
        self.active = active
        self.originals: dict[str, tuple[int, list[str]]] = {}
        #: the legacy features of the records loaded so far
        self.offered: set[str] = set()
        self._by_name: dict[str, list[tuple[str, rattler.RepoDataRecord]]] = {}
        self._by_source: dict[str, dict[tuple[str, str], list[rattler.RepoDataRecord]]] = {}
        self._by_key: dict[str, dict[str, rattler.RepoDataRecord]] = {}

    def records(self, name: str) -> list[tuple[str, rattler.RepoDataRecord]]:
        """(channel, record) pairs of one package name, rewritten."""
        found = self._by_name.get(name)
        if found is None:
            found = self._by_name[name] = self._rewrite(self._load(name))
        return found

    def records_of(self, channel: str, subdir: str, name: str) -> list[rattler.RepoDataRecord]:
        """One channel's records of one subdir (what the solver asks a source for)."""
        grouped = self._by_source.get(name)
        if grouped is None:
            grouped = self._by_source[name] = {}
            for owner, record in self.records(name):
                grouped.setdefault((owner, str(record.subdir)), []).append(record)
        return grouped.get((channel, subdir), [])

    def _load(self, name: str) -> list[tuple[str, rattler.RepoDataRecord]]:
        loaded = [
            (channel, record)
            for channel, sparse_list in self.sources.items()
            for sparse in sparse_list
            for record in sparse.load_records(name)
        ]
        wanted = self.ranking.feature_specs.get(name)
        if wanted is not None:  # conda matches a features key as an exact set
            loaded = [(c, r) for c, r in loaded if _feature_set(r.features) == wanted]
        return loaded

    def _step(self, channel: str) -> int:
        if not self.ranking.channel_ties:
            return 0
        channels = self.ranking.channels
        return (len(channels) - 1 - channels.index(channel)) * _CHANNEL_STEP

    def _rewrite(self, loaded: list[tuple[str, rattler.RepoDataRecord]]) -> list:
        # each read of a record's field crosses into py-rattler: every field once
        features = [_feature_set(record.features) for _, record in loaded]
        offered = frozenset().union(*features)
        self.offered |= offered
        active_here = offered & self.active
        for (channel, record), own in zip(loaded, features, strict=True):
            extra = sorted(own - self.active)  # an inactive feature: ranked as a tracker
            if active_here - own:  # the package has builds with an active feature
                extra.append(_MISSING_ACTIVE_FEATURE)
            step = self._step(channel)
            if not (extra or step):
                continue
            original = (record.build_number, list(record.track_features))
            self.originals[_key(record)] = original
            if extra:
                record.track_features = [*original[1], *extra]
            if step:
                record.build_number = original[0] + step
        return loaded

    def restore(self, records: Iterable[rattler.RepoDataRecord]) -> None:
        """Give rewritten records their own build number and track_features back."""
        if not self.originals:
            return
        for record in records:
            original = self.originals.get(_key(record))
            if original is not None:
                record.build_number, record.track_features = original

    def as_ranked(self, records: Sequence[rattler.RepoDataRecord]) -> list:
        """Installed records as this catalog ranks them (the same package, rewritten)."""
        ranked = []
        for record in records:
            name = record.name.normalized
            by_key = self._by_key.get(name)
            if by_key is None:
                by_key = self._by_key[name] = {}
                for _, candidate in self.records(name):
                    by_key.setdefault(_key(candidate), candidate)
            ranked.append(by_key.get(_key(record), record))
        return ranked


class _ChannelSource:
    """One channel of a catalog, as a rattler ``RepoDataSource``."""

    def __init__(self, catalog: _Catalog, channel: str) -> None:
        self.catalog = catalog
        self.channel = channel

    async def fetch_package_records(self, platform, name) -> list[rattler.RepoDataRecord]:
        return self.catalog.records_of(self.channel, str(platform), name.normalized)

    def package_names(self, platform) -> list[str]:
        names: set[str] = set()
        for sparse in self.catalog.sources[self.channel]:
            if str(sparse.subdir) == str(platform):
                names.update(sparse.package_names())
        return sorted(names)


def _misfeatured(record: rattler.RepoDataRecord) -> bool:
    """An installed build without a feature its package offers and the solution activates:
    conda ranks that above keeping what is installed, so it is not held."""
    return _MISSING_ACTIVE_FEATURE in record.track_features


def _tracked(records: Iterable[rattler.RepoDataRecord]) -> frozenset[str]:
    return frozenset(f for r in records for f in r.track_features)


def _solve_once(
    gateway: rattler.Gateway,
    catalog: _Catalog,
    subdirs: Sequence[str],
    locked: Sequence[rattler.RepoDataRecord],
    pinned: Sequence[rattler.RepoDataRecord],
    options: Mapping,
) -> list[rattler.RepoDataRecord]:
    result = asyncio.run(
        rattler.solve(
            sources=[_ChannelSource(catalog, channel) for channel in catalog.sources],
            gateway=gateway,
            platforms=list(subdirs),
            locked_packages=[r for r in catalog.as_ranked(locked) if not _misfeatured(r)],
            pinned_packages=catalog.as_ranked(pinned),
            **options,
        )
    )
    catalog.restore(result)
    return result


def ranked_solve(
    ranking: Ranking,
    sources: Mapping[str, Sequence[rattler.SparseRepoData]],
    subdirs: Sequence[str],
    locked: Sequence[rattler.RepoDataRecord],
    pinned: Sequence[rattler.RepoDataRecord],
    **options,
) -> list[rattler.RepoDataRecord]:
    """rattler's solve (``options`` are its keywords) with conda's ranking, see the module
    docstring; ``sources`` maps each channel's base URL to its subdirs' repodata, highest
    priority first (the order of ``ranking.channels``)."""
    active = ranking.features.union(*ranking.feature_specs.values())
    catalog = _Catalog(sources, ranking, active)
    # the custom sources fetch nothing through it, but making one (an HTTP client with its
    # TLS roots) costs more than a small solve: one serves both solves
    gateway = rattler.Gateway()
    first = _solve_once(gateway, catalog, subdirs, locked, pinned, options)
    # the features the solution tracks that some package it loaded offers builds with
    tracked = (_tracked(first) & catalog.offered) - active
    if not tracked:
        return first
    catalog = _Catalog(sources, ranking, active | tracked)
    try:
        second = _solve_once(gateway, catalog, subdirs, locked, pinned, options)
    except SolverError:  # what the first solve found stands
        return first
    return second if tracked <= _tracked(second) else first
