"""Solve times on conda's largest index snapshot (index4, 5,643 records), ophis vs py-rattler.

Ten spec sets, each solved five times; the median per set for ``ophis.manager.solve``
(conda's semantics on top: spec translation, history, link order, error analysis) and for
py-rattler's bare ``solve_with_sparse_repodata`` on the same files in the same process.
Usage: python benchmarks/solve.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import rattler

from ophis.core.channel import ChannelContext, parse_channel
from ophis.manager.solve import SolveRequest, load_repodata, solve
from ophis.testing.packages import testdata_dir
from ophis.testing.snapshots import read_snapshot, write_channel

SPEC_SETS = [
    ["python=3.6"],
    ["numpy"],
    ["scipy", "python=3.6"],
    ["pandas", "matplotlib"],
    ["conda-build"],
    ["conda", "python=2.7"],
    ["ipython", "cryptography"],
    ["jupyter", "notebook"],
    ["requests", "flask", "sqlalchemy"],
    ["dask", "bokeh", "python=3.6"],
]


def median_ms(action, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        snapshot = read_snapshot(testdata_dir() / "conda" / "index4.json.zst")
        root = write_channel(snapshot, Path(work) / "channel-4", "linux-64")
        channel = parse_channel(str(root), ChannelContext())
        repodata = {
            (channel.base_url, s): root / s / "repodata.json" for s in ("linux-64", "noarch")
        }
        sparse = [load_repodata(channel, s, p) for (_, s), p in repodata.items()]
        print(f"index4: {len(snapshot)} records; median of {args.runs} runs per spec set (ms)")
        print(f"{'specs':<34}{'ophis':>9}{'rattler':>9}{'ratio':>8}")
        totals = [0.0, 0.0]
        for specs in SPEC_SETS:
            request = SolveRequest(
                specs=tuple(specs), channels=(channel,), subdir="linux-64", repodata=repodata
            )

            def bare(specs=specs) -> None:
                asyncio.run(
                    rattler.solve_with_sparse_repodata(
                        specs, sparse, timestamp_policy="allow-missing"
                    )
                )

            ours = median_ms(lambda request=request: solve(request), args.runs)
            theirs = median_ms(bare, args.runs)
            totals[0] += ours
            totals[1] += theirs
            print(f"{' '.join(specs):<34}{ours:9.1f}{theirs:9.1f}{ours / theirs:8.2f}")
        print(f"{'total':<34}{totals[0]:9.1f}{totals[1]:9.1f}{totals[0] / totals[1]:8.2f}")
        print("ratio = ophis / rattler (1.00 means conda's semantics cost nothing extra)")


if __name__ == "__main__":
    main()
