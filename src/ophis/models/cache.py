"""The local model cache: ``<root prefix>/models/<owner>/<name>/<version>/<file>``, each pulled file
beside a ``<file>.json`` record of where it came from (server, version, quantization,
size, sha256). Every name that comes from a server or the user is checked by
:func:`ophis.core.paths.unsafe_path_reason` and must be a single component before it
becomes part of a path.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ophis.core.atomic_file import write_atomic
from ophis.core.errors import OphisError
from ophis.core.paths import unsafe_path_reason

RECORD_SUFFIX = ".json"
PARTIAL_SUFFIX = ".partial"
MAX_RECORD_BYTES = 1024 * 1024


class ModelCacheError(OphisError):
    """A model name or file that cannot be in the cache, or one that is not there."""

    exception_name = "ModelCacheError"


def models_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The cache root: ``models`` in Ophis's root prefix (beside ``pkgs``), or
    ``$OPHIS_MODELS_DIR``."""
    if env.get("OPHIS_MODELS_DIR"):
        return Path(env["OPHIS_MODELS_DIR"]).expanduser()
    from ophis.manager.config import bootstrap_root_prefix

    return bootstrap_root_prefix(env) / "models"


def relative_path(value: object, what: str) -> str:
    """``value`` if it is a safe relative path, else ModelCacheError naming ``what``."""
    reason = unsafe_path_reason(value)
    if reason is not None:
        raise ModelCacheError(
            f"The {what} {value!r} {reason}.",
            "The server's answer cannot name a file here; tell the channel's owner.",
        )
    return str(value)


def component(value: object, what: str) -> str:
    """``value`` if it is one safe path component, else ModelCacheError naming ``what``."""
    if "/" in relative_path(value, what):
        raise ModelCacheError(
            f"The {what} {value!r} has more than one component.",
            "The server's answer cannot name a file here; tell the channel's owner.",
        )
    return str(value)


def parse_model_name(text: str) -> tuple[str, str]:
    """``OWNER/NAME`` as two checked components."""
    owner, _, name = text.partition("/")
    if not owner or not name:
        raise ModelCacheError(f"'{text}' is not OWNER/NAME.", "Write it as alice/minilm.")
    return component(owner, "owner"), component(name, "model name")


@dataclass(frozen=True)
class ModelCache:
    root: Path

    def folder(self, owner: str, name: str) -> Path:
        return self.root / component(owner, "owner") / component(name, "model name")

    def file(self, owner: str, name: str, version: str, filename: str) -> Path:
        return (
            self.folder(owner, name)
            / component(version, "version")
            / component(filename, "file name")
        )

    def save_record(self, path: Path, record: dict[str, Any]) -> None:
        write_atomic(path.with_name(path.name + RECORD_SUFFIX), json.dumps(record).encode())

    def entries(self) -> list[dict[str, Any]]:
        """Every pulled file: its record with its local ``path``, sorted by model."""
        found = []
        for record_path in sorted(self.root.glob(f"*/*/*/*{RECORD_SUFFIX}")):
            model_file = record_path.with_name(record_path.name.removesuffix(RECORD_SUFFIX))
            if not model_file.is_file() or record_path.stat().st_size > MAX_RECORD_BYTES:
                continue
            try:
                record = json.loads(record_path.read_text())
            except ValueError:
                continue
            owner, name = record_path.parents[2].name, record_path.parents[1].name
            found.append({**record, "model": f"{owner}/{name}", "path": str(model_file)})
        return found

    def find(self, spec: str, quantization: str | None = None) -> dict[str, Any]:
        """The pulled file of ``OWNER/NAME`` (of ``quantization`` when given; the only
        one, else the smallest)."""
        owner, name = parse_model_name(spec)
        matches = [
            entry
            for entry in self.entries()
            if entry["model"] == f"{owner}/{name}" and _quantized_as(entry, quantization)
        ]
        if not matches:
            wanted = f"{spec}" + (f" ({quantization})" if quantization else "")
            raise ModelCacheError(
                f"{wanted} is not in the model cache {self.root}.",
                f"Pull it first: ophis model pull {spec}"
                + (f" --quantization {quantization}" if quantization else ""),
            )
        return min(matches, key=lambda entry: entry.get("size") or 0)

    def remove(self, spec: str, quantization: str | None = None) -> list[str]:
        """Delete a model's pulled files (of one quantization, or all) and partial files;
        returns the paths removed."""
        owner, name = parse_model_name(spec)
        folder = self.folder(owner, name)
        removed = []
        for entry in self.entries():
            if entry["model"] != f"{owner}/{name}":
                continue
            if not _quantized_as(entry, quantization):
                continue
            path = Path(entry["path"])
            path.unlink(missing_ok=True)
            path.with_name(path.name + RECORD_SUFFIX).unlink(missing_ok=True)
            removed.append(str(path))
        if not removed:
            self.find(spec, quantization)  # raises: nothing of that name is here
        if folder.is_dir() and not any(folder.glob(f"*/*{RECORD_SUFFIX}")):
            shutil.rmtree(folder)  # partial downloads go with the model's last file
        return removed


def _quantized_as(entry: dict[str, Any], quantization: str | None) -> bool:
    return quantization is None or str(entry.get("quantization")).upper() == quantization.upper()
