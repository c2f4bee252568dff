"""Small, real Python distributions for tests: an installable wheel and an sdist."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path


def metadata(name: str, version: str, requires_python: str = ">=3.8") -> str:
    return (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        f"Summary: The {name} test distribution\nLicense: BSD-3-Clause\n"
        f"Requires-Python: {requires_python}\n"
    )


def make_wheel(
    folder: Path, name: str = "demo-py", version: str = "1.0", requires_python: str = ">=3.8"
) -> Path:
    """A dependency-free pure-Python wheel (pip installs it) whose module ``<name>`` has
    ``VERSION``; METADATA names the project as written (``demo-py``)."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    members = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": metadata(name, version, requires_python),
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [
        f"{path},sha256={_record_digest(text.encode())},{len(text.encode())}"
        for path, text in members.items()
    ]
    members[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in members.items():
            archive.writestr(member, text)
    return path


def make_sdist(folder: Path, name: str = "demo-py", version: str = "1.0") -> Path:
    stem = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{stem}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, text in (
            ("PKG-INFO", metadata(name, version)),
            ("setup.py", "from setuptools import setup\nsetup()\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(f"{stem}/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def make_project_sdist(
    folder: Path,
    name: str,
    version: str,
    dependencies: list[str],
    scripts: dict[str, str] | None = None,
) -> Path:
    """An sdist with a PEP 621 pyproject.toml, as ``python -m build --sdist`` makes one."""
    module = name.replace("-", "_")
    stem = f"{module}-{version}"
    quoted = ", ".join(f'"{d}"' for d in dependencies)
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
        f'description = "The {name} test project"\nrequires-python = ">=3.9"\n'
        f"dependencies = [{quoted}]\n"
    )
    if scripts:
        pyproject += "\n[project.scripts]\n" + "".join(
            f'{command} = "{target}"\n' for command, target in scripts.items()
        )
    members = {
        "PKG-INFO": metadata(name, version),
        "pyproject.toml": pyproject,
        f"{module}/__init__.py": "",
        f"{module}/cli.py": "def main():\n    print('hello')\n",
    }
    path = folder / f"{stem}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{stem}/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _record_digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
