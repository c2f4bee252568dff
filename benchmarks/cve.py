"""The server's side of CVE tracking: seconds for ``ophis server cve import`` of 10,000
records into a database holding 100,000 package files (upsert every record, re-match every
file, store the matches), and for a re-import of the same feed (nothing new: the
curators' statuses stay), on SQLite.

The pure matching (:func:`ophis.security.cve.match`, 10,000 records x 100,000 packages)
is measured by ``benchmarks/security.py``; the same generated packages and records
(fixed seed) are used here, so the two figures describe the same data.

Usage: python benchmarks/cve.py [--files 100000] [--cves 10000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from ophis.server.db.engine import make_engine, make_sessionmaker, migrate
from ophis.server.db.models import Account, File, FileVulnerability, Package, Release
from ophis.server.services.trust.cves import import_records

sys.path.insert(0, str(Path(__file__).parent))
from security import SEED, make_cves, make_packages, real_names


def fill(session: object, packages: list[tuple[str, str]]) -> None:
    """One owner, one package per name, one release per version, one file per package."""
    session.execute(insert(Account), [{"login": "bench", "login_key": "bench"}])
    owner = session.scalar(select(Account.id))
    names = sorted({name for name, _ in packages})
    session.execute(insert(Package), [{"owner_id": owner, "name": n} for n in names])
    package_ids = {name: id_ for name, id_ in session.execute(select(Package.name, Package.id))}
    pairs = sorted(set(packages))
    rows = [{"package_id": package_ids[n], "version": v} for n, v in pairs]
    session.execute(insert(Release), rows)
    release_ids = {
        (name, version): release
        for release, name, version in session.execute(
            select(Release.id, Package.name, Release.version).join(Package)
        )
    }
    files = []
    for i, (name, version) in enumerate(packages):
        basename = f"noarch/{name}-{version}-{i}.tar.bz2"
        files.append(
            {
                "release_id": release_ids[(name, version)],
                "owner_id": owner,
                "basename": basename,
                "distribution_type": "conda",
                "subdir": "noarch",
                "filename": basename[7:],
                "size": 1,
                "md5": "0" * 32,
                "sha256": f"{i:064x}",
                "storage_key": basename,
            }
        )
    for start in range(0, len(files), 10_000):
        session.execute(insert(File), files[start : start + 10_000])
    session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--cves", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(SEED)
    packages = make_packages(args.files, real_names(), rng)
    vulns = make_cves(args.cves, packages, rng)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'bench.sqlite'}"
        migrate(url)
        engine = make_engine(url)
        with make_sessionmaker(engine)() as session:
            fill(session, packages)
            started = time.perf_counter()
            first = import_records(session, vulns)
            first_seconds = time.perf_counter() - started
            started = time.perf_counter()
            again = import_records(session, vulns)
            again_seconds = time.perf_counter() - started
            matches = session.scalar(select(func.count()).select_from(FileVulnerability))
        engine.dispose()
    print(f"ophis server cve import: {args.cves:,} records, {args.files:,} files (SQLite)")
    print(f"  first import:  {first_seconds:8.2f} s  ({first.matches_added:,} matches stored)")
    print(f"  re-import:     {again_seconds:8.2f} s  ({again.matches_added} new, {matches:,} kept)")


if __name__ == "__main__":
    main()
