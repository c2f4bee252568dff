"""Seconds to verify the pkg_mgr signatures of 100,000 repodata records, the way
``ophis install`` checks each record it uses (canonical JSON of the record, then an ed25519
verify against the keys of a verified key_mgr.json), against:

- conda's published cost, ~200 µs per record (conda content trust; 20 s per 100,000);
- a bare ``cryptography`` verify loop over the same records' bytes, serialised beforehand
  (the floor: what the signature check alone costs in this process);
- the same check with the standard library's ``json.dumps`` as the canonical form (what
  conda-content-trust does).

The records are real ones (conda's index4 snapshot, 5,643 records), repeated with numbered
builds to reach the count; they are signed before the timing starts. Then the server's
side: the repodata ``signatures`` section of as many files, built from the database and
rebuilt after one upload, against joining the package entries alone.
Usage: python benchmarks/signatures.py [--records 100000]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ophis.security import signing
from ophis.testing.packages import testdata_dir
from ophis.testing.snapshots import read_snapshot

CONDA_US_PER_RECORD = 200.0


def make_records(count: int) -> list[tuple[str, dict[str, Any]]]:
    snapshot = list(read_snapshot(testdata_dir() / "conda" / "index4.json.zst").items())
    records = []
    for n in range(count):
        filename, record = snapshot[n % len(snapshot)]
        copy = {**record, "build_number": record.get("build_number", 0) + n // len(snapshot)}
        records.append((f"{n}-{filename}", copy))
    return records


def setup(count: int) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any], Any]:
    """Records, their signatures section, and the verified pkg_mgr keys."""
    root, key_mgr, pkg_mgr = (signing.generate_key() for _ in range(3))
    root_md = signing.build_root(1, [root], [signing.public_hex(key_mgr)])
    key_mgr_md = signing.build_key_mgr(1, key_mgr, [signing.public_hex(pkg_mgr)])
    signing.verify_delegation("key_mgr", key_mgr_md, root_md, "key_mgr.json")
    records = make_records(count)
    signatures = {fn: signing.record_signatures([pkg_mgr], record) for fn, record in records}
    return records, signatures, signing.PkgMgrKeys.from_key_mgr(key_mgr_md)


def timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def ophis_verify(records: list, signatures: dict, keys: signing.PkgMgrKeys) -> None:
    for filename, record in records:
        keys.verify(record, signatures[filename], filename)


def bare_verify(prepared: list[tuple[bytes, bytes]], public: Any) -> None:
    for data, signature in prepared:
        public.verify(signature, data)


def stdlib_verify(records: list, signatures: dict, public: Any, key: str) -> None:
    for filename, record in records:
        data = json.dumps(record, indent=2, sort_keys=True).encode()
        public.verify(bytes.fromhex(signatures[filename][key]["signature"]), data)


def measure(count: int) -> float:
    """Seconds Ophis takes to verify ``count`` records (for ``benchmarks/security.py``)."""
    records, signatures, keys = setup(count)
    return timed(lambda: ophis_verify(records, signatures, keys))


def section_figures(count: int) -> None:
    """The server's side: the ``signatures`` section of a repodata.json of ``count`` signed
    files, built from the database (SQLite in memory, the real tables and query), then
    rebuilt after one more upload from the earlier build's bytes; against joining the
    document's package entries alone (what a rebuild costs without signatures)."""
    from sqlalchemy import create_engine, insert
    from sqlalchemy.orm import Session

    from ophis.core.repodata import encode_entry, join_sections
    from ophis.server.db.models import Base, ChannelSigning, File, FileSignature
    from ophis.server.services.channels.repodata_signatures import with_signatures

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    records = make_records(count + 1)
    names = [filename.replace("/", "_") for filename, _ in records]
    rows = [
        {"id": n + 1, "release_id": 1, "owner_id": 1, "basename": f"noarch/{name}",
         "distribution_type": "conda", "subdir": "noarch", "filename": name, "size": 1,
         "md5": "0" * 32, "sha256": "0" * 64, "storage_key": name, "attrs": {}}
        for n, name in enumerate(names)
    ]  # fmt: skip
    key = signing.generate_key()
    public = signing.public_hex(key)
    signatures = [
        {"file_id": n + 1, "public_key": public, "attestation_signature": "0" * 128,
         "record_signature": signing.sign(key, record)["signature"]}
        for n, (_, record) in enumerate(records)
    ]  # fmt: skip
    with Session(engine) as session:
        session.execute(insert(File), rows)
        session.execute(insert(FileSignature), signatures)
        session.add(ChannelSigning(owner_id=1, require_signatures=False, generation=1))
        session.commit()
        order = sorted(range(count + 1), key=names.__getitem__)
        entries = {n: encode_entry(names[n], records[n][1]) for n in order}

        def listing(members: list[int]) -> tuple[list[Any], bytes]:
            ids, files = [n + 1 for n in members], [names[n] for n in members]
            body, _ = join_sections("noarch", [entries[n] for n in members], [])
            return [(ids, files), ([], [])], body

        def timed_build(members: list[int], earlier: Any, added: set[int]) -> tuple[Any, float]:
            listed, body = listing(members)
            started = time.perf_counter()
            built = with_signatures(session, 1, "noarch", listed, earlier, added, body)
            return built, time.perf_counter() - started

        (body, index), first = timed_build(
            [n for n in order if n != count], (memoryview(b""), None), set()
        )
        _, again = timed_build(order, (memoryview(body), index), {count + 1})
        bare = timed(lambda: join_sections("noarch", [entries[n] for n in order], []))
    print(f"Server: the signatures section of a {count:,}-file repodata.json")
    print(f"  first build (every signature read)     {first:8.2f} s")
    print(f"  rebuild after one upload               {again:8.2f} s")
    print(f"  joining the package entries (no sigs)  {bare:8.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    count = parser.parse_args().records
    records, signatures, keys = setup(count)
    key, public = next(iter(keys.keys.items()))
    prepared = [
        (signing.canonical_json(record), bytes.fromhex(signatures[fn][key]["signature"]))
        for fn, record in records
    ]
    ophis = timed(lambda: ophis_verify(records, signatures, keys))
    bare = timed(lambda: bare_verify(prepared, public))
    stdlib = timed(lambda: stdlib_verify(records, signatures, public, key))
    conda = count * CONDA_US_PER_RECORD / 1e6
    print(f"Verifying the signatures of {count:,} repodata records")
    for label, seconds in (
        ("ophis (canonical JSON + verify)", ophis),
        ("bare cryptography verify loop", bare),
        ("stdlib json canonical + verify", stdlib),
        ("conda, published (~200 µs/rec)", conda),
    ):
        print(f"  {label:34} {seconds:8.2f} s  {seconds / count * 1e6:7.1f} µs/record")
    print(f"  ophis / bare loop:                 {ophis / bare:8.2f} x")
    print(f"  conda / ophis:                     {conda / ophis:8.2f} x")
    section_figures(count)


if __name__ == "__main__":
    main()
