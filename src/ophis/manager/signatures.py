"""Checking package signatures before an install (conda content trust).

Which channels are checked:

- ``ophis_require_signatures: [CHANNEL, ...]`` (Ophis's setting): every package from those
  channels must be signed; their trust metadata is read from the channel's own URL
  (``<channel>/1.root.json``, ``<channel>/key_mgr.json``), as an Ophis server serves it.
- ``extra_safety_checks: true`` with ``signing_metadata_url_base`` (conda's settings):
  packages whose repodata carries signatures are checked against the metadata at that URL,
  unsigned ones pass (as in conda) -- unless their channel is also in the list above.

The chain: the trusted root (``<av_data_dir>/[<channel>/]N.root.json``; the first one is
fetched and kept on first use unless placed there beforehand, later versions must chain
from it) → ``key_mgr.json`` (signed by the keys root delegates key_mgr to, not expired) →
the pkg_mgr keys it names → each solved record's signature in its ``repodata.json``, over
the raw record the solver read. The record used must agree with the signed one (name,
version, build, hashes, size, dependencies), so the sha256 the download is checked
against is the signed one: a package file with one byte changed is refused there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import rattler

from ophis.core.atomic_file import write_atomic
from ophis.core.channel import Channel
from ophis.manager.records import channel_for
from ophis.manager.signature_policy import Checked, SignaturePolicy, policy_for
from ophis.security import signing
from ophis.security.signing import SignatureVerificationError

__all__ = ["Checked", "SignaturePolicy", "policy_for", "trusted_pkg_mgr", "verify_records"]

_ROOT_FILE = re.compile(r"^(\d+)\.root\.json$")
#: the record fields the solved record must share with the signed one
_COMPARED = ("name", "version", "build", "build_number", "sha256", "md5", "size", "subdir")
_TIMEOUT = 30.0


def verify_records(
    records: Iterable[rattler.RepoDataRecord],
    channels: Sequence[Channel],
    repodata: Mapping[tuple[str, str], Path],
    policy: SignaturePolicy,
) -> int:
    """Check every record of a checked channel against its signed repodata record;
    raises :class:`SignatureVerificationError` naming the file. Returns how many records
    were verified."""
    if not policy.active:
        return 0
    documents: dict[tuple[str, str], dict[str, Any]] = {}
    keys: dict[str, signing.PkgMgrKeys] = {}
    verified = 0
    with httpx.Client(timeout=_TIMEOUT, follow_redirects=True) as client:
        for record in records:
            channel = channel_for(record, channels)
            checked = policy.for_channel(channel) if channel is not None else None
            if channel is None or checked is None:
                continue
            where = (channel.base_url, record.subdir)
            if where not in documents:
                documents[where] = _load(repodata.get(where))
            raw, signatures = _signed_entry(documents[where], record.file_name)
            what = f"{record.file_name} (from {channel.redacted_url}/{record.subdir})"
            if raw is None:
                raise SignatureVerificationError(
                    f"{what} is not in the channel's repodata.json.",
                    "Run the command again to refetch the channel's index.",
                )
            if not signatures and not checked.required:
                continue
            if checked.metadata_url not in keys:
                keys[checked.metadata_url] = trusted_pkg_mgr(client, checked)
            keys[checked.metadata_url].verify(raw, signatures, what)
            _same_record(record, raw, what)
            verified += 1
    return verified


def _load(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def _signed_entry(document: Mapping[str, Any], filename: str) -> tuple[Any, Any]:
    for section in ("packages.conda", "packages"):
        raw = document.get(section, {}).get(filename)
        if raw is not None:
            return raw, document.get("signatures", {}).get(filename)
    return None, None


def _same_record(record: rattler.RepoDataRecord, raw: Mapping[str, Any], what: str) -> None:
    """The record the solver used names the signed record's package and bytes (its
    dependencies may differ: the solver adds pip to python's, as conda does)."""
    used = json.loads(record.to_json())
    differing = [key for key in _COMPARED if key in raw and used.get(key) != raw[key]]
    if differing:
        raise SignatureVerificationError(
            f"{what}: the record used differs from the signed record in {', '.join(differing)}.",
            "Do not install it; refetch the channel's index and tell its owner if it persists.",
        )


# --- trust metadata ---------------------------------------------------------------------------


def trusted_pkg_mgr(client: httpx.Client, checked: Checked) -> signing.PkgMgrKeys:
    """The pkg_mgr keys of a verified chain root → key_mgr for one metadata URL."""
    root = _trusted_root(client, checked)
    what = f"{checked.metadata_url}/{signing.KEY_MGR_FILE}"
    key_mgr = _fetch(client, checked, signing.KEY_MGR_FILE)
    cached = checked.trust_dir / signing.KEY_MGR_FILE
    if key_mgr is None and cached.is_file():  # unreachable: the copy verified last time
        key_mgr = json.loads(cached.read_text())
    if key_mgr is None:
        raise SignatureVerificationError(
            f"{what} is missing, so no package of that channel can be verified.",
            "The channel is not signed: ask its owner to run 'ophis server keys create', or "
            "remove the channel from ophis_require_signatures.",
        )
    try:
        signing.verify_delegation(signing.KEY_MGR, key_mgr, root, what)
    except SignatureVerificationError as error:
        raise SignatureVerificationError(
            f"{error.message} (checked against the root kept in {checked.trust_dir})",
            "If the channel's owner really replaced its root key, delete that folder to "
            "trust the new root; otherwise someone is serving forged keys: do not install.",
        ) from None
    signing.check_current(key_mgr, what)
    write_atomic(cached, signing.canonical_json(key_mgr))
    return signing.PkgMgrKeys.from_key_mgr(key_mgr)


def _trusted_root(client: httpx.Client, checked: Checked) -> dict[str, Any]:
    """The newest trusted root: the kept one (or, on first use, version 1 from the
    channel), then each newer version the channel offers, verified one step at a time."""
    trusted = _kept_root(checked.trust_dir)
    if trusted is None:
        first = _fetch(client, checked, "1.root.json")
        if first is None:
            raise SignatureVerificationError(
                f"{checked.metadata_url}/1.root.json is missing: the channel has no root of trust.",
                "Its owner must sign root metadata ('ophis server keys sign-key-mgr' and "
                "'add-root'), or place a trusted 1.root.json in "
                f"{checked.trust_dir}.",
            )
        signing.verify_root(_version_zero(first), first)  # signed by the keys it names
        trusted = _keep(checked.trust_dir, first)
    while newer := _fetch(client, checked, f"{trusted['signed']['version'] + 1}.root.json"):
        signing.verify_root(trusted, newer)
        trusted = _keep(checked.trust_dir, newer)
    signing.check_current(trusted, f"{checked.metadata_url} root metadata")
    return trusted


def _version_zero(root: dict[str, Any]) -> dict[str, Any]:
    return {"signed": {**root.get("signed", {}), "version": 0}, "signatures": {}}


def _kept_root(folder: Path) -> dict[str, Any] | None:
    versions = sorted(
        (int(match.group(1)), path)
        for path in (folder.iterdir() if folder.is_dir() else ())
        if (match := _ROOT_FILE.match(path.name))
    )
    return json.loads(versions[-1][1].read_text()) if versions else None


def _keep(folder: Path, root: dict[str, Any]) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / f"{root['signed']['version']}.root.json", signing.canonical_json(root))
    return root


def _fetch(client: httpx.Client, checked: Checked, filename: str) -> dict[str, Any] | None:
    """A trust metadata file, or None when the channel has none (404) or we are offline."""
    if checked.offline:
        return None
    url = f"{checked.metadata_url}/{filename}"
    try:
        response = client.get(url)
    except httpx.HTTPError as error:
        if filename == signing.KEY_MGR_FILE:
            return None  # the kept copy is used
        raise SignatureVerificationError(
            f"Could not fetch {filename} from the channel's signing metadata: "
            f"{type(error).__name__}.",
            "Check your network, then run the command again.",
        ) from None
    if response.status_code == 404:
        return None
    try:
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPStatusError, ValueError):
        raise SignatureVerificationError(
            f"{filename} from the channel's signing metadata is unreadable "
            f"(HTTP {response.status_code}).",
            "Run the command again later, or tell the channel's owner.",
        ) from None
    return document if isinstance(document, dict) else None
