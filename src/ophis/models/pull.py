"""Pulling a model variant from a channel server's model catalog into the local cache.

The server's ``GET /api/models/<owner>/<name>`` lists the variants with their size and
sha256. A pull writes ``<file>.partial`` and, when one is already there, asks only for the
rest (``Range: bytes=N-``); the bytes are counted against the declared size as they come
and the whole file's sha256 is checked before it is renamed into place. A file that does
not match is deleted, so that the next pull starts over.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

from ophis.client.api import ApiClient, ApiError, error_for
from ophis.client.credentials import ClientConfig, api_url, token_for
from ophis.core.errors import InvalidPackageError, OphisError
from ophis.core.model_files import model_format, read_model_file
from ophis.models.cache import (
    PARTIAL_SUFFIX,
    ModelCache,
    component,
    parse_model_name,
    relative_path,
)

CHUNK = 1024 * 1024
Progress = Callable[[int, int], None]


class ModelNotFound(ApiError):
    exception_name = "ModelNotFound"
    status = 404


class ChecksumMismatch(OphisError):
    exception_name = "ChecksumMismatchError"


@dataclass(frozen=True)
class Pulled:
    model: str
    version: str
    quantization: str
    format: str
    path: str
    size: int
    sha256: str
    resumed_from: int  # bytes already on disk from an earlier, interrupted pull
    downloaded: int  # bytes fetched by this pull


def catalog_client(environ: Mapping[str, str], server: str | None, token: str | None) -> ApiClient:
    """The API of ``server`` (a name ``ophis login`` gave, or a URL; default: the last one
    logged in to) with ``token``, else the token stored for it."""
    target = ClientConfig.load(environ).resolve(
        api_url(server) if server and "://" in server else server or None
    )
    return ApiClient(target.url, token or token_for(target, environ))


def search_models(api: ApiClient, **filters: Any) -> list[dict[str, Any]]:
    """``GET /api/models`` with the filters that are set."""
    params = {key: value for key, value in filters.items() if value not in (None, "")}
    return api.call("GET", "/models", params=params)


def model_details(api: ApiClient, owner: str, name: str) -> dict[str, Any]:
    """The model's card and variants; ModelNotFound (with what to do) for a 404."""
    try:
        return api.call("GET", f"/models/{quote(owner)}/{quote(name)}")
    except ApiError as error:
        if error.status != 404:
            raise
        raise ModelNotFound(
            f"No model {owner}/{name} on {api.url} (or it is private and "
            + ("this token may not see it)." if api.token else "you gave no token)."),
            "Check the name with `ophis model search`; for a private model pass --token "
            "or log in (`ophis login`) as a user who may read it.",
        ) from None


def choose_variant(
    details: dict[str, Any], quantization: str | None, version: str | None
) -> dict[str, Any]:
    """The variant of ``quantization`` (GGUF first) in ``version`` (default: the latest)."""
    version = version or details.get("latest_version")
    offered = [v for v in details.get("variants") or [] if isinstance(v, dict)]
    variants = [v for v in offered if not version or v.get("version") == version]
    if quantization:
        variants = [
            v for v in variants if str(v.get("quantization")).upper() == quantization.upper()
        ]
    variants.sort(key=lambda v: (str(v.get("format")).lower() != "gguf", v.get("size") or 0))
    if not variants:
        choices = sorted({f"{v.get('quantization')} ({v.get('version')})" for v in offered})
        raise ModelNotFound(
            f"{details.get('owner')}/{details.get('name')} has no "
            f"{quantization or 'file'} variant in version {version}.",
            f"It offers: {', '.join(choices) or 'nothing'}.",
        )
    return variants[0]


def pull_model(
    api: ApiClient,
    cache: ModelCache,
    spec: str,
    quantization: str | None = None,
    version: str | None = None,
    progress: Progress | None = None,
) -> Pulled:
    owner, name = parse_model_name(spec)
    variant = choose_variant(model_details(api, owner, name), quantization, version)
    try:
        version, basename = str(variant["version"]), variant["basename"]
        size, sha256, url = int(variant["size"]), str(variant["sha256"]), variant["download_url"]
    except (KeyError, TypeError, ValueError):
        raise ApiError(
            f"{api.url} answered with a variant of {spec} that lacks its version, file name, "
            "size, sha256 or download URL.",
            "Tell the server's administrator: this is not Ophis's model catalog API.",
        ) from None
    target = cache.file(owner, name, version, _file_name(basename))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    resumed_from = partial.stat().st_size if partial.exists() else 0
    digest, downloaded = _hash_prefix(partial, resumed_from), 0
    if resumed_from < size or not partial.exists():
        restarted, downloaded, digest = _fetch(
            api, urljoin(api.url + "/", url), partial, resumed_from, size, digest, progress
        )
        resumed_from = 0 if restarted else resumed_from
    _check(partial, digest.hexdigest(), sha256.lower(), size, f"{owner}/{name}")
    _check_header(partial, target.name)
    os.replace(partial, target)
    pulled = Pulled(
        model=f"{owner}/{name}",
        version=version,
        quantization=str(variant["quantization"]),
        format=str(variant.get("format") or ""),
        path=str(target),
        size=size,
        sha256=sha256.lower(),
        resumed_from=resumed_from,
        downloaded=downloaded,
    )
    cache.save_record(target, _record(pulled, variant, api.url))
    return pulled


def _record(pulled: Pulled, variant: dict[str, Any], server: str) -> dict[str, Any]:
    """What the cache keeps beside the file: where it came from and its card."""
    kept = ("model", "version", "quantization", "format", "size", "sha256")
    return {
        **{key: getattr(pulled, key) for key in kept},
        **{key: variant.get(key) for key in ("parameters", "labels", "basename")},
        "server": server,
        "pulled": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _file_name(basename: object) -> str:
    """The file name of a variant's ``NAME/VERSION/FILE`` basename (a plain relative path)."""
    return component(relative_path(basename, "file name").rsplit("/", 1)[-1], "file name")


def _check_header(partial: Path, filename: str) -> None:
    """A model file's header, read with limits, before the file is in the cache: a hostile
    one is deleted (its sha256 matched: the server holds a bad file)."""
    if model_format(filename) is None:
        return
    try:
        with partial.open("rb") as stream:
            read_model_file(stream, partial.stat().st_size, filename)
    except InvalidPackageError as error:
        partial.unlink(missing_ok=True)
        raise InvalidPackageError(
            filename,
            f"{error.rule}; the download was deleted",
            "Do not use this file: tell the channel's owner.",
        ) from None


def _hash_prefix(partial: Path, length: int) -> Any:
    digest = hashlib.sha256()
    if length:
        with partial.open("rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
    return digest


def _fetch(
    api: ApiClient,
    url: str,
    partial: Path,
    offset: int,
    size: int,
    digest: Any,
    progress: Progress | None,
) -> tuple[bool, int, Any]:
    """Append the bytes after ``offset`` to ``partial``. Returns whether the server sent
    the whole file instead (then ``partial`` restarts), the bytes fetched and the digest
    of the whole file so far."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with (
        api.reaching(),
        api.http.stream("GET", url, headers=headers, follow_redirects=True) as response,
    ):
        if response.status_code not in (200, 206):
            response.read()
            raise error_for(response, api.token)
        restarted = response.status_code == 200 and offset > 0
        if restarted:
            offset, digest = 0, hashlib.sha256()
        done = offset
        with partial.open("ab" if offset else "wb") as handle:
            for block in response.iter_bytes():  # as they arrive: a drop keeps them
                done += len(block)
                if done > size:
                    handle.close()
                    partial.unlink(missing_ok=True)
                    raise ChecksumMismatch(
                        f"{url} sent more than the {size} bytes the catalog declares; "
                        "the partial download was deleted.",
                        "Tell the channel's owner: the file does not match its record.",
                    )
                handle.write(block)
                digest.update(block)
                if progress:
                    progress(done, size)
    return restarted, done - offset, digest


def _check(partial: Path, actual: str, expected: str, size: int, model: str) -> None:
    """The pulled bytes are the catalog's, else the partial file goes."""
    length = partial.stat().st_size
    if length == size and actual == expected:
        return
    partial.unlink(missing_ok=True)
    what = f"{length} bytes instead of {size}" if length != size else f"sha256 {actual}"
    raise ChecksumMismatch(
        f"The download of {model} does not match the catalog ({what}; expected sha256 "
        f"{expected}). The partial download was deleted.",
        "Pull again; if it fails again, tell the channel's owner.",
    )
