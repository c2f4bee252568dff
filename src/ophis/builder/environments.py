"""Build and host environments solved by Ophis's package manager.

py-rattler-build takes channels, not solved environments. So Ophis solves each variant's
build environment (for this machine) and host environment (for the target) itself -- the
same solver, channel resolution (``.condarc``, tokens, custom channels), virtual packages
and package cache as ``ophis create`` -- fetches the packages into its cache, and hands
py-rattler-build one local channel that holds exactly the solved packages, with their
records as the channels served them (repodata patches included). py-rattler-build then
has nothing left to choose and nothing to download: it links what Ophis chose.

Strong run_exports of the build environment join the host requirements, as
py-rattler-build applies them, so that its host solve finds them in the pinned channel.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import rattler

from ophis.builder.errors import BuildError
from ophis.core.channel import Channel, expand_channels
from ophis.core.platform import detect_machine_facts
from ophis.core.repodata import build_repodata, dumps
from ophis.core.virtual_packages import detect_virtual_packages
from ophis.manager.config import Config, load_config_from_os
from ophis.manager.download import cache_stem, fill_cache
from ophis.manager.operations import credentialed_urls, fetch_repodata
from ophis.manager.solve import SolveRequest, solve
from ophis.manager.specs import spec_name

PINNED = "pinned-channel"


@dataclass
class PinnedEnvironments:
    """What Ophis solved, per variant and environment, and the channel that holds it."""

    channel: Path
    #: "<variant> build|host" -> the specs solved and the packages chosen
    solved: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.channel.as_uri()


def pin_environments(
    rendered: Iterable[Mapping[str, Any]],
    channel_names: Sequence[str],
    stage: Path,
    build_subdir: str,
) -> PinnedEnvironments:
    """Solve the build and host environments of every variant not skipped, and write the
    pinned channel into ``stage``."""
    config = load_config_from_os()
    channels = expand_channels(list(channel_names), config.channel_context(os.getcwd()))
    pinned = PinnedEnvironments(stage / PINNED)
    chosen: dict[str, rattler.RepoDataRecord] = {}
    subdirs = {build_subdir}
    for document in rendered:
        if document.get("skipped"):
            continue
        recipe, variant = document["recipe"], document.get("variant", {})
        own = _outputs(recipe)
        requirements = recipe.get("requirements") or {}
        target = _host_subdir(recipe, variant, build_subdir)
        subdirs.add(target)
        label = _describe(recipe, variant)
        build_specs = _specs(requirements, "build", own, variant)
        build = _solve(config, channels, build_subdir, build_specs, label, "build")
        host_specs = _specs(requirements, "host", own, variant) + _strong_exports(build, config)
        host = _solve(config, channels, target, host_specs, label, "host")
        for environment, specs, records in (
            ("build", build_specs, build),
            ("host", host_specs, host),
        ):
            pinned.solved[f"{label} {environment}"] = {
                "specs": specs,
                "packages": sorted(r.file_name for r in records),
            }
            chosen.update({str(r.url): r for r in records})
    _write_channel(pinned.channel, chosen.values(), subdirs, Path(config.pkgs_dirs[0]))
    return pinned


def _outputs(recipe: Mapping[str, Any]) -> set[str]:
    return {str((recipe.get("package") or {}).get("name", ""))}


def _host_subdir(recipe: Mapping[str, Any], variant: Mapping[str, Any], build: str) -> str:
    """A noarch package's host environment is this machine's, like its build one."""
    target = str(variant.get("target_platform") or build)
    noarch = (recipe.get("build") or {}).get("noarch")
    return build if noarch or target == "noarch" else target


def _specs(
    requirements: Mapping[str, Any], key: str, own: set[str], variant: Mapping[str, Any]
) -> list[str]:
    """The rendered specs of one environment, but for the recipe's own outputs (which
    py-rattler-build pins itself); a bare name that is a variant key gets the variant's
    version, as py-rattler-build applies it (``python`` with ``python: 3.11`` is
    ``python 3.11``, that is 3.11.*)."""
    specs = [str(s) for s in requirements.get(key) or [] if isinstance(s, str)]
    return [
        f"{s} {variant[s]}" if s in variant and s != "target_platform" else s
        for s in specs
        if spec_name(s) not in own
    ]


def _describe(recipe: Mapping[str, Any], variant: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in variant.items() if k != "target_platform")
    name = (recipe.get("package") or {}).get("name", "?")
    return f"{name} ({shown})" if shown else str(name)


def _solve(
    config: Config,
    channels: list[Channel],
    subdir: str,
    specs: list[str],
    label: str,
    environment: str,
) -> list[rattler.RepoDataRecord]:
    if not specs:
        return []
    names = {spec_name(s) for s in specs}
    if config.add_pip_as_python_dependency:
        names.add("pip")
    repodata = fetch_repodata(channels, (subdir, "noarch"), config, names)
    request = SolveRequest(
        specs=tuple(specs),
        channels=tuple(channels),
        subdir=subdir,
        repodata=repodata,
        virtual_packages=tuple(detect_virtual_packages(subdir, detect_machine_facts(), os.environ)),
        channel_priority=config.channel_priority,
        add_pip_as_python_dependency=config.add_pip_as_python_dependency,
        pinned=tuple(config.pinned_packages),
    )
    try:
        result = solve(request)
    except Exception as error:  # the solver's errors already say which spec failed
        raise BuildError(
            f"The {environment} environment of {label} cannot be solved: {error}",
            "Check the recipe's requirements and the channels given with -c.",
        ) from None
    records = [r for r in result.final if isinstance(r, rattler.RepoDataRecord)]
    fill_cache(records, Path(config.pkgs_dirs[0]), url_rewrites=credentialed_urls(channels, subdir))
    return records


def _strong_exports(records: list[rattler.RepoDataRecord], config: Config) -> list[str]:
    """The strong run_exports of the build environment's packages (from their extracted
    ``info/run_exports.json`` in the package cache)."""
    exports: list[str] = []
    for record in records:
        path = Path(config.pkgs_dirs[0]) / cache_stem(record) / "info" / "run_exports.json"
        if path.is_file():
            exports += json.loads(path.read_text()).get("strong", [])
    return exports


def _write_channel(
    folder: Path, records: Iterable[rattler.RepoDataRecord], subdirs: set[str], cache_dir: Path
) -> None:
    """A channel of exactly ``records``: their archives linked from the package cache (or
    their local channel), their records written as served."""
    by_subdir: dict[str, dict[str, Any]] = {s: {} for s in {*subdirs, "noarch"}}
    for record in records:
        subdir = record.subdir
        target = folder / subdir / record.file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        _link(_archive(record, cache_dir), target)
        entry = json.loads(record.to_json())
        for key in ("url", "channel", "fn", "file_name"):
            entry.pop(key, None)
        by_subdir.setdefault(subdir, {})[record.file_name] = entry
    for subdir, entries in by_subdir.items():
        (folder / subdir).mkdir(parents=True, exist_ok=True)
        (folder / subdir / "repodata.json").write_bytes(dumps(build_repodata(subdir, entries)))


def _archive(record: rattler.RepoDataRecord, cache_dir: Path) -> Path:
    parts = urlsplit(str(record.url))
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return cache_dir / record.file_name


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copy2(source, target)
