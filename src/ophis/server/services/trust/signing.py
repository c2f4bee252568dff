"""A channel's signing keys, its trust metadata and the signatures of its files.

Each owner (each channel) may have a **key_mgr** and a **pkg_mgr** ed25519 key
(:mod:`ophis.security.signing` has the format). The **root** key stays with the owner,
offline: it signs ``N.root.json`` (naming the key_mgr key), which is brought to the server
with :func:`add_root`. The server signs ``key_mgr.json`` (naming the pkg_mgr keys) and, on
every upload, the new file's repodata record and attestation (:func:`sign_file`, called
where a file's rows are recorded).

Private keys live in the database, encrypted with AES-256-GCM under a 32-byte secret in
``<data-dir>/signing.secret`` (mode 0600, created on first use): every worker reads the
keys from the one database, while exports, backups and a leaked database carry no usable
private key. Servers sharing a database share that file too.

Rotation (:func:`rotate`): a new pkg_mgr key signs every file; the old one stays in
``key_mgr.json`` (``retiring``) so that repodata clients cached keeps verifying, until
:func:`retire` drops it and its signatures.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ophis.core.distribution_types import DistributionType
from ophis.security import signing
from ophis.server.db.models import (
    Account,
    ChannelRevision,
    ChannelSigning,
    File,
    FileSignature,
    SigningKey,
    TrustMetadata,
)
from ophis.server.errors import BadRequest, Conflict, NotFound, ServerError
from ophis.server.services.accounts.accounts import get_account
from ophis.server.services.catalog.files import bump

SECRET_FILE = "signing.secret"
ACTIVE, RETIRING, RETIRED = "active", "retiring", "retired"
KEY_MGR_FILE = signing.KEY_MGR_FILE


class SigningUnavailable(ServerError):
    exception_name = "SigningUnavailable"


# --- the secret that encrypts private keys ---------------------------------------------------


def configure(sessions: Any, data_dir: Path) -> None:
    """Let services reach the signing secret through their sessions (``session.info``)."""
    sessions.configure(info={"signing_secret": data_dir / SECRET_FILE})


def _secret(session: Session) -> bytes:
    path = session.info.get("signing_secret")
    if path is None:
        raise SigningUnavailable(
            "This server process has no signing secret configured.",
            "Open the server through ServerContext (ophis server start), which sets it.",
        )
    try:
        return bytes.fromhex(Path(path).read_text().strip())
    except FileNotFoundError:
        pass
    # O_EXCL: two workers creating it at once keep one secret
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(Path(path).read_text().strip())
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(Path(path).read_text().strip())


def _encrypt(secret: bytes, key: Ed25519PrivateKey) -> str:
    nonce = secrets.token_bytes(12)
    raw = bytes.fromhex(signing.private_hex(key))
    # the public key as associated data: a ciphertext cannot be moved to another row
    return (nonce + AESGCM(secret).encrypt(nonce, raw, signing.public_hex(key).encode())).hex()


def _decrypt(secret: bytes, row: SigningKey) -> Ed25519PrivateKey:
    blob = bytes.fromhex(row.private_key)
    try:
        raw = AESGCM(secret).decrypt(blob[:12], blob[12:], row.public_key.encode())
    except InvalidTag:
        raise SigningUnavailable(
            f"The private key {row.public_key[:16]}... cannot be decrypted with this "
            f"server's {SECRET_FILE}.",
            f"Copy {SECRET_FILE} from the data directory of the server that created the "
            "keys (every server of one database needs the same file).",
        ) from None
    return signing.load_private(raw.hex())


# --- keys and trust metadata -----------------------------------------------------------------


@dataclass(frozen=True)
class KeyInfo:
    owner: str
    role: str
    public_key: str
    state: str
    created_at: str

    def to_json(self) -> dict[str, str]:
        return dict(self.__dict__)


def _keys(session: Session, owner: Account, role: str, *states: str) -> list[SigningKey]:
    query = select(SigningKey).where(SigningKey.owner_id == owner.id, SigningKey.role == role)
    query = query.where(SigningKey.state.in_(states or (ACTIVE,)))
    return list(session.scalars(query.order_by(SigningKey.id)))


def _new_key(session: Session, owner: Account, role: str) -> Ed25519PrivateKey:
    key = signing.generate_key()
    session.add(
        SigningKey(
            owner_id=owner.id,
            role=role,
            public_key=signing.public_hex(key),
            private_key=_encrypt(_secret(session), key),
        )
    )
    return key


def _settings(session: Session, owner: Account) -> ChannelSigning:
    row = session.get(ChannelSigning, owner.id)
    if row is None:
        row = ChannelSigning(owner_id=owner.id, require_signatures=False, generation=0)
        session.add(row)
        session.flush()
    return row


def create_keys(
    session: Session, login: str, root_key: Ed25519PrivateKey | None = None
) -> dict[str, Any]:
    """New key_mgr and pkg_mgr keys for ``login``'s channel; every conda file it has is
    signed. With ``root_key`` (read from the owner's file, never stored) ``1.root.json`` is
    signed too; else the owner signs it offline (:func:`signing_request`)."""
    owner = get_account(session, login)
    if _keys(session, owner, signing.KEY_MGR, ACTIVE):
        raise Conflict(
            f"{owner.login} already has signing keys.",
            f"Use 'ophis server keys rotate {owner.login}' for a new pkg_mgr key.",
        )
    key_mgr = _new_key(session, owner, signing.KEY_MGR)
    _new_key(session, owner, signing.PKG_MGR)
    session.flush()
    _publish_key_mgr(session, owner, key_mgr)
    if root_key is not None:
        _store_root(session, owner, _next_root(session, owner, root_key))
    signed = _resign_all(session, owner)
    session.commit()
    return {**signing_request(session, login), "signed_files": signed}


def rotate(session: Session, login: str) -> dict[str, Any]:
    """A new pkg_mgr key: ``key_mgr.json`` delegates to it and to the previous one
    (``retiring``), and every file is signed by the new key as well."""
    owner = get_account(session, login)
    key_mgr_rows = _keys(session, owner, signing.KEY_MGR)
    if not key_mgr_rows:
        raise NotFound(f"{owner.login} has no signing keys.", _CREATE.format(owner.login))
    session.execute(
        update(SigningKey)
        .where(SigningKey.owner_id == owner.id, SigningKey.role == signing.PKG_MGR)
        .where(SigningKey.state == ACTIVE)
        .values(state=RETIRING)
    )
    _new_key(session, owner, signing.PKG_MGR)
    session.flush()
    _publish_key_mgr(session, owner, _decrypt(_secret(session), key_mgr_rows[0]))
    signed = _resign_all(session, owner)
    session.commit()
    return {**signing_request(session, login), "signed_files": signed}


def retire(session: Session, login: str) -> dict[str, Any]:
    """Drop the retiring pkg_mgr keys: out of ``key_mgr.json``, their signatures deleted
    and their private halves erased."""
    owner = get_account(session, login)
    key_mgr_rows = _keys(session, owner, signing.KEY_MGR)
    if not key_mgr_rows:
        raise NotFound(f"{owner.login} has no signing keys.", _CREATE.format(owner.login))
    old = _keys(session, owner, signing.PKG_MGR, RETIRING)
    if old:
        _resign_all(session, owner)  # a file uploaded during the rotation has only the old key
        gone = [row.public_key for row in old]
        owned = select(File.id).where(File.owner_id == owner.id)
        session.execute(
            delete(FileSignature).where(
                FileSignature.public_key.in_(gone), FileSignature.file_id.in_(owned)
            )
        )
        for row in old:
            row.state, row.private_key = RETIRED, ""
        session.flush()
        _publish_key_mgr(session, owner, _decrypt(_secret(session), key_mgr_rows[0]))
        _changed(session, owner)
    session.commit()
    return {**signing_request(session, login), "retired": [row.public_key for row in old]}


_CREATE = "Create them with 'ophis server keys create {}'."


def _publish_key_mgr(session: Session, owner: Account, key_mgr: Ed25519PrivateKey) -> None:
    delegated = _keys(session, owner, signing.PKG_MGR, ACTIVE, RETIRING)
    current = _metadata(session, owner, KEY_MGR_FILE)
    version = current["signed"]["version"] + 1 if current else 1
    document = signing.build_key_mgr(version, key_mgr, [row.public_key for row in delegated])
    _store(session, owner, KEY_MGR_FILE, document)


def _metadata(session: Session, owner: Account, filename: str) -> dict[str, Any] | None:
    row = session.scalar(
        select(TrustMetadata).where(
            TrustMetadata.owner_id == owner.id, TrustMetadata.filename == filename
        )
    )
    return json.loads(row.body) if row is not None else None


def _store(session: Session, owner: Account, filename: str, document: dict[str, Any]) -> None:
    body = signing.canonical_json(document).decode()
    row = session.scalar(
        select(TrustMetadata).where(
            TrustMetadata.owner_id == owner.id, TrustMetadata.filename == filename
        )
    )
    if row is None:
        session.add(TrustMetadata(owner_id=owner.id, filename=filename, body=body))
    else:
        row.body = body
    session.flush()


def _root_versions(session: Session, owner: Account) -> list[int]:
    names = session.scalars(
        select(TrustMetadata.filename).where(
            TrustMetadata.owner_id == owner.id, TrustMetadata.filename.like("%.root.json")
        )
    )
    return sorted(int(name.split(".", 1)[0]) for name in names)


def latest_root(session: Session, owner: Account) -> dict[str, Any] | None:
    versions = _root_versions(session, owner)
    return _metadata(session, owner, f"{versions[-1]}.root.json") if versions else None


def _next_root(session: Session, owner: Account, root_key: Ed25519PrivateKey) -> dict[str, Any]:
    previous = latest_root(session, owner)
    version = previous["signed"]["version"] + 1 if previous else 1
    key_mgr = [row.public_key for row in _keys(session, owner, signing.KEY_MGR)]
    return signing.build_root(version, [root_key], key_mgr)


def _store_root(session: Session, owner: Account, root: dict[str, Any]) -> None:
    _store(session, owner, f"{root['signed']['version']}.root.json", root)


def add_root(session: Session, login: str, root: dict[str, Any]) -> dict[str, Any]:
    """Publish a root.json the owner signed offline: version 1 must be signed by the root
    keys it names, a later one by the previous version's too; and it must delegate key_mgr
    to this channel's key_mgr key."""
    owner = get_account(session, login)
    previous = latest_root(session, owner)
    try:
        if previous is None:
            if root.get("signed", {}).get("version") != 1:
                raise signing.SignatureVerificationError(
                    "The channel's first root metadata must be version 1.",
                    "Sign it with 'ophis server keys sign-key-mgr' without --root-json.",
                )
            signing.verify_root(_unsigned_zero(root), root)
        else:
            signing.verify_root(previous, root)
        signing.check_current(root, "root.json")
    except (KeyError, TypeError) as error:
        raise BadRequest(f"That is not root metadata ({error}).", _SIGN_OFFLINE) from None
    except signing.SignatureVerificationError as error:
        raise BadRequest(error.message, error.remedy) from None
    delegated = set(root["signed"]["delegations"].get(signing.KEY_MGR, {}).get("pubkeys", []))
    mine = {row.public_key for row in _keys(session, owner, signing.KEY_MGR)}
    if not mine or not mine <= delegated:
        raise BadRequest(
            f"That root.json does not delegate key_mgr to {owner.login}'s key_mgr key.",
            _SIGN_OFFLINE,
        )
    _store_root(session, owner, root)
    session.commit()
    return signing_request(session, login)


_SIGN_OFFLINE = (
    "Export the request with 'ophis server keys export-public OWNER', sign it with "
    "'ophis server keys sign-key-mgr', and add the root.json it writes."
)


def _unsigned_zero(root: dict[str, Any]) -> dict[str, Any]:
    """A stand-in version 0 that trusts the root keys version 1 names: version 1 is
    checked against itself (conda trusts the first root as given, too)."""
    return {"signed": {**root["signed"], "version": 0}, "signatures": {}}


def signing_request(session: Session, login: str) -> dict[str, Any]:
    """The public half of a channel's signing: its keys, and its current trust metadata;
    what the owner's offline root step reads."""
    owner = get_account(session, login)
    settings = session.get(ChannelSigning, owner.id)
    return {
        "owner": owner.login,
        "key_mgr": [row.public_key for row in _keys(session, owner, signing.KEY_MGR)],
        "pkg_mgr": [
            row.public_key for row in _keys(session, owner, signing.PKG_MGR, ACTIVE, RETIRING)
        ],
        "root": latest_root(session, owner),
        "key_mgr_json": _metadata(session, owner, KEY_MGR_FILE),
        "require_signatures": bool(settings and settings.require_signatures),
    }


def root_for_request(
    request: dict[str, Any], root_key: Ed25519PrivateKey, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """The offline step: the next root.json, naming the request's key_mgr keys (no
    database: it runs where the root key is)."""
    previous = previous or request.get("root")
    version = previous["signed"]["version"] + 1 if previous else 1
    return signing.build_root(version, [root_key], request["key_mgr"])


def list_keys(session: Session, login: str | None = None) -> list[KeyInfo]:
    query = select(SigningKey, Account.login).join(Account, Account.id == SigningKey.owner_id)
    if login is not None:
        query = query.where(Account.id == get_account(session, login).id)
    rows = session.execute(query.order_by(Account.login, SigningKey.id))
    return [
        KeyInfo(login_, row.role, row.public_key, row.state, row.created_at.isoformat())
        for row, login_ in rows
    ]


def set_required(session: Session, login: str, required: bool) -> dict[str, Any]:
    """A channel that requires signatures refuses any upload it cannot sign; turning it on
    needs keys."""
    owner = get_account(session, login)
    if required and not _keys(session, owner, signing.PKG_MGR):
        raise Conflict(
            f"{owner.login} has no signing keys, so it could not sign its uploads.",
            _CREATE.format(owner.login),
        )
    _settings(session, owner).require_signatures = required
    session.commit()
    return signing_request(session, login)


def trust_document(session: Session, login: str, filename: str) -> bytes:
    """``N.root.json`` or ``key_mgr.json`` as served (public keys only: no secret)."""
    owner = get_account(session, login)
    row = session.scalar(
        select(TrustMetadata).where(
            TrustMetadata.owner_id == owner.id, TrustMetadata.filename == filename
        )
    )
    if row is None:
        raise NotFound(
            f"{owner.login} publishes no {filename}.",
            "The channel is not signed, or has no newer root metadata.",
        )
    return row.body.encode()


def is_trust_file(filename: str) -> bool:
    head, _, tail = filename.partition(".")
    return filename == KEY_MGR_FILE or (tail == "root.json" and head.isdigit())


# --- signing files ---------------------------------------------------------------------------


def sign_file(session: Session, row: File) -> None:
    """Sign a just-recorded conda file with its owner's active pkg_mgr key (a step of
    :mod:`ophis.server.services.intake.ingest`); a channel that requires signatures
    and cannot sign refuses the file."""
    if row.distribution_type != DistributionType.CONDA or row.record is None:
        return
    keys = session.scalars(
        select(SigningKey).where(
            SigningKey.owner_id == row.owner_id,
            SigningKey.role == signing.PKG_MGR,
            SigningKey.state == ACTIVE,
        )
    ).all()
    if not keys:
        settings = session.get(ChannelSigning, row.owner_id)
        if settings is not None and settings.require_signatures:
            raise Conflict(
                f"This channel requires signatures and has no signing key for {row.filename}.",
                "Its owner must create keys ('ophis server keys create OWNER') first.",
            )
        return
    secret = _secret(session)
    for key_row in keys:
        _add_signature(session, _decrypt(secret, key_row), row.id, row.record, row)


def _add_signature(
    session: Session, key: Ed25519PrivateKey, file_id: int, record: Any, row: Any
) -> None:
    statement = signing.attestation_statement(row.filename, row.sha256)
    session.add(
        FileSignature(
            file_id=file_id,
            public_key=signing.public_hex(key),
            record_signature=signing.sign(key, record)["signature"],
            attestation_signature=signing.sign(key, statement)["signature"],
        )
    )


def _resign_all(session: Session, owner: Account) -> int:
    """Sign every conda file of ``owner`` with its active pkg_mgr key(s) that has not been
    signed by it yet; then rebuild its repodata."""
    secret = _secret(session)
    count = 0
    for key_row in _keys(session, owner, signing.PKG_MGR):
        key = _decrypt(secret, key_row)
        done = select(FileSignature.file_id).where(FileSignature.public_key == key_row.public_key)
        rows = session.execute(
            select(File.id, File.filename, File.sha256, File.record)
            .where(File.owner_id == owner.id, File.distribution_type == DistributionType.CONDA)
            .where(File.record.is_not(None), File.id.not_in(done))
        ).all()
        for row in rows:
            _add_signature(session, key, row.id, row.record, row)
        count += len(rows)
    _changed(session, owner)
    return count


def _changed(session: Session, owner: Account) -> None:
    """Existing signatures changed: a new generation, and every subdir's revision bumped,
    so each repodata.json is rebuilt with them."""
    _settings(session, owner).generation += 1
    slots = session.execute(
        select(ChannelRevision.label, ChannelRevision.subdir).where(
            ChannelRevision.owner_id == owner.id
        )
    ).all()
    for label, subdir in slots:
        if not subdir.startswith("@"):
            bump(session, owner.id, label, subdir)
    session.flush()


def attestation_document(session: Session, file_id: int, filename: str, sha256: str) -> bytes:
    """``<file>.sig.json``: the file's in-toto statement with its pkg_mgr signatures."""
    rows = session.execute(
        select(FileSignature.public_key, FileSignature.attestation_signature).where(
            FileSignature.file_id == file_id
        )
    ).all()
    if not rows:
        raise NotFound(
            f"{filename} is not signed.", "The channel has no signing keys, or signed it later."
        )
    statement = signing.attestation_statement(filename, sha256)
    signatures = {key: {"signature": value} for key, value in rows}
    return signing.canonical_json(signing.attestation(statement, signatures))
