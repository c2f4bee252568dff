"""Uploading package files to an Anaconda.org-compatible server, the way anaconda-client
does (stage, storage POST, commit): the transport behind ``ophis upload``.

Each file is checked locally first (the Foundation's package checks), then uploaded unless
the server already has it: ``GET /dist`` answers with the file's sha256, so running an
interrupted upload again sends only what is missing. The server verifies the sha256 given
at staging against the bytes it receives. Files are streamed, never held in memory, a few
at a time over one connection pool.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ophis.client.api import ApiClient, checked
from ophis.core import project_archive
from ophis.core.errors import OphisError
from ophis.core.package_file import file_digests, read_package
from ophis.core.python_dist import is_python_distribution, read_python_distribution
from ophis.core.redaction import redact

#: what to do with a file the server already has under a different sha256
FAIL, SKIP, FORCE = "fail", "skip", "force"
MAIN = "main"
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


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
    size: int
    md5: str
    sha256: str


def describe(path: Path) -> Distribution:
    """Read and check ``path`` (a conda package, a wheel or an sdist); raises
    InvalidPackageError naming what is wrong with it."""
    if project_archive.is_project_archive(path.name):
        facts = project_archive.read_facts(path.read_bytes(), path.name)
        size, md5, sha256 = file_digests(path)
        return Distribution(
            path,
            facts.name,
            facts.version,
            path.name,
            "project",
            facts.summary,
            {},
            size,
            md5,
            sha256,
        )
    if is_python_distribution(path.name):
        dist = read_python_distribution(path)
        attrs = {"packagetype": dist.packagetype, "python_version": "source"}
        size, md5, sha256 = file_digests(path)
        return Distribution(
            path, dist.name, dist.version, path.name, "pypi", dist.summary, attrs, size, md5, sha256
        )
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
        contents.size,
        contents.md5,
        contents.sha256,
    )


@dataclass(frozen=True)
class UploadOptions:
    labels: tuple[str, ...] = ()
    #: FAIL, SKIP or FORCE for a file already there with other contents
    on_existing: str = FAIL
    #: new packages are created public (an existing package keeps its access)
    public: bool = True


@dataclass(frozen=True)
class Uploaded:
    distribution: Distribution
    owner: str
    #: "uploaded", "replaced", "exists" (same sha256: not sent again) or "skipped"
    status: str
    #: the file as the server describes it (``labels``, ``sha256``, ...)
    file: dict[str, Any]


class Uploader:
    """Uploads files to one owner; safe to call from several threads (a package or release
    is created once, by whichever thread needs it first)."""

    def __init__(
        self, client: httpx.Client, owner: str, options: UploadOptions = UploadOptions()
    ) -> None:
        self._client = client
        self._owner = owner
        self._options = options
        self._token = client.headers.get("authorization", "").removeprefix("token ") or None
        #: package and release paths known to exist
        self._ensured: set[str] = set()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def upload(self, dist: Distribution) -> Uploaded:
        coordinates = f"{quote(self._owner)}/{quote(dist.name)}/{quote(dist.version)}"
        target = f"{coordinates}/{quote(dist.basename, safe='/')}"
        status = "uploaded"
        existing = self._existing(target)
        if existing is not None:
            if existing.get("sha256") == dist.sha256 and self._options.on_existing != FORCE:
                return Uploaded(dist, self._owner, "exists", self._labelled(dist, existing))
            if self._options.on_existing == SKIP:
                return Uploaded(dist, self._owner, "skipped", existing)
            if self._options.on_existing == FAIL:
                raise UploadError(
                    f"{self._owner} already has {dist.basename} {dist.version} with other "
                    "contents (another sha256).",
                    "Replace it with --force, or keep it with --skip-existing.",
                )
            self._checked(self._client.delete(f"/dist/{target}"), 200)
            status = "replaced"
        self._ensure(f"/package/{coordinates.rsplit('/', 1)[0]}", self._package_body(dist))
        self._ensure(f"/release/{coordinates}", {"summary": dist.summary, "requirements": []})
        staged = self._checked(
            self._client.post(f"/stage/{target}", json=self._stage_body(dist)), 200
        )
        self._store(staged, dist)
        body = {"dist_id": staged["dist_id"]}
        committed = self._checked(self._client.post(f"/commit/{target}", json=body), 200)
        return Uploaded(dist, self._owner, status, committed)

    def _existing(self, target: str) -> dict[str, Any] | None:
        response = self._client.get(f"/dist/{target}")
        return None if response.status_code == 404 else self._checked(response, 200)

    def _labelled(self, dist: Distribution, existing: dict[str, Any]) -> dict[str, Any]:
        """The file already there, given the labels this upload asks for."""
        labels = existing.get("labels") or []
        selection = {"package": dist.name, "version": dist.version, "basename": dist.basename}
        for label in self._options.labels or (MAIN,):
            if label not in labels:
                path = f"/channels/{quote(self._owner)}/{quote(label)}"
                self._checked(self._client.post(path, json=selection), 201)
                labels = [*labels, label]
        return {**existing, "labels": sorted(labels)}

    def _package_body(self, dist: Distribution) -> dict[str, Any]:
        attrs = {"summary": dist.summary, "package_types": [dist.distribution_type]}
        return {"public": self._options.public, "publish": False, "public_attrs": attrs}

    def _stage_body(self, dist: Distribution) -> dict[str, Any]:
        return {
            "distribution_type": dist.distribution_type,
            "attrs": dist.attrs,
            "channels": list(self._options.labels),
            "sha256": dist.sha256,
            "description": None,
            "dependencies": {},
        }

    def _ensure(self, path: str, body: dict[str, Any]) -> None:
        """Create the package or release at ``path`` unless it exists (asked once per run;
        creating outright, 409 meaning "there already", saves a request per file)."""
        with self._guard:
            lock = self._locks.setdefault(path, threading.Lock())
        with lock:
            if path in self._ensured:
                return
            response = self._client.post(path, json=body)
            if response.status_code != 409:
                self._checked(response, 200)
            self._ensured.add(path)

    def _store(self, staged: dict[str, Any], dist: Distribution) -> None:
        """The storage POST: authorised by its form data alone, so the token is not sent (the
        URL may be another host's); the client's connection pool is reused."""
        fields = {
            **staged["form_data"],
            "Content-Length": str(dist.size),
            "Content-MD5": base64.b64encode(bytes.fromhex(dist.md5)).decode(),
        }
        with dist.path.open("rb") as handle:
            request = self._client.build_request(
                "POST", staged["post_url"], data=fields, files={"file": (dist.path.name, handle)}
            )
            request.headers.pop("Authorization", None)
            response = self._client.send(request)
        if response.status_code != 201:
            said = _XML_MESSAGE.search(response.text)
            raise UploadError(
                f"The server refused the file {dist.path.name} ({response.status_code}): "
                + redact(said.group(1) if said else response.text[:500], self._token),
                "Check the file and upload it again.",
            )

    def _checked(self, response: httpx.Response, status: int) -> Any:
        return checked(response, status, self._token)


def upload(
    client: httpx.Client, owner: str, path: Path, options: UploadOptions = UploadOptions()
) -> Uploaded:
    """Upload one file to ``owner``'s channel; ``client`` has the API base URL and token."""
    return Uploader(client, owner, options).upload(describe(path))


@dataclass
class UploadReport:
    owner: str
    #: the server's conda and pip index roots, for the install commands
    site: dict[str, Any]
    done: list[Uploaded] = field(default_factory=list)
    failed: list[tuple[Path, OphisError]] = field(default_factory=list)

    def install_command(self, item: Uploaded) -> str:
        """Where ``item`` installs from, as a command to copy."""
        dist = item.distribution
        if dist.distribution_type == "pypi":
            index = f"{self.site['pypi_url']}/{item.owner}/simple"
            return f"pip install --index-url {index} {dist.name}"
        labels = sorted(item.file.get("labels") or [MAIN])
        channel = f"{self.site['conda_url']}/{item.owner}"
        if MAIN not in labels:
            channel += f"/label/{labels[0]}"
        return f"ophis install -c {channel} {dist.name}"


def upload_files(
    api: ApiClient,
    dists: Sequence[Distribution],
    owner: str | None = None,
    options: UploadOptions = UploadOptions(),
    *,
    parallel: int = 4,
    progress: Callable[[str, int, int], None] = lambda *_: None,
) -> UploadReport:
    """Upload checked files (see :func:`describe`) to ``owner`` (default: the caller), a few
    at a time. A file that fails is reported with its error; the others go on."""
    owner = api.account(owner)["login"] if owner else api.login_name()
    report = UploadReport(owner, api.site())
    uploader = Uploader(api.http, owner, options)
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {pool.submit(_one, api, uploader, dist): dist for dist in dists}
        for done, future in enumerate(as_completed(futures), 1):
            dist = futures[future]
            outcome = future.result()
            if isinstance(outcome, OphisError):
                report.failed.append((dist.path, outcome))
            else:
                report.done.append(outcome)
            progress(dist.path.name, done, len(dists))
    order = {dist.path: i for i, dist in enumerate(dists)}
    report.done.sort(key=lambda item: order[item.distribution.path])
    return report


def _one(api: ApiClient, uploader: Uploader, dist: Distribution) -> Uploaded | OphisError:
    try:
        with api.reaching():
            return uploader.upload(dist)
    except OphisError as error:
        return error
