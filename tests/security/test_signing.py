"""conda content trust's formats, pure: canonical JSON, the root -> key_mgr -> pkg_mgr
chain, record signatures in repodata, OpenPGP-style root signatures, attestations, and
what tampering each check catches."""

from __future__ import annotations

import copy
import hashlib
import json
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import zstandard

from ophis.security import signing
from ophis.security.signing import SignatureVerificationError

RECORD = {
    "build": "h1234_0",
    "build_number": 0,
    "depends": ["libzlib >=1.2.13,<2.0a0", "python >=3.8"],
    "license": "Zlib",
    "md5": "0" * 32,
    "name": "zlib",
    "sha256": "a" * 64,
    "size": 107_000,
    "subdir": "linux-64",
    "timestamp": 1_700_000_000_000,
    "version": "1.2.13",
}


@pytest.fixture(scope="module")
def chain() -> dict[str, Any]:
    root, key_mgr, pkg_mgr = (signing.generate_key() for _ in range(3))
    root_md = signing.build_root(1, [root], [signing.public_hex(key_mgr)])
    key_mgr_md = signing.build_key_mgr(1, key_mgr, [signing.public_hex(pkg_mgr)])
    return {"root": root, "key_mgr": key_mgr, "pkg_mgr": pkg_mgr, "root_md": root_md,
            "key_mgr_md": key_mgr_md}  # fmt: skip


def test_canonical_json_is_conda_content_trusts_serialisation() -> None:
    for value in (RECORD, {"name": "ünïcode", "x": [1.5, 1e16, None, True]}, {"b": {}, "a": []}):
        assert signing.canonical_json(value) == json.dumps(value, indent=2, sort_keys=True).encode()


def test_key_hex_round_trips_as_conda_writes_keys() -> None:
    key = signing.generate_key()
    again = signing.load_private(signing.private_hex(key) + "\n")
    assert signing.public_hex(again) == signing.public_hex(key)
    assert len(signing.public_hex(key)) == 64
    with pytest.raises(SignatureVerificationError, match="64 lowercase hex"):
        signing.load_public("ABC")


def test_the_chain_verifies_and_a_record_signature_checks_its_record(chain: dict) -> None:
    signing.verify_delegation("key_mgr", chain["key_mgr_md"], chain["root_md"], "key_mgr.json")
    pkg_mgr = signing.PkgMgrKeys.from_key_mgr(chain["key_mgr_md"])
    signatures = signing.record_signatures([chain["pkg_mgr"]], RECORD)
    pkg_mgr.verify(RECORD, signatures, "zlib.conda")
    for field, value in (("sha256", "b" * 64), ("depends", []), ("size", 107_001)):
        with pytest.raises(SignatureVerificationError, match="does not match its metadata"):
            pkg_mgr.verify({**RECORD, field: value}, signatures, "zlib.conda")
    with pytest.raises(SignatureVerificationError, match="is not signed"):
        pkg_mgr.verify(RECORD, {}, "zlib.conda")


def test_a_key_the_chain_does_not_delegate_to_is_not_trusted(chain: dict) -> None:
    stranger = signing.generate_key()
    forged = signing.build_key_mgr(2, stranger, [signing.public_hex(stranger)])
    with pytest.raises(SignatureVerificationError, match="0 good signature"):
        signing.verify_delegation("key_mgr", forged, chain["root_md"], "key_mgr.json")
    pkg_mgr = signing.PkgMgrKeys.from_key_mgr(chain["key_mgr_md"])
    with pytest.raises(SignatureVerificationError, match="does not match"):
        pkg_mgr.verify(RECORD, signing.record_signatures([stranger], RECORD), "zlib.conda")
    # root metadata is not key_mgr metadata, whoever signed it
    with pytest.raises(SignatureVerificationError, match="claims to be root"):
        signing.verify_delegation("key_mgr", chain["root_md"], chain["root_md"], "key_mgr.json")


def test_sign_repodata_signs_both_sections_in_contents_trusts_layout(chain: dict) -> None:
    repodata = {
        "info": {"subdir": "linux-64"},
        "packages": {"zlib-1.2.13-h1234_0.tar.bz2": RECORD},
        "packages.conda": {"zlib-1.2.13-h1234_0.conda": RECORD},
    }
    signed = signing.sign_repodata(repodata, [chain["pkg_mgr"]])
    public = signing.public_hex(chain["pkg_mgr"])
    assert set(signed["signatures"]) == {*repodata["packages"], *repodata["packages.conda"]}
    entry = signed["signatures"]["zlib-1.2.13-h1234_0.conda"]
    assert list(entry) == [public] and list(entry[public]) == ["signature"]
    assert len(entry[public]["signature"]) == 128


def test_root_signatures_are_openpgp_style_as_conda_content_trust_verifies(chain: dict) -> None:
    """The digest conda-content-trust's ``verify_gpg_signature`` computes: sha256 of the
    canonical data, the hashed headers, 0x04 0xff and the headers' length."""
    signature = next(iter(chain["root_md"]["signatures"].values()))
    headers = bytes.fromhex(signature["other_headers"])
    assert headers[:4] == bytes([4, 0, 22, 8])  # v4, binary, EdDSA, SHA-256
    data = signing.canonical_json(chain["root_md"]["signed"])
    digest = hashlib.sha256(data + headers + b"\x04\xff" + struct.pack(">I", len(headers)))
    public = signing.load_public(signing.public_hex(chain["root"]))
    public.verify(bytes.fromhex(signature["signature"]), digest.digest())


def test_root_versions_chain_one_at_a_time(chain: dict) -> None:
    new_key_mgr = signing.generate_key()
    second = signing.build_root(2, [chain["root"]], [signing.public_hex(new_key_mgr)])
    signing.verify_root(chain["root_md"], second)
    third = signing.build_root(3, [chain["root"]], [signing.public_hex(new_key_mgr)])
    with pytest.raises(SignatureVerificationError, match="one at a time"):
        signing.verify_root(chain["root_md"], third)
    usurper = signing.generate_key()
    forged = signing.build_root(2, [usurper], [signing.public_hex(usurper)])
    with pytest.raises(SignatureVerificationError, match="good signature"):
        signing.verify_root(chain["root_md"], forged)
    tampered = copy.deepcopy(second)
    tampered["signed"]["delegations"]["key_mgr"]["pubkeys"] = [signing.public_hex(usurper)]
    with pytest.raises(SignatureVerificationError, match="good signature"):
        signing.verify_root(chain["root_md"], tampered)


def test_expired_metadata_is_refused(chain: dict) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    stale = signing.build_key_mgr(1, chain["key_mgr"], [], now=old)
    with pytest.raises(SignatureVerificationError, match="expired"):
        signing.check_current(stale, "key_mgr.json")
    signing.check_current(chain["key_mgr_md"], "key_mgr.json")


def test_attestations_name_the_file_and_its_digest(chain: dict) -> None:
    pkg_mgr = signing.PkgMgrKeys.from_key_mgr(chain["key_mgr_md"])
    statement = signing.attestation_statement("zlib-1.2.13-h1234_0.conda", "a" * 64)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    document = signing.attestation(
        statement, signing.record_signatures([chain["pkg_mgr"]], statement)
    )
    signing.verify_attestation(document, "zlib-1.2.13-h1234_0.conda", "a" * 64, pkg_mgr)
    with pytest.raises(SignatureVerificationError, match="does not attest"):
        signing.verify_attestation(document, "zlib-1.2.13-h1234_0.conda", "b" * 64, pkg_mgr)
    with pytest.raises(SignatureVerificationError, match="altered"):
        signing.sha256_file_check("zlib.conda", "b" * 64, RECORD)


def test_real_repodata_records_sign_and_verify(testdata: Path, chain: dict) -> None:
    """Records of real repodata: the fast canonical form equals the standard one, and a
    signature over each verifies."""
    with (testdata / "conda" / "repodata" / "main_noarch.json.zst").open("rb") as fh:
        document = json.loads(zstandard.ZstdDecompressor().stream_reader(fh).read())
    records = [*document.get("packages", {}).values(), *document.get("packages.conda", {}).values()]
    assert records
    pkg_mgr = signing.PkgMgrKeys.from_key_mgr(chain["key_mgr_md"])
    for record in records:
        assert (
            signing.canonical_json(record) == json.dumps(record, indent=2, sort_keys=True).encode()
        )
        pkg_mgr.verify(record, signing.record_signatures([chain["pkg_mgr"]], record), "x")
