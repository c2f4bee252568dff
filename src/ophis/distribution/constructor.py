"""``ophis constructor``: a construct.yaml into one self-contained shell installer.

The steps: solve the specs with Ophis's solver for the target platform (as ``ophis create``
would, but into no prefix); put every package of the solution into a package cache (the
usual verified download); then write ``NAME-VERSION-PLATFORM.sh``: the shell header of
:mod:`ophis.distribution.header` followed by a tar payload of

* ``pkgs/<file>``: the packages, as the channels serve them;
* ``installer.json``: the records (with their channel URLs, which the installed
  ``conda-meta`` keeps), the specs and the settings of construct.yaml;
* ``explicit.txt``: the same packages as an @EXPLICIT file (kept as ``PREFIX/pkgs/
  explicit.txt``: ``ophis create --file`` makes the same environment elsewhere);
* ``bootstrap.tar.gz``: ``python`` and ``ophis`` with its dependencies, extracted and laid out
  so that ``bin/python -m ophis.distribution.install`` runs straight from it on a machine
  with nothing installed (noarch python files moved under ``lib/pythonX.Y/site-packages``).
  That Ophis then links every package into the prefix with the package manager's own
  transaction, prefix replacement, noarch python and entry points included.

The header carries the payload's size and SHA-256: a damaged or altered installer stops
before anything is written.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import rattler

from ophis.core.errors import OphisError
from ophis.distribution.construct import Construct
from ophis.distribution.header import render_header
from ophis.manager.config import load_config_from_os
from ophis.manager.download import cache_stem, fill_cache
from ophis.manager.explicit import ExplicitPackage, dumps_explicit
from ophis.manager.operations import ChangeRequest, plan_change
from ophis.manager.solve import toposort

Progress = Callable[[str, int, int], None]
#: the package whose dependency closure (with python) runs the installer
BOOTSTRAP_PACKAGE = "ophis"


class ConstructorError(OphisError):
    exception_name = "ConstructorError"


@dataclass
class InstallerReport:
    path: Path
    platform: str
    size: int
    sha256: str
    packages: list[str] = field(default_factory=list)
    bootstrap: list[str] = field(default_factory=list)
    ignored_keys: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "platform": self.platform,
            "size": self.size,
            "sha256": self.sha256,
            "packages": self.packages,
            "bootstrap": self.bootstrap,
            "ignored_keys": self.ignored_keys,
        }


def build_installer(
    construct: Construct,
    output_dir: Path,
    *,
    platform: str | None = None,
    progress: Progress | None = None,
) -> InstallerReport:
    """Solve, fetch and write the installer into ``output_dir``."""
    config = load_config_from_os(overrides={"subdir": platform} if platform else None)
    records = solve_base(construct, config)
    python_short = _python_short(records)
    with tempfile.TemporaryDirectory(prefix="ophis-constructor-") as folder:
        cache = Path(folder) / "pkgs"
        fill_cache(records, cache, progress=progress)
        boot = _bootstrap_records(records)
        payload = Path(folder) / "payload.tar"
        _write_payload(payload, construct, config.subdir, records, boot, cache, python_short)
        return _write_installer(construct, config.subdir, payload, output_dir, records, boot)


def solve_base(construct: Construct, config: Any) -> list[rattler.RepoDataRecord]:
    """The base environment's packages for ``config.subdir``, in link order."""
    with tempfile.TemporaryDirectory(prefix="ophis-constructor-prefix-") as folder:
        request = ChangeRequest(
            action="create",
            prefix=Path(folder) / "base",
            specs=construct.specs,
            channels=construct.channels,
            override_channels=True,
            dry_run=True,
        )
        outcome = plan_change(request, config, os.environ)
    solution = outcome.solution
    records = list(solution.link) if solution is not None else []
    names = {r.name.normalized for r in records}
    for needed in ("python", BOOTSTRAP_PACKAGE):
        if needed not in names:
            raise ConstructorError(
                f"The base environment has no '{needed}' package: the installer runs Ophis "
                "(with its python) from the payload to install the rest.",
                f"Add '{BOOTSTRAP_PACKAGE}' to the specs of construct.yaml, from a channel "
                "that has Ophis's package (built from recipes/ophis).",
            )
    return list(toposort(records))


def _python_short(records: Sequence[rattler.RepoDataRecord]) -> str:
    python = next(r for r in records if r.name.normalized == "python")
    return ".".join(str(python.version).split(".")[:2])


def _bootstrap_records(records: Sequence[rattler.RepoDataRecord]) -> list[rattler.RepoDataRecord]:
    """python, ophis and what they depend on, within the solution."""
    by_name = {r.name.normalized: r for r in records}
    wanted: set[str] = set()
    pending = ["python", BOOTSTRAP_PACKAGE]
    while pending:
        name = pending.pop()
        if name in wanted or name not in by_name:
            continue
        wanted.add(name)
        pending.extend(str(rattler.MatchSpec(d).name.normalized) for d in by_name[name].depends)
    return [r for r in records if r.name.normalized in wanted]


def _archive(record: rattler.RepoDataRecord, cache: Path) -> Path:
    parts = urlsplit(str(record.url))
    return Path(unquote(parts.path)) if parts.scheme == "file" else cache / record.file_name


# --- the payload --------------------------------------------------------------------------


def _write_payload(
    payload: Path,
    construct: Construct,
    subdir: str,
    records: Sequence[rattler.RepoDataRecord],
    boot: Sequence[rattler.RepoDataRecord],
    cache: Path,
    python_short: str,
) -> None:
    with tarfile.open(payload, "w", format=tarfile.PAX_FORMAT) as tar:
        for record in records:
            tar.add(_archive(record, cache), f"pkgs/{record.file_name}", recursive=False)
        _add_bytes(tar, "installer.json", _installer_json(construct, subdir, records))
        _add_bytes(tar, "explicit.txt", _explicit(records, subdir))
        _add_bytes(tar, "bootstrap.tar.gz", _bootstrap_tree(boot, cache, python_short))
        if construct.post_install is not None:
            _add_bytes(tar, "post_install.sh", construct.post_install.read_bytes())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mode = 0o644
    tar.addfile(member, io.BytesIO(data))


def _installer_json(
    construct: Construct, subdir: str, records: Sequence[rattler.RepoDataRecord]
) -> bytes:
    return json.dumps(
        {
            "name": construct.name,
            "version": construct.version,
            "platform": subdir,
            "specs": list(construct.specs),
            "channels": list(construct.condarc_channels),
            "write_condarc": construct.write_condarc,
            "keep_pkgs": construct.keep_pkgs,
            "packages": [json.loads(r.to_json()) for r in records],
        },
        indent=1,
    ).encode()


def _explicit(records: Sequence[rattler.RepoDataRecord], subdir: str) -> bytes:
    """The base environment as an @EXPLICIT file (``ophis create --file`` recreates it)."""
    packages = [
        ExplicitPackage(str(r.url), md5=bytes(r.md5).hex() if r.md5 else None) for r in records
    ]
    return dumps_explicit(packages, subdir, checksums=True).encode()


def _bootstrap_tree(
    boot: Iterable[rattler.RepoDataRecord], cache: Path, python_short: str
) -> bytes:
    """The extracted packages python and ophis need, as one gzipped tar: the files of each
    package's cache folder (but ``info/``), noarch python's moved where python looks."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as raw,
        tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for record in boot:
            folder = cache / cache_stem(record)
            noarch_python = bool(record.noarch and record.noarch.python)
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(folder).as_posix()
                target = _boot_path(relative, noarch_python, python_short)
                if target is not None and (path.is_symlink() or not path.is_dir()):
                    tar.add(path, target, recursive=False)
    return buffer.getvalue()


def _boot_path(relative: str, noarch_python: bool, python_short: str) -> str | None:
    if relative.startswith("info/") or relative == "info":
        return None
    if noarch_python:
        if relative.startswith("site-packages/"):
            return f"lib/python{python_short}/{relative}"
        return None  # python-scripts/ and the like: the real install makes the entry points
    return relative


# --- the installer file ---------------------------------------------------------------------


def _write_installer(
    construct: Construct,
    subdir: str,
    payload: Path,
    output_dir: Path,
    records: Sequence[rattler.RepoDataRecord],
    boot: Sequence[rattler.RepoDataRecord],
) -> InstallerReport:
    digest = hashlib.sha256()
    with payload.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    size = payload.stat().st_size
    header = render_header(construct, subdir, size, digest.hexdigest())
    name = construct.installer_filename or f"{construct.name}-{construct.version}-{subdir}.sh"
    output_dir.mkdir(parents=True, exist_ok=True)
    final = output_dir / name
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=output_dir)
    try:
        with os.fdopen(fd, "wb") as out, payload.open("rb") as source:
            out.write(header)
            shutil.copyfileobj(source, out, 1 << 20)
        os.chmod(temp, 0o755)
        os.replace(temp, final)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return InstallerReport(
        path=final,
        platform=subdir,
        size=final.stat().st_size,
        sha256=digest.hexdigest(),
        packages=[r.file_name for r in records],
        bootstrap=[r.name.normalized for r in boot],
        ignored_keys=list(construct.ignored),
    )
