"""Package signatures in conda content trust's layout (conda-content-trust, ``conda.trust``).

Three roles, each an ed25519 key (raw 32-byte keys written as 64 lowercase hex digits):

- **root** signs ``N.root.json``, which delegates ``root`` (itself) and ``key_mgr`` to
  public keys with a threshold. It can stay offline: it signs only when the key_mgr key
  changes. Version N+1 must be signed by the keys version N trusts *and* by its own
  (root chaining); its signatures are OpenPGP-style ed25519 signatures (``other_headers``),
  the only kind conda-content-trust's ``verify_root`` counts.
- **key_mgr** signs ``key_mgr.json``, which delegates ``pkg_mgr`` to public keys.
- **pkg_mgr** signs each package's repodata record: repodata's ``signatures`` section maps
  ``<filename> -> {<pkg_mgr public key>: {"signature": <hex>}}``.

Every metadata file is an envelope ``{"signatures": {...}, "signed": {...}}`` and what is
signed is always :func:`canonical_json` of the ``signed`` part (json.dumps with indent 2 and
sorted keys, ASCII) -- so conda, conda-content-trust and this module verify each other's
signatures. A package's attestation (:func:`attestation_statement`) is an in-toto
statement in the same envelope, signed by pkg_mgr.

Pure: values in, values out; no files, no network.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ophis.core.errors import OphisError
from ophis.core.repodata import dumps as sorted_indented_json

#: conda-content-trust's SECURITY_METADATA_SPEC_VERSION
SPEC_VERSION = "0.6.0"
ROOT, KEY_MGR, PKG_MGR = "root", "key_mgr", "pkg_mgr"
KEY_MGR_FILE = "key_mgr.json"
ROOT_EXPIRY = timedelta(days=365)
KEY_MGR_EXPIRY = timedelta(days=365)
#: the in-toto statement type and conda's publish predicate (the sigstore-predicate CEP)
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PUBLISH_PREDICATE = "https://schemas.conda.org/attestations/publish/v1"
ATTESTATION_SUFFIX = ".sig.json"
_HEX = frozenset("0123456789abcdef")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class SignatureVerificationError(OphisError):
    """Signed metadata, a record or a package file fails its signature check."""

    exception_name = "SignatureError"


# --- keys ------------------------------------------------------------------------------------


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_hex(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return raw.hex()


def public_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def load_private(text: str) -> Ed25519PrivateKey:
    """A private key from its 64 hex digits (conda-content-trust's ``.pri`` text)."""
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(_check_hex(text.strip(), 64)))


def load_public(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(_check_hex(text, 64)))


def _check_hex(text: str, length: int) -> str:
    if len(text) != length or not set(text) <= _HEX:
        raise SignatureVerificationError(
            f"{text[:16]!r}... is not {length} lowercase hex digits.",
            "Keys are 64 and signatures 128 lowercase hex digits, as conda writes them.",
        )
    return text


# --- canonical form and signing ---------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """conda-content-trust's ``canonserialize``: ``json.dumps(indent=2, sort_keys=True)``.

    orjson writes the same bytes ten times faster for ASCII text without floats (what
    repodata records hold); anything else goes through the standard library, which escapes
    non-ASCII and writes floats as Python does."""
    data = sorted_indented_json(value)  # orjson, the layout conda-index writes
    if data.isascii() and not _has_float(value):
        return data
    return json.dumps(value, indent=2, sort_keys=True).encode()


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(map(_has_float, value.values()))
    if isinstance(value, list | tuple):
        return any(map(_has_float, value))
    return False


def sign(key: Ed25519PrivateKey, value: Any) -> dict[str, str]:
    """A raw ed25519 signature over ``value``'s canonical form, as conda writes it."""
    return {"signature": key.sign(canonical_json(value)).hex()}


def sign_openpgp(key: Ed25519PrivateKey, value: Any, when: int | None = None) -> dict[str, str]:
    """An OpenPGP-style ed25519 signature (RFC 4880 v4, as conda-content-trust verifies root
    signatures): the digest of the data, the signature's hashed headers and their trailer
    is signed. The hashed headers carry only the creation time."""
    created = int(time.time()) if when is None else when
    # version 4, binary document, EdDSA (22), SHA-256 (8), 6 bytes of hashed subpackets:
    # one "signature creation time" subpacket (length 5, type 2)
    headers = bytes([4, 0, 22, 8]) + struct.pack(">HBB", 6, 5, 2) + struct.pack(">I", created)
    return {
        "other_headers": headers.hex(),
        "signature": key.sign(_openpgp_digest(canonical_json(value), headers)).hex(),
    }


def _openpgp_digest(data: bytes, headers: bytes) -> bytes:
    trailer = b"\x04\xff" + struct.pack(">I", len(headers))
    return hashlib.sha256(data + headers + trailer).digest()


def envelope(signed: Mapping[str, Any], keys: Iterable[Ed25519PrivateKey] = ()) -> dict[str, Any]:
    """A signable ``{"signatures", "signed"}`` with raw signatures by ``keys``."""
    return {
        "signatures": {public_hex(key): sign(key, signed) for key in keys},
        "signed": dict(signed),
    }


def verify_signature(public: Ed25519PublicKey, signature: Mapping[str, Any], data: bytes) -> bool:
    """One signature (raw or OpenPGP-style) over ``data``'s canonical bytes."""
    try:
        raw = bytes.fromhex(_check_hex(signature["signature"], 128))
        headers = signature.get("other_headers")
        message = data if headers is None else _openpgp_digest(data, bytes.fromhex(headers))
        public.verify(raw, message)
    except (InvalidSignature, KeyError, TypeError, ValueError, SignatureVerificationError):
        return False
    return True


def verify_envelope(
    signable: Mapping[str, Any], pubkeys: Sequence[str], threshold: int, what: str
) -> None:
    """At least ``threshold`` good signatures by distinct keys among ``pubkeys`` over the
    canonical form of ``signable["signed"]`` (conda-content-trust's ``verify_signable``)."""
    signatures = signable.get("signatures") if isinstance(signable, Mapping) else None
    if not isinstance(signatures, Mapping) or "signed" not in signable:
        raise SignatureVerificationError(
            f"{what} is not signed metadata (no 'signatures' and 'signed').",
            "Fetch it again from the channel; if it stays so, the channel serves bad data.",
        )
    data = canonical_json(signable["signed"])
    good = {
        key
        for key, signature in signatures.items()
        if key in pubkeys
        and isinstance(signature, Mapping)
        and verify_signature(load_public(key), signature, data)
    }
    if threshold < 1 or len(good) < threshold:
        raise SignatureVerificationError(
            f"{what}: {len(good)} good signature(s) from trusted keys, {threshold} needed.",
            "The data was altered or signed by a key the channel does not trust; do not use "
            "it, and tell the channel's owner.",
        )


# --- delegating metadata (root.json, key_mgr.json) ------------------------------------------


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def delegating_metadata(
    kind: str,
    version: int,
    delegations: Mapping[str, Sequence[str]],
    expiry: timedelta,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The ``signed`` part of root.json or key_mgr.json (threshold 1 per role)."""
    moment = now or datetime.now(UTC)
    return {
        "delegations": {
            role: {"pubkeys": sorted(keys), "threshold": 1} for role, keys in delegations.items()
        },
        "expiration": utc_text(moment + expiry),
        "metadata_spec_version": SPEC_VERSION,
        "timestamp": utc_text(moment),
        "type": kind,
        "version": version,
    }


def build_root(
    version: int,
    root_keys: Sequence[Ed25519PrivateKey],
    key_mgr_pubkeys: Sequence[str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """``N.root.json``, signed (OpenPGP-style) by the root keys it names."""
    roots = [public_hex(key) for key in root_keys]
    signed = delegating_metadata(
        ROOT, version, {ROOT: roots, KEY_MGR: key_mgr_pubkeys}, ROOT_EXPIRY, now
    )
    signatures = {public_hex(key): sign_openpgp(key, signed) for key in root_keys}
    return {"signatures": signatures, "signed": signed}


def build_key_mgr(
    version: int,
    key_mgr_key: Ed25519PrivateKey,
    pkg_mgr_pubkeys: Sequence[str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """``key_mgr.json``: pkg_mgr's keys, signed by the key_mgr key."""
    signed = delegating_metadata(KEY_MGR, version, {PKG_MGR: pkg_mgr_pubkeys}, KEY_MGR_EXPIRY, now)
    return envelope(signed, [key_mgr_key])


def _delegation(metadata: Mapping[str, Any], role: str, what: str) -> tuple[list[str], int]:
    try:
        delegation = metadata["signed"]["delegations"][role]
        keys, threshold = list(delegation["pubkeys"]), int(delegation["threshold"])
    except (KeyError, TypeError, ValueError):
        raise SignatureVerificationError(
            f"{what} delegates no '{role}' role.",
            "The channel's trust metadata is incomplete; ask its owner to publish it again.",
        ) from None
    return keys, threshold


def check_current(metadata: Mapping[str, Any], what: str, now: datetime | None = None) -> None:
    """Metadata past its ``expiration`` is not trusted (a replayed old key list)."""
    try:
        expires = datetime.strptime(metadata["signed"]["expiration"], _TIME_FORMAT)
    except (KeyError, TypeError, ValueError):
        raise SignatureVerificationError(
            f"{what} has no valid expiration.", "Ask the channel's owner to publish it again."
        ) from None
    if expires.replace(tzinfo=UTC) <= (now or datetime.now(UTC)):
        raise SignatureVerificationError(
            f"{what} expired on {metadata['signed']['expiration']}.",
            "The channel's owner must sign new trust metadata ('ophis server keys rotate').",
        )


def verify_root(trusted: Mapping[str, Any], untrusted: Mapping[str, Any]) -> None:
    """Root chaining: version N+1 signed by enough of N's root keys and of its own."""
    trusted_version = trusted["signed"]["version"]
    what = f"{trusted_version + 1}.root.json"
    if untrusted.get("signed", {}).get("type") != ROOT:
        raise SignatureVerificationError(f"{what} is not root metadata.", "Fetch it again.")
    if untrusted["signed"].get("version") != trusted_version + 1:
        raise SignatureVerificationError(
            f"{what} says it is version {untrusted['signed'].get('version')}.",
            "Root versions must follow each other one at a time.",
        )
    verify_envelope(untrusted, *_delegation(trusted, ROOT, f"{trusted_version}.root.json"), what)
    verify_envelope(untrusted, *_delegation(untrusted, ROOT, what), what)


def verify_delegation(
    role: str, untrusted: Mapping[str, Any], trusted: Mapping[str, Any], what: str
) -> None:
    """``untrusted`` is signed by enough of the keys ``trusted`` delegates ``role`` to."""
    signed = untrusted.get("signed") if isinstance(untrusted, Mapping) else None
    kind = signed.get("type") if isinstance(signed, Mapping) else None
    if kind in (ROOT, KEY_MGR) and kind != role:
        raise SignatureVerificationError(
            f"{what} claims to be {kind} metadata, not {role}.",
            "Fetch it again from the channel.",
        )
    verify_envelope(untrusted, *_delegation(trusted, role, "the trusted metadata"), what)


# --- package records --------------------------------------------------------------------------


@dataclass(frozen=True)
class PkgMgrKeys:
    """The pkg_mgr keys a verified key_mgr.json delegates to, loaded once for many records."""

    keys: dict[str, Ed25519PublicKey]
    threshold: int

    @classmethod
    def from_key_mgr(cls, key_mgr: Mapping[str, Any]) -> PkgMgrKeys:
        pubkeys, threshold = _delegation(key_mgr, PKG_MGR, KEY_MGR_FILE)
        return cls({key: load_public(key) for key in pubkeys}, threshold)

    def verify(self, value: Any, signatures: Mapping[str, Any] | None, what: str) -> None:
        """``value`` (a repodata record, an attestation statement) carries enough good
        pkg_mgr signatures."""
        data = canonical_json(value)
        good = 0
        for key, signature in (signatures or {}).items():
            public = self.keys.get(key)
            if public is not None and isinstance(signature, Mapping):
                good += verify_signature(public, signature, data)
        if not signatures:
            raise SignatureVerificationError(
                f"{what} is not signed, and its channel requires signatures.",
                "Do not install it; ask the channel's owner to sign it "
                "('ophis server keys create' signs every file).",
            )
        if good < self.threshold:
            raise SignatureVerificationError(
                f"{what}: its signature does not match its metadata (tampered, or signed by "
                "a key the channel does not trust).",
                "Do not install it; fetch the channel again, and tell its owner if it persists.",
            )


def record_signatures(keys: Iterable[Ed25519PrivateKey], record: Any) -> dict[str, Any]:
    """A repodata ``signatures`` entry for one record."""
    return {public_hex(key): sign(key, record) for key in keys}


def sign_repodata(repodata: dict[str, Any], keys: Sequence[Ed25519PrivateKey]) -> dict[str, Any]:
    """``repodata`` with a ``signatures`` section over every record (conda-content-trust's
    ``sign_all_in_repodata``)."""
    signatures: dict[str, Any] = {}
    for section in ("packages", "packages.conda"):
        for filename, record in repodata.get(section, {}).items():
            signatures[filename] = record_signatures(keys, record)
    return {**repodata, "signatures": signatures}


# --- attestations -----------------------------------------------------------------------------


def attestation_statement(filename: str, sha256: str) -> dict[str, Any]:
    """An in-toto statement that ``filename`` is published with this sha256 (conda's
    publish predicate, without a target channel: the envelope is per channel anyway)."""
    return {
        "_type": STATEMENT_TYPE,
        "predicateType": PUBLISH_PREDICATE,
        "subject": [{"digest": {"sha256": sha256}, "name": filename}],
    }


def attestation(statement: Mapping[str, Any], signatures: Mapping[str, Any]) -> dict[str, Any]:
    return {"signatures": dict(signatures), "signed": dict(statement)}


def verify_attestation(
    document: Mapping[str, Any], filename: str, sha256: str, pkg_mgr: PkgMgrKeys
) -> None:
    """A ``<file>.sig.json`` is signed by pkg_mgr and names this file and digest."""
    what = f"{filename}{ATTESTATION_SUFFIX}"
    if document.get("signed") != attestation_statement(filename, sha256):
        raise SignatureVerificationError(
            f"{what} does not attest {filename} with sha256 {sha256}.",
            "The package or its attestation was altered; do not use the package.",
        )
    pkg_mgr.verify(document["signed"], document.get("signatures"), what)


def sha256_file_check(filename: str, actual: str, record: Mapping[str, Any]) -> None:
    """The package's bytes are the ones its signed record names."""
    expected = record.get("sha256")
    if not expected or expected != actual:
        raise SignatureVerificationError(
            f"{filename}: its sha256 {actual} is not the {expected} of its signed record "
            "(the package file was altered).",
            "Do not install it; delete it from the package cache and tell the channel's owner.",
        )
