"""Issue 10's security figures, in one run:

1. seconds to verify the signatures of 100,000 repodata records, against conda's published
   ~200 µs per record (about 50 s) — measured by ``benchmarks/signatures.py``;
2. seconds to match 10,000 CVE records against 100,000 packages with
   :func:`ophis.security.cve.match`, and a naive baseline (every package against every CVE)
   timed on a sample in the same run and extrapolated.

The packages and CVE records are generated with a fixed seed: package names come from real
repodata (conda's index4 snapshot, then numbered names to reach the count), versions are
``major.minor.patch``, and each CVE names one to three packages with a published-style
range within one major version (``>=2.4,<2.7.3``): a few percent of the packages are
affected, as with a real feed.
Usage: python benchmarks/security.py [--records 100000] [--cves 10000] [--sample 500]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rattler import Version, VersionSpec

from ophis.security.cve import AffectedRange, Score, Vulnerability, match
from ophis.testing.packages import testdata_dir
from ophis.testing.snapshots import read_snapshot

#: conda's published cost of verifying one signed repodata record (conda content trust)
CONDA_US_PER_RECORD = 200.0
SEED = 10


def real_names() -> list[str]:
    snapshot = read_snapshot(testdata_dir() / "conda" / "index4.json.zst")
    return sorted({record["name"] for record in snapshot.values()})


def make_packages(count: int, names: list[str], rng: random.Random) -> list[tuple[str, str]]:
    pool = names + [f"pkg-{i}" for i in range(max(0, count // 20 - len(names)))]
    return [
        (rng.choice(pool), f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}")
        for _ in range(count)
    ]


def make_cves(count: int, packages: list[tuple[str, str]], rng: random.Random) -> list:
    names = sorted({name for name, _version in packages})
    records = []
    for i in range(count):
        affected = []
        for name in rng.sample(names, rng.randint(1, 3)):
            major, minor = rng.randint(0, 9), rng.randint(0, 30)
            fixed = f"{major}.{minor + rng.randint(1, 5)}.{rng.randint(0, 20)}"
            affected.append(AffectedRange("conda", name, f">={major}.{minor},<{fixed}"))
        score = round(rng.uniform(1.0, 10.0), 1)
        records.append(
            Vulnerability(
                id=f"CVE-2099-{i:05d}",
                aliases=(),
                summary="generated",
                published=None,
                modified=None,
                scores=(Score("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", score),),
                affected=tuple(affected),
                references=(),
            )
        )
    return records


def naive_match(vulns: list, packages: list[tuple[str, str]]) -> int:
    """The obvious loop: each package against every record, parsing as it goes."""
    found = 0
    for name, version in packages:
        parsed = Version(version)
        for vuln in vulns:
            for affected in vuln.affected:
                if affected.name == name and VersionSpec(affected.spec).matches(parsed):
                    found += 1
                    break
    return found


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def cve_figures(records: int, cves: int, sample: int) -> None:
    rng = random.Random(SEED)
    packages = make_packages(records, real_names(), rng)
    vulns = make_cves(cves, packages, rng)
    seconds, findings = timed(lambda: match(vulns, packages))
    subset = random.Random(SEED + 1).sample(packages, sample)
    naive_seconds, naive_found = timed(lambda: naive_match(vulns, subset))
    naive_total = naive_seconds * records / sample
    indexed_subset = len(match(vulns, subset))
    assert naive_found == indexed_subset, (naive_found, indexed_subset)  # same answers
    print(f"CVE matching: {cves:,} records x {records:,} packages")
    print(f"  cve.match:        {seconds:8.2f} s  ({len(findings):,} findings)")
    print(
        f"  naive loop:       {naive_total:8.2f} s  (extrapolated from {sample:,} packages "
        f"in {naive_seconds:.2f} s)"
    )
    print(f"  speed-up:         {naive_total / seconds:8.1f} x")


def signature_figures(records: int) -> None:
    """``benchmarks/signatures.py``'s ``measure(records) -> seconds`` when it has one; else
    that script is run (``--records N``) and what it prints is shown here."""
    path = Path(__file__).with_name("signatures.py")
    conda_seconds = records * CONDA_US_PER_RECORD / 1e6
    print(f"Signature verification: {records:,} repodata records")
    print(
        f"  conda (published): {conda_seconds:8.2f} s  ({CONDA_US_PER_RECORD:.0f} µs/record; "
        "issue 10 quotes about 50 s in all)"
    )
    if not path.is_file():
        print("  ophis:             not measured (benchmarks/signatures.py is missing)")
        return
    spec = importlib.util.spec_from_file_location("signatures_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "measure"):
        command = [sys.executable, str(path), "--records", str(records)]
        ran = subprocess.run(command, capture_output=True, text=True, check=False)
        print("  " + (ran.stdout + ran.stderr).strip().replace("\n", "\n  "))
        return
    seconds = float(module.measure(records))
    print(f"  ophis:             {seconds:8.2f} s  ({seconds / records * 1e6:.1f} µs/record)")
    print(f"  conda / ophis:     {conda_seconds / seconds:8.1f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--cves", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=500)
    args = parser.parse_args()
    signature_figures(args.records)
    cve_figures(args.records, args.cves, args.sample)


if __name__ == "__main__":
    main()
