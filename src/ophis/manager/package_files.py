"""conda's ``package`` verb: which package owns a file, the files no package owns (list,
remove), and a package made of those files."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import rattler

from ophis.core.errors import OphisError
from ophis.core.package_create import create_package
from ophis.manager.history import dist_str
from ophis.manager.operations import untracked_files
from ophis.manager.prefix import PrefixData
from ophis.manager.safety import CondaVerificationError
from ophis.manager.transaction import PREFIX_PLACEHOLDER

_PYTHON_SHEBANG = re.compile(rb"^#!.*python.*$", re.MULTILINE)


def which_prefix(path: Path) -> Path | None:
    """The environment a path is in: the nearest folder above it with ``conda-meta``."""
    for folder in [path, *path.parents]:
        if (folder / "conda-meta").is_dir():
            return folder
    return None


def which_packages(path: str) -> list[str]:
    """The dist strings of the installed packages that list ``path`` among their files."""
    absolute = Path(os.path.abspath(path))
    prefix = which_prefix(absolute)
    if prefix is None:
        raise CondaVerificationError(
            f"could not determine conda prefix from: {absolute}",
            "Give the path of a file inside an environment.",
        )
    relative = absolute.relative_to(prefix).as_posix()
    records = PrefixData(prefix).records().values()
    return [dist_str(r) for r in records if relative in {str(f) for f in r.files}]


def untracked(prefix: Path) -> list[str]:
    """conda's untracked files of an environment (sorted, relative to it)."""
    return untracked_files(prefix, list(PrefixData(prefix).records().values()))


def remove_untracked(prefix: Path) -> list[str]:
    """Delete the untracked files (a symlink itself, never what it points to), then their
    folders that are left empty."""
    removed = untracked(prefix)
    folders: set[Path] = set()
    for relative in removed:
        path = prefix / relative
        folders.add(path.parent)
        path.unlink()
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty
            folder.rmdir()
    return removed


@dataclass(frozen=True)
class PackageOfUntracked:
    """What ``make_package`` made: None when there were no untracked files."""

    files: int
    path: Path | None


def make_package(
    prefix: Path, name: str, version: str, build_number: int, subdir: str, dest: Path
) -> PackageOfUntracked:
    """conda's ``package --pkg-name ...``: the untracked files as ``name-version-build
    .tar.bz2`` in ``dest``. Python shebangs in ``bin/`` point at the prefix placeholder (and
    are listed in ``info/has_prefix``); files in ``site-packages`` make it need the
    environment's Python ``X.Y``."""
    paths = untracked(prefix)
    if not paths:
        return PackageOfUntracked(0, None)
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    has_prefix: list[str] = []
    for relative in paths:
        path = prefix / relative
        if path.is_symlink():
            links[relative] = os.readlink(path)
            continue
        data = path.read_bytes()
        if relative.startswith("bin/") and _PYTHON_SHEBANG.match(data):
            data = _PYTHON_SHEBANG.sub(f"#!{PREFIX_PLACEHOLDER}/bin/python".encode(), data, 1)
            has_prefix.append(relative)
        files[relative] = data
    index = _index(prefix, name, version, build_number, subdir, paths)
    extra = {"has_prefix": "".join(f"{p}\n" for p in has_prefix).encode()} if has_prefix else {}
    made = create_package(
        dest,
        index=index,
        files=files,
        symlinks=links,
        extra_info=extra,
        fmt=".tar.bz2",
        # conda's package has info/files and info/has_prefix, no paths.json
        replace_info={"paths.json": None},
    )
    return PackageOfUntracked(len(paths), made)


def _index(
    prefix: Path, name: str, version: str, build_number: int, subdir: str, paths: list[str]
) -> dict:
    platform = rattler.Subdir(subdir)
    index = {
        "name": name.lower(),
        "version": version,
        "build": str(build_number),
        "build_number": build_number,
        "depends": [],
        "platform": subdir.split("-")[0],
        "arch": str(platform.arch) if platform.arch else None,
        "subdir": subdir,
    }
    if any("/site-packages/" in p for p in paths):
        python = PrefixData(prefix).records().get("python")
        if python is None:
            raise OphisError(
                "Python must be installed in target prefix.",
                "Install python into the environment, or remove its site-packages files.",
            )
        major_minor = ".".join(str(python.version).split(".")[:2])
        index["build"] = f"py{major_minor.replace('.', '')}_{build_number}"
        index["depends"] = [f"python {major_minor}*"]
    return index
