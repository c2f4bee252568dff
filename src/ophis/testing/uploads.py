"""The anaconda-client upload handshake spoken by hand, for tests of what the server does
with each step: stage, the storage POST, and the digests they carry."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import quote

import httpx


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def md5_of(path: Path) -> str:
    """The base64 MD5 digest a ``Content-MD5`` field carries."""
    return base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()


def stage(
    api: httpx.Client, path: Path, basename: str, *, spec: str = "admin/demo/1.0", **body: object
) -> httpx.Response:
    """``POST /stage/SPEC/BASENAME`` for the conda file ``path``; ``body`` adds fields."""
    payload = {"distribution_type": "conda", "sha256": sha256_of(path), "channels": [], **body}
    return api.post(f"/stage/{spec}/{quote(basename)}", json=payload)


def storage_post(staged: dict, path: Path, **fields: str) -> httpx.Response:
    """The storage POST as the client sends it: form_data, size, md5, the file last."""
    data = {
        **staged["form_data"],
        "Content-Length": str(path.stat().st_size),
        "Content-MD5": md5_of(path),
        **fields,
    }
    return httpx.post(staged["post_url"], data=data, files={"file": (path.name, path.read_bytes())})
