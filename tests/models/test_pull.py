"""Pulls from a catalog that misbehaves: a plain file server on 127.0.0.1 stands in for a
channel server whose answers lie (a file name that leaves the cache, a hostile header with
a matching sha256, more bytes than declared), drop the connection, or ignore ``Range``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ophis.client.api import ApiClient, ApiError
from ophis.core.errors import InvalidPackageError
from ophis.models.cache import ModelCache, ModelCacheError
from ophis.models.pull import ChecksumMismatch, ModelNotFound, pull_model
from ophis.testing import models as hostile
from ophis.testing.http import StaticServer, serve_directory

MODEL = "alice/minilm"


def publish(root: Path, content: bytes, **lies: object) -> str:
    """The catalog's answer for alice/minilm with one Q8_0 variant of ``content``;
    ``lies`` replace the variant's true fields. Returns the file's URL path."""
    (root / "files").mkdir(exist_ok=True)
    (root / "files" / "minilm-q8_0.gguf").write_bytes(content)
    variant = {
        "basename": "minilm/1.0/minilm-q8_0.gguf",
        "version": "1.0",
        "format": "gguf",
        "quantization": "Q8_0",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "download_url": "/files/minilm-q8_0.gguf",
        **lies,
    }
    details = {"owner": "alice", "name": "minilm", "latest_version": "1.0", "variants": [variant]}
    (root / "api" / "models" / "alice").mkdir(parents=True, exist_ok=True)
    (root / "api" / "models" / "alice" / "minilm").write_text(json.dumps(details))
    return "/files/minilm-q8_0.gguf"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, StaticServer]]:
    root = tmp_path / "site"
    root.mkdir()
    with serve_directory(root) as server:
        yield root, server


def pull(server: StaticServer, cache: Path) -> dict:
    with ApiClient(f"{server.url}/api") as api:
        return vars(pull_model(api, ModelCache(cache), MODEL, "Q8_0"))


def model_bytes(tmp_path: Path) -> bytes:
    return hostile.write_gguf(tmp_path / "real.gguf").read_bytes()


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "basename", ["../../../../outside.gguf", "minilm/1.0/../../../x.gguf", "/etc/x.gguf"]
)
def test_a_file_name_that_leaves_the_cache_is_refused(
    site: tuple[Path, StaticServer], tmp_path: Path, basename: str
) -> None:
    root, server = site
    publish(root, model_bytes(tmp_path), basename=basename)
    with pytest.raises(ModelCacheError, match="file name"):
        pull(server, tmp_path / "cache")
    assert files_under(tmp_path / "cache") == []
    assert not (tmp_path / "outside.gguf").exists()


def test_a_hostile_header_is_deleted_even_when_its_sha256_matches(
    site: tuple[Path, StaticServer], tmp_path: Path
) -> None:
    root, server = site
    publish(root, hostile.gguf_claiming_tensors())
    with pytest.raises(InvalidPackageError, match="the download was deleted"):
        pull(server, tmp_path / "cache")
    assert files_under(tmp_path / "cache") == []


def test_more_bytes_than_the_catalog_declares_are_refused(
    site: tuple[Path, StaticServer], tmp_path: Path
) -> None:
    root, server = site
    content = model_bytes(tmp_path)
    publish(root, content, size=len(content) // 2)
    with pytest.raises(ChecksumMismatch, match="sent more than"):
        pull(server, tmp_path / "cache")
    assert files_under(tmp_path / "cache") == []


def test_a_dropped_download_resumes_with_a_range_request(
    site: tuple[Path, StaticServer], tmp_path: Path
) -> None:
    root, server = site
    content = model_bytes(tmp_path)
    path = publish(root, content)
    server.drop_after[path] = len(content) // 3
    with pytest.raises(ApiError, match="Could not reach"):
        pull(server, tmp_path / "cache")
    assert files_under(tmp_path / "cache") == ["alice/minilm/1.0/minilm-q8_0.gguf.partial"]
    pulled = pull(server, tmp_path / "cache")
    assert server.ranges == [(path, f"bytes={len(content) // 3}-")]
    assert (pulled["resumed_from"], pulled["downloaded"]) == (
        len(content) // 3,
        len(content) - len(content) // 3,
    )
    assert Path(pulled["path"]).read_bytes() == content


def test_a_server_that_ignores_range_sends_the_whole_file_again(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    content = model_bytes(tmp_path)
    publish(root, content)
    partial = tmp_path / "cache" / "alice" / "minilm" / "1.0" / "minilm-q8_0.gguf.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(content[:100])
    with serve_directory(root, ranges=False) as server:
        pulled = pull(server, tmp_path / "cache")
    assert (pulled["resumed_from"], pulled["downloaded"]) == (0, len(content))
    assert Path(pulled["path"]).read_bytes() == content


def test_a_missing_quantization_names_those_offered(
    site: tuple[Path, StaticServer], tmp_path: Path
) -> None:
    root, server = site
    publish(root, model_bytes(tmp_path))
    with ApiClient(f"{server.url}/api") as api, pytest.raises(ModelNotFound) as caught:
        pull_model(api, ModelCache(tmp_path / "cache"), MODEL, "Q4_0")
    assert caught.value.message == "alice/minilm has no Q4_0 variant in version 1.0."
    assert caught.value.remedy == "It offers: Q8_0 (1.0)."
