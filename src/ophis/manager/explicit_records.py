"""The records of an ``@EXPLICIT`` file, complete with what its URLs do not say (depends,
constrains, sizes, checksums), so that the packages can be installed without solving.

conda downloads every package and reads its ``info/index.json``. Here the channel's
repodata is read first (cached, and sharded channels are read only for the names in the
file), and a package is downloaded into the package cache only when the channel does not
list it; either way a checksum the file gives (``#<md5>``, ``#sha256:<hex>``) must match,
before anything is installed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import rattler

from ophis.client.repodata_cache import RepodataUnavailable
from ophis.core.channel import expand_channels
from ophis.core.errors import ChannelError, OphisError, TransactionError
from ophis.core.package_file import read_package, split_package_filename
from ophis.core.paths import check_record_fields
from ophis.manager.config import Config
from ophis.manager.explicit import ExplicitFile, ExplicitPackage
from ophis.manager.lockfile import RepodataFetcher
from ophis.manager.records import checked_records
from ophis.manager.solve import load_repodata


class ChecksumMismatchError(OphisError):
    """A package does not have the checksum an explicit file gives for it."""

    exception_name = "ChecksumMismatchError"


class OfflineError(OphisError):
    exception_name = "OfflineError"


def explicit_records(
    explicit: ExplicitFile, config: Config, fetch: RepodataFetcher
) -> list[rattler.RepoDataRecord]:
    """The records an @EXPLICIT file names, with their metadata (depends, ...): from the
    channel's repodata when it lists the file, else from the archive's ``info/index.json``
    (what conda reads for every package). Checksums the file gives are checked here, before
    anything changes: ChecksumMismatchError names the URL. ``fetch`` is
    ``ophis.manager.operations.fetch_repodata`` (passed in: operations installs these)."""
    groups: dict[tuple[str, str], list[ExplicitPackage]] = {}
    for package in explicit.packages:
        name, version, build, _ext = split_package_filename(package.filename)
        fields = {"name": name, "version": version, "build": build}
        check_record_fields(package.channel_url, package.filename, fields)  # it becomes a path
        groups.setdefault((package.channel_url, package.subdir), []).append(package)
    listed: dict[str, rattler.RepoDataRecord] = {}
    for (channel_url, subdir), packages in groups.items():
        listed.update(_from_repodata(channel_url, subdir, packages, config, fetch))
    records = []
    for package in explicit.packages:
        record = listed.get(package.url)
        if record is None or not _knows_checksums(record, package):
            record = _from_archive(package, config)
        _check_checksums(record, package)
        records.append(record)
    return checked_records(records)


def _from_repodata(
    channel_url: str,
    subdir: str,
    packages: list[ExplicitPackage],
    config: Config,
    fetch: RepodataFetcher,
) -> dict[str, rattler.RepoDataRecord]:
    """URL -> record, for the packages the channel's repodata for ``subdir`` lists."""
    names = {split_package_filename(p.filename)[0] for p in packages}
    try:
        channel = expand_channels([channel_url], config.channel_context())[0]
        path = fetch([channel], (subdir,), config, names).get((channel.base_url, subdir))
    except (RepodataUnavailable, ChannelError):
        return {}  # no index to read (offline, or not a channel): the archives will tell
    if path is None:
        return {}
    sparse = load_repodata(channel, subdir, path)
    found: dict[str, rattler.RepoDataRecord] = {}
    for package in packages:
        name = split_package_filename(package.filename)[0]
        for record in sparse.load_records(name, rattler.PackageFormatSelection.BOTH):
            if record.file_name == package.filename:
                found[package.url] = record
    return found


def _knows_checksums(record: rattler.RepoDataRecord, package: ExplicitPackage) -> bool:
    return not (package.md5 and not record.md5) and not (package.sha256 and not record.sha256)


def _check_checksums(record: rattler.RepoDataRecord, package: ExplicitPackage) -> None:
    for kind, expected in (("md5", package.md5), ("sha256", package.sha256)):
        actual = bytes(getattr(record, kind)).hex() if expected else None
        if expected and actual != expected:
            raise ChecksumMismatchError(
                "Ophis detected a mismatch between the expected content and the package "
                f"for url '{package.url}'.\n  expected {kind}: {expected}\n"
                f"  actual {kind}: {actual}",
                "Nothing was changed. Write the file again with "
                "'ophis list --explicit --md5', or correct the checksum after '#'.",
            )


def _from_archive(package: ExplicitPackage, config: Config) -> rattler.RepoDataRecord:
    """A record read from the package itself; a remote archive is downloaded into the
    package cache, where the transaction then finds it."""
    archive = _archive_path(package, Path(config.pkgs_dirs[0]), config.offline)
    contents = read_package(archive)
    with tempfile.TemporaryDirectory(prefix="ophis-index-") as folder:
        index = Path(folder) / "index.json"
        index.write_text(json.dumps(contents.index), encoding="utf-8")
        record = rattler.PackageRecord.from_index_json(
            index, size=contents.size, sha256=contents.sha256, md5=contents.md5
        )
    return rattler.RepoDataRecord(record, package.filename, package.url, package.channel_url)


def _archive_path(package: ExplicitPackage, cache_dir: Path, offline: bool) -> Path:
    parts = urlsplit(package.url)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    cached = cache_dir / package.filename
    if cached.is_file():
        return cached
    if offline:
        raise OfflineError(
            f"{package.url} is not in the package cache and --offline is set.",
            "Run the command once without --offline.",
        )
    if parts.scheme not in ("http", "https"):
        raise ChannelError(
            f"Ophis cannot download '{parts.scheme}://' URLs: {package.url}",
            "Use an http(s):// or file:// URL.",
        )
    return _download(package.url, cached)


def _download(url: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial")
    import httpx  # only a package named by URL and fetched here needs it

    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as response:
            response.raise_for_status()
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
    except httpx.HTTPError as error:
        partial.unlink(missing_ok=True)
        raise TransactionError(
            f"Downloading {url} failed: {error}", "Check the URL and your network."
        ) from None
    os.replace(partial, target)
    return target
