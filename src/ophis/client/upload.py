"""Uploading package files to an Anaconda.org-compatible server, the way anaconda-client
does (stage, storage POST, commit): the transport behind ``ophis upload``.

The file is read twice (checksums, then the body) and streamed, never held in memory.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ophis.core.errors import OphisError
from ophis.core.package_file import file_digests, read_package
from ophis.core.python_dist import is_python_distribution, read_python_distribution


class UploadError(OphisError):
    exception_name = "UploadError"


@dataclass(frozen=True)
class Distribution:
    """What the upload needs to know of a file, read from the file itself."""

    path: Path
    name: str
    version: str
    basename: str
    distribution_type: str
    summary: str
    attrs: dict[str, Any]


def describe(path: Path) -> Distribution:
    if is_python_distribution(path.name):
        dist = read_python_distribution(path)
        attrs = {"packagetype": dist.packagetype, "python_version": "source"}
        return Distribution(path, dist.name, dist.version, path.name, "pypi", dist.summary, attrs)
    contents = read_package(path)
    index = contents.index
    subdir = index.get("subdir") or "noarch"
    return Distribution(
        path,
        index["name"],
        index["version"],
        f"{subdir}/{path.name}",
        "conda",
        str(contents.about.get("summary") or ""),
        {k: v for k, v in index.items() if k not in ("name", "version")},
    )


def upload(
    client: httpx.Client, owner: str, path: Path, *, labels: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Upload one file to ``owner``'s channel; ``client`` has the API base URL and token.
    Returns the commit's answer."""
    dist = describe(path)
    coordinates = f"{owner}/{quote(dist.name)}/{quote(dist.version)}"
    _ensure(client, f"/package/{owner}/{quote(dist.name)}", _package_body(dist))
    _ensure(client, f"/release/{coordinates}", {"summary": dist.summary, "requirements": []})
    size, md5, sha256 = file_digests(path)
    target = f"{coordinates}/{quote(dist.basename, safe='/')}"
    staged = _checked(
        client.post(
            f"/stage/{target}",
            json={
                "distribution_type": dist.distribution_type,
                "attrs": dist.attrs,
                "channels": list(labels),
                "sha256": sha256,
                "description": None,
                "dependencies": {},
            },
        ),
        200,
    )
    _store(client, staged, path, md5, size)
    return _checked(client.post(f"/commit/{target}", json={"dist_id": staged["dist_id"]}), 200)


def _package_body(dist: Distribution) -> dict[str, Any]:
    attrs = {"summary": dist.summary, "package_types": [dist.distribution_type]}
    return {"public": True, "publish": False, "public_attrs": attrs}


def _ensure(client: httpx.Client, path: str, body: dict[str, Any]) -> None:
    if client.get(path).status_code == 404:
        _checked(client.post(path, json=body), 200)


def _store(client: httpx.Client, staged: dict[str, Any], path: Path, md5: bytes, size: int) -> None:
    """The storage POST: authorised by its form data alone, so the token is not sent (the
    URL may be another host's); the client's connection pool is reused."""
    fields = {
        **staged["form_data"],
        "Content-Length": str(size),
        "Content-MD5": base64.b64encode(bytes.fromhex(md5)).decode(),
    }
    with path.open("rb") as handle:
        request = client.build_request(
            "POST", staged["post_url"], data=fields, files={"file": (path.name, handle)}
        )
        request.headers.pop("Authorization", None)
        response = client.send(request)
    if response.status_code != 201:
        raise UploadError(
            f"The server refused the file {path.name} ({response.status_code}): {response.text}",
            "Check the file and upload it again.",
        )


def _checked(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise UploadError(
            f"{response.request.method} {response.request.url.path} failed "
            f"({response.status_code}): {message}",
            "Check the token, the owner and the file, then upload again.",
        )
    return response.json()
