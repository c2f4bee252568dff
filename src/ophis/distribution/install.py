"""The installer's second half: run by the header with the payload's own python and Ophis
(``python -m ophis.distribution.install --payload DIR --prefix PREFIX [--update]``), it
installs the base environment offline with the package manager's transaction.

The packages go into ``PREFIX/pkgs`` (the base environment's package cache, as conda's
installers do), extracted there, so that the transaction finds every one cached and
downloads nothing; the records keep the channel URLs the constructor solved from, so
``conda-meta`` and ``ophis list`` say where each package came from. History records the
construct.yaml specs as the requested ones, and ``PREFIX/.condarc`` gets the channels when
construct.yaml asks for it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import rattler

from ophis.core.atomic_file import write_atomic
from ophis.core.errors import OphisError
from ophis.core.package_file import extract_package
from ophis.distribution.shell_init import BASE_MARKER
from ophis.manager.condarc import write_rc_file
from ophis.manager.config import Config, load_config
from ophis.manager.download import cache_stem, is_cached
from ophis.manager.operations import ChangeRequest, apply_change, plan_records
from ophis.manager.solve import clear_repodata_cache

INSTALLER_JSON = "installer.json"


def install_payload(payload: Path, prefix: Path, *, update: bool) -> list[str]:
    """Install the payload's packages into ``prefix``; returns the linked file names."""
    manifest = json.loads((payload / INSTALLER_JSON).read_text())
    pkgs = prefix / "pkgs"
    records = _records(manifest["packages"], payload / "pkgs", pkgs)
    config = _config(prefix, manifest["platform"])
    (prefix / "conda-meta").mkdir(parents=True, exist_ok=True)  # the base is an environment
    argv = ("ophis", "constructor-install", *(["--update"] if update else []))
    request = ChangeRequest(action="install", prefix=prefix, argv=argv)
    outcome = plan_records(request, records, config, exact=not update)
    if outcome.solution is not None:
        # history says what construct.yaml asked for, not every package's exact build
        outcome.solution = replace(outcome.solution, update_specs=tuple(manifest["specs"]))
    apply_change(request, outcome, config)
    # an Ophis running from here takes this environment as its root (see shell_init)
    write_atomic(prefix / BASE_MARKER, f"{manifest['name']} {manifest['version']}\n".encode())
    _link_condabin(prefix)
    if manifest.get("write_condarc"):
        write_rc_file(prefix / ".condarc", {"channels": list(manifest["channels"])})
    if (payload / "explicit.txt").is_file():
        shutil.copyfile(payload / "explicit.txt", pkgs / "explicit.txt")
    if not manifest.get("keep_pkgs"):
        _drop_archives(pkgs, records)
    linked = outcome.solution.link if outcome.solution is not None else ()
    return [r.file_name for r in linked]


def _link_condabin(prefix: Path) -> None:
    """``condabin/ophis``, as conda's installs have ``condabin/conda``: the shell hook puts
    only this folder on PATH, so the base's python and tools stay off it until activated."""
    executable = prefix / "bin" / "ophis"
    if not executable.exists():
        return
    condabin = prefix / "condabin"
    condabin.mkdir(exist_ok=True)
    link = condabin / "ophis"
    if not link.is_symlink():
        link.symlink_to(os.path.join("..", "bin", "ophis"))


def _config(prefix: Path, platform: str) -> Config:
    """Only this installer's settings: the user's .condarc files are not read."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "OPHIS"))}
    return load_config(
        env,
        search_path=[],
        overrides={"pkgs_dirs": [str(prefix / "pkgs")], "offline": True, "subdir": platform},
    )


def _records(
    entries: Sequence[dict[str, Any]], archives: Path, pkgs: Path
) -> list[rattler.RepoDataRecord]:
    """The solved records, each archive moved into ``pkgs`` and extracted there."""
    pkgs.mkdir(parents=True, exist_ok=True)
    records = []
    for entry in entries:
        record = _record(entry)
        archive = pkgs / record.file_name
        os.replace(archives / record.file_name, archive)
        if not is_cached(record, pkgs):
            folder = pkgs / cache_stem(record)
            if folder.exists():
                shutil.rmtree(folder)
            extract_package(archive, folder)
        records.append(record)
    return records


def _record(entry: dict[str, Any]) -> rattler.RepoDataRecord:
    index = {k: v for k, v in entry.items() if k not in ("fn", "url", "channel")}
    with tempfile.TemporaryDirectory(prefix="ophis-install-") as folder:
        path = Path(folder) / "index.json"
        path.write_text(json.dumps(index))
        record = rattler.PackageRecord.from_index_json(
            path, size=entry.get("size"), sha256=entry.get("sha256"), md5=entry.get("md5")
        )
    return rattler.RepoDataRecord(record, entry["fn"], entry["url"], entry.get("channel") or "")


def _drop_archives(pkgs: Path, records: Sequence[rattler.RepoDataRecord]) -> None:
    """The archives (not the extracted folders, which later installs link from)."""
    for record in records:
        (pkgs / record.file_name).unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ophis.distribution.install")
    parser.add_argument("--payload", type=Path, required=True)
    parser.add_argument("--prefix", type=Path, required=True)
    parser.add_argument("--update", action="store_true")
    args = parser.parse_args(argv)
    try:
        linked = install_payload(args.payload, args.prefix, update=args.update)
    except OphisError as error:
        print(f"ERROR: {error.message}", file=sys.stderr)
        if error.remedy:
            print(error.remedy, file=sys.stderr)
        return 1
    print(f"Installed {len(linked)} packages into {args.prefix}.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        # py-rattler's objects go while the interpreter is whole (as the ophis command does)
        clear_repodata_cache()
        gc.collect()
