"""Model mirrors: a mirror channel whose upstream is another Ophis server's model catalog,
``https://host/api/models?owner=alice`` (with the catalog's own filters if wanted:
``&task=embedding&quantization=Q8_0&q=&min_parameters=&max_parameters=``).

A sync lists the owner's models through the public API (``GET /api/models``, page by page,
then ``GET /api/models/<owner>/<name>``), with the mirror's upstream token when it has one,
so that the private models that token may read are mirrored too. Each variant is checked as
an upload's name is, downloaded with its size and sha256 checked against upstream's (a file
that does not match is deleted and reported), then inspected exactly as an upload is
(bounded header parse, the parameter count read from the weights) and added through
:func:`ophis.server.services.intake.ingest.add_file` into the mirror's label, under the
destination owner (whose channel's privacy it takes; a model read with the mirror's token
that upstream does not call public is stored private, so a token never publishes what it
alone could read). Upstream's word counts only where an
uploader's does: the summary, the task when the weights do not say, the license when the
file names none. A variant the label already holds with the same sha256 is not downloaded.

Every answer of upstream is bounded: JSON is read up to :data:`MAX_JSON_BYTES`, a variant
may be no larger than the server's ``max_upload_bytes``, and downloads come only from the
upstream's own origin. Variants upstream no longer lists (or the filters now leave out)
leave the label unless ``keep_removed``; nothing is removed when the listing was not read
whole, nor for a model whose variants could not be read.

The lease, the schedule and the summary's record are :mod:`.mirror_channels`'.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin, urlsplit, urlunsplit

import httpx
from sqlalchemy.orm import Session

from ophis.client.verified_download import FileDownload, download_client, download_verified
from ophis.core.distribution_types import DistributionType
from ophis.core.errors import OphisError
from ophis.core.model_files import model_format
from ophis.core.redaction import redact
from ophis.core.versions import check_conda_version
from ophis.server import outbound
from ophis.server.db.models import Account, ChannelMirror
from ophis.server.errors import BadRequest
from ophis.server.privacy import private_dir
from ophis.server.services.catalog import files
from ophis.server.services.channels import mirror_labels
from ophis.server.services.channels.models import MAX_PAGES, MAX_RESULTS
from ophis.server.services.intake import inspection, uploads
from ophis.server.settings import ServerSettings
from ophis.server.storage.interfaces import Storage

#: the path of the catalog's listing, below the upstream server's root
API_PATH = "/api/models"
#: the catalog's filters a model mirror's upstream URL may carry
CATALOG_FILTERS = ("q", "task", "quantization", "min_parameters", "max_parameters")
#: the most bytes of one JSON answer of upstream (a listing page, or one model) read
MAX_JSON_BYTES = 4 * 1024**2
#: the longest summary kept from upstream
MAX_SUMMARY = 1000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TELL_UPSTREAM = "Tell the upstream server's administrator; the variant was not mirrored."


def is_model_upstream(url: str) -> bool:
    """Does ``url`` name a model catalog (``.../api/models?...``) rather than a channel?"""
    return urlsplit(url).path.rstrip("/").endswith(API_PATH)


@dataclass(frozen=True)
class ModelUpstream:
    """A model mirror's upstream URL, read: where the server is, whose models, which ones."""

    root: str  #: scheme://host[/prefix]: where ``/api/models`` and the downloads are
    owner: str
    filters: tuple[tuple[str, str], ...] = ()

    @property
    def origin(self) -> tuple[str, str]:
        parts = urlsplit(self.root)
        return parts.scheme, parts.netloc

    @property
    def quantization(self) -> str:
        """The one quantization mirrored ("": every one)."""
        return dict(self.filters).get("quantization", "").upper()


def parse_upstream(url: str) -> ModelUpstream:
    """Read (and check) a model mirror's upstream URL, without its token."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest(
            f"{redact(url)!r} is not an http(s):// URL of a model catalog.",
            "Give https://HOST/api/models?owner=LOGIN.",
        )
    query = parse_qsl(parts.query)
    unknown = sorted({key for key, _ in query} - {"owner", *CATALOG_FILTERS})
    owners = [value for key, value in query if key == "owner"]
    if unknown or len(owners) != 1:
        what = f"takes no {', '.join(unknown)}" if unknown else "names no single owner"
        raise BadRequest(
            f"The model catalog URL {redact(url)!r} {what}.",
            "A model mirror follows one upstream owner's models: "
            "https://HOST/api/models?owner=LOGIN, with any of "
            f"{', '.join(CATALOG_FILTERS)} as filters.",
        )
    prefix = parts.path.rstrip("/")[: -len(API_PATH)]
    root = urlunsplit((parts.scheme, parts.netloc, prefix, "", ""))
    filters = tuple((key, value) for key, value in query if key in CATALOG_FILTERS and value)
    return ModelUpstream(root, owners[0], filters)


@dataclass(frozen=True)
class Variant:
    """One variant upstream lists, its names checked as an upload's are."""

    name: str
    version: str
    filename: str
    size: int
    sha256: str
    url: str
    #: what upstream says, taken as an uploader's word (MODEL_DECLARED)
    declared: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    #: whether anyone may read it upstream; a model read with the mirror's token that
    #: upstream does not call public stays private here
    public: bool = True

    @property
    def basename(self) -> str:
        return inspection.model_basename(self.name, self.version, self.filename)


def read_variant(
    upstream: ModelUpstream, model: dict[str, Any], entry: Any, max_bytes: int, *, token: bool
) -> Variant:
    """A variant of ``model`` as upstream describes it; BadRequest naming what is wrong.
    Read with a ``token``, a model is public only when upstream says so."""
    if not isinstance(entry, dict):
        raise BadRequest(f"{model['name']}: upstream lists a variant that is not an object.", "")
    name, basename = model["name"], str(entry.get("basename"))
    version = str(entry.get("version"))
    check_conda_version(version)
    uploads.check_model_basename(basename, name, version)
    filename = basename.rsplit("/", 1)[-1]
    if model_format(filename) is None:
        raise BadRequest(f"{basename!r} is not a GGUF or safetensors file.", _TELL_UPSTREAM)
    size, sha256 = entry.get("size"), str(entry.get("sha256")).lower()
    if type(size) is not int or not 0 < size <= max_bytes:
        raise BadRequest(
            f"{basename}: upstream declares a size of {size!r} bytes (at most {max_bytes}).",
            _TELL_UPSTREAM,
        )
    if not _SHA256.match(sha256):
        raise BadRequest(f"{basename}: upstream's sha256 is not 64 hex digits.", _TELL_UPSTREAM)
    url = urljoin(upstream.root + "/", str(entry.get("download_url")))
    if (urlsplit(url).scheme, urlsplit(url).netloc) != upstream.origin:
        raise BadRequest(
            f"{basename}: upstream's download URL is not on {upstream.root}.", _TELL_UPSTREAM
        )
    declared = {key: str(model.get(key) or "")[:200] for key in inspection.MODEL_DECLARED}
    summary = str(model.get("summary") or "")[:MAX_SUMMARY]
    public = not token or model.get("public") is True
    return Variant(name, version, filename, size, sha256, url, declared, summary, public)


@dataclass
class ModelSync:
    """One sync of a model mirror into ``owner``'s ``label``."""

    session: Session
    storage: Storage
    owner: Account
    label: str
    folder: Path
    upstream: ModelUpstream
    client: httpx.Client
    renew: Callable[..., None]
    max_bytes: int
    keep_removed: bool
    token: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)
    stored: int = 0
    received: int = 0
    removed: int = 0
    models: int = 0
    seconds: float = 0.0

    def run(self) -> None:
        names, whole = self._list_models()
        wanted: dict[str, Variant] = {}
        unread: set[str] = set()
        for name in names:
            self.renew()
            variants = self._variants(name)
            if variants is None:
                unread.add(name)
            else:
                wanted.update((variant.basename, variant) for variant in variants)
        self.models = len(names) - len(unread)
        for variant in wanted.values():
            self._mirror(variant)
            self.renew()
        if whole and not self.keep_removed:
            self._remove(set(wanted), unread)

    # --- upstream's catalog ---------------------------------------------------------------

    def _list_models(self) -> tuple[list[str], bool]:
        """The names of upstream's models, and whether the listing was read whole."""
        names: list[str] = []
        for page in range(1, MAX_PAGES + 1):
            params = [("owner", self.upstream.owner), *self.upstream.filters, ("page", str(page))]
            listed = self._json(API_PATH, params)
            if not isinstance(listed, list):
                raise BadRequest(f"{self._where(API_PATH)} is not a list of models.", "")
            for entry in listed:
                name = str(entry.get("name")) if isinstance(entry, dict) else ""
                try:
                    files.check_package_name(name)
                except OphisError as error:
                    self._failed(name or "?", error)
                    continue
                names.append(name)
            if len(listed) < MAX_RESULTS:
                return list(dict.fromkeys(names)), True
        return list(dict.fromkeys(names)), False

    def _variants(self, name: str) -> list[Variant] | None:
        """The model's variants to mirror, oldest first (None: it could not be read); a
        variant named or sized wrongly is reported and left out."""
        path = f"{API_PATH}/{quote(self.upstream.owner, safe='')}/{quote(name, safe='')}"
        try:
            model = self._json(path, [])
            if not isinstance(model, dict) or not isinstance(model.get("variants"), list):
                raise BadRequest(f"{self._where(path)} is not a model with its variants.", "")
        except OphisError as error:
            self._failed(name, error)
            return None
        model["name"] = name
        found = []
        for entry in model["variants"]:
            try:
                variant = read_variant(
                    self.upstream, model, entry, self.max_bytes, token=bool(self.token)
                )
            except OphisError as error:
                said = entry.get("basename") if isinstance(entry, dict) else None
                self._failed(str(said)[:300] if isinstance(said, str) else name, error)
                continue
            quantization = str(entry.get("quantization") or "").upper()
            if self.upstream.quantization in ("", quantization):
                found.append(variant)
        # upstream lists the newest first; added oldest first, the newest is the same here,
        # and so is the model's card (its newest variant's)
        return found[::-1]

    def _json(self, path: str, params: list[tuple[str, str]]) -> Any:
        """An upstream JSON answer, read up to MAX_JSON_BYTES."""
        where = self._where(path)
        try:
            with self.client.stream(
                "GET", self.upstream.root + path, params=params, follow_redirects=False
            ) as response:
                if response.status_code != 200:
                    raise BadRequest(
                        f"{where} answered HTTP {response.status_code}.",
                        "Check the upstream URL and, for private models, the mirror's token.",
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_JSON_BYTES:
                        raise BadRequest(
                            f"{where} answered more than {MAX_JSON_BYTES} bytes of JSON.",
                            "Tell the upstream server's administrator; nothing was mirrored "
                            "from that answer.",
                        )
        except httpx.HTTPError as error:
            raise BadRequest(
                f"{where} could not be reached: {redact(str(error), self.token)}",
                "Check the upstream URL and your network; the next sync tries again.",
            ) from None
        try:
            return json.loads(body)
        except ValueError:
            raise BadRequest(f"{where} did not answer JSON.", "Check the upstream URL.") from None

    def _where(self, path: str) -> str:
        return redact(self.upstream.root + path, self.token)

    # --- the label ------------------------------------------------------------------------

    def _mirror(self, variant: Variant) -> None:
        """One variant into the label: joined when the owner holds it already, else
        downloaded, checked and added. A failure is reported; nothing of it is stored."""
        existing = files.find_file(self.session, self.owner, variant.basename)
        try:
            if existing is not None and existing.sha256 == variant.sha256:
                if self.label not in {label.name for label in existing.labels}:
                    mirror_labels.join_label(self.session, self.owner, self.label, existing)
                    self.stored += 1
                return
            self._download_and_add(variant)
            self.stored += 1
        except OphisError as error:
            self.session.rollback()
            self._failed(variant.basename, error)

    def _download_and_add(self, variant: Variant) -> None:
        target = private_dir(self.folder / variant.sha256) / variant.filename
        try:
            download_verified(
                self.client,
                FileDownload(
                    url=variant.url,
                    request_url=variant.url,
                    target=target,
                    size=variant.size,
                    expected=("sha256", variant.sha256),
                ),
                self.renew,
                threading.Event(),
            )
            self.received += variant.size
            inspected = inspection.inspect_file(
                target, DistributionType.MODEL, variant.name, variant.version, variant.declared
            )
            inspected = dataclasses.replace(inspected, summary=variant.summary)
            mirror_labels.take_in(
                self.session,
                self.storage,
                self.owner,
                self.label,
                target,
                inspected,
                public=variant.public,
            )
        finally:
            shutil.rmtree(target.parent, ignore_errors=True)

    def _remove(self, wanted: set[str], unread: set[str]) -> None:
        query = mirror_labels.label_files(self.owner, self.label, DistributionType.MODEL)
        gone = [
            row.basename
            for row in self.session.scalars(query)
            if row.basename not in wanted and row.basename.split("/", 1)[0] not in unread
        ]
        self.removed = mirror_labels.leave_label(
            self.session, self.storage, self.owner, self.label, gone
        )

    def _failed(self, what: str, error: OphisError) -> None:
        self.failures.append(
            {"subdir": "", "filename": what, "error": redact(error.message, self.token)}
        )

    def summary(self, shown: int) -> dict[str, Any]:
        """The sync's summary, in the shape of a channel mirror's (``shown`` failures)."""
        return {
            "source": redact(f"{self.upstream.root}{API_PATH}?owner={self.upstream.owner}"),
            "files": self.stored,
            "bytes": self.received,
            "removed": self.removed,
            "packages": self.models,
            "failure_count": len(self.failures),
            "failures": self.failures[:shown],
            "seconds": round(self.seconds, 3),
        }


def sync_models(
    session: Session,
    storage: Storage,
    row: ChannelMirror,
    folder: Path,
    settings: ServerSettings,
    renew: Callable[..., None],
) -> ModelSync:
    """Sync the model mirror ``row`` (staging downloads in ``folder``); the finished sync,
    with its counts and failures. Raises when upstream's listing cannot be read."""
    started = time.monotonic()
    with download_client(transport=outbound.transport(settings)) as client:
        if row.upstream_token:
            client.headers["Authorization"] = f"token {row.upstream_token}"
        sync = ModelSync(
            session,
            storage,
            row.owner,
            row.label,
            folder / "models",
            parse_upstream(row.upstream),
            client,
            renew,
            settings.max_upload_bytes,
            keep_removed=bool((row.filters or {}).get("keep_removed")),
            token=row.upstream_token,
        )
        sync.run()
    sync.seconds = time.monotonic() - started
    return sync
