"""``construct.yaml`` (conda constructor's installer description): the keys Ophis supports,
read into a :class:`Construct`, and a clear error for any other.

Pure but for reading the file (and the licence file it names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ophis.core.errors import OphisError

#: keys read; anything else is refused rather than silently ignored
SUPPORTED = {
    "name",
    "version",
    "channels",
    "specs",
    "license_file",
    "installer_type",
    "installer_filename",
    "post_install",
    "initialize_by_default",
    "write_condarc",
    "conda_default_channels",
    "default_prefix",
    "company",
    "welcome_text",
    "register_python",
    "keep_pkgs",
}
#: accepted and ignored: they say nothing a shell installer on Linux or macOS does
IGNORED = {"register_python", "company"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class ConstructError(OphisError):
    """A construct.yaml Ophis cannot build an installer from."""

    exception_name = "ConstructError"


@dataclass(frozen=True)
class Construct:
    name: str
    version: str
    channels: tuple[str, ...]
    specs: tuple[str, ...]
    folder: Path  #: where construct.yaml is: relative paths start there
    license_text: str = ""
    post_install: Path | None = None
    initialize_by_default: bool = False
    write_condarc: bool = False
    #: the .condarc's channels (conda_default_channels), default: ``channels``
    condarc_channels: tuple[str, ...] = ()
    default_prefix: str = ""
    installer_filename: str = ""
    welcome_text: str = ""
    keep_pkgs: bool = False
    ignored: tuple[str, ...] = field(default=())


def read_construct(path: Path) -> Construct:
    """Read and check ``construct.yaml`` (or the folder holding it)."""
    if path.is_dir():
        path = path / "construct.yaml"
    try:
        data = YAML(typ="safe").load(path.read_text())
    except OSError as error:
        raise ConstructError(
            f"Cannot read {path}: {error.strerror}.", "Give the path of a construct.yaml."
        ) from None
    except YAMLError as error:
        raise ConstructError(f"{path} is not valid YAML: {error}", "Correct the file.") from None
    if not isinstance(data, dict):
        raise ConstructError(f"{path} is not a mapping of keys.", "See conda constructor's docs.")
    return construct_from(data, path.parent)


def construct_from(data: dict[str, Any], folder: Path) -> Construct:
    unsupported = sorted(set(data) - SUPPORTED)
    if unsupported:
        raise ConstructError(
            f"construct.yaml: Ophis does not support {', '.join(map(repr, unsupported))}.",
            f"Remove them; the keys Ophis reads are: {', '.join(sorted(SUPPORTED))}.",
        )
    installer_type = str(data.get("installer_type", "sh"))
    if installer_type not in ("sh", "all"):
        raise ConstructError(
            f"construct.yaml: installer_type {installer_type!r} is not supported.",
            "Use installer_type: sh (a shell installer for Linux and macOS).",
        )
    name, version = _required(data, "name"), _required(data, "version")
    for key, value in (("name", name), ("version", version)):
        if not _NAME.match(value):
            raise ConstructError(
                f"construct.yaml: {key} {value!r} cannot be part of a file name.",
                "Use letters, digits, '.', '_', '+' and '-'.",
            )
    channels = _strings(data, "channels")
    specs = _strings(data, "specs")
    if not specs:
        raise ConstructError("construct.yaml has no specs.", "List the packages under specs:.")
    if not channels:
        raise ConstructError(
            "construct.yaml has no channels.", "List the channels to solve from under channels:."
        )
    return Construct(
        name=name,
        version=version,
        channels=tuple(channels),
        specs=tuple(specs),
        folder=folder,
        license_text=_license(data, folder),
        post_install=_file(data, folder, "post_install"),
        initialize_by_default=bool(data.get("initialize_by_default", False)),
        write_condarc=bool(data.get("write_condarc", False)),
        condarc_channels=tuple(_strings(data, "conda_default_channels") or channels),
        default_prefix=str(data.get("default_prefix") or ""),
        installer_filename=str(data.get("installer_filename") or ""),
        welcome_text=str(data.get("welcome_text") or ""),
        keep_pkgs=bool(data.get("keep_pkgs", False)),
        ignored=tuple(sorted(IGNORED & set(data))),
    )


def _required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None or str(value).strip() == "":
        raise ConstructError(f"construct.yaml has no {key}.", f"Add '{key}: ...'.")
    return str(value).strip()


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if isinstance(value, str) or not isinstance(value, list):
        raise ConstructError(
            f"construct.yaml: {key} must be a list.", f"Write {key}: as a list of strings."
        )
    return [str(item).strip() for item in value if str(item).strip()]


def _file(data: dict[str, Any], folder: Path, key: str) -> Path | None:
    value = data.get(key)
    if not value:
        return None
    path = (folder / str(value)).resolve()
    if not path.is_file():
        raise ConstructError(
            f"construct.yaml: {key} names {value}, which does not exist.",
            "Give a path relative to construct.yaml's folder.",
        )
    return path


def _license(data: dict[str, Any], folder: Path) -> str:
    path = _file(data, folder, "license_file")
    if path is None:
        return ""
    text = path.read_text(errors="replace")
    if "__OPHIS_LICENSE_END__" in text:
        raise ConstructError(f"{path} contains Ophis's end marker.", "Remove that line.")
    return text
