"""Server memory while hostile packages are uploaded, and ``ophis index`` memory over them.

Starts a real server (``ophis server start``), builds header bombs (PAX and GNU long names
declaring GiBs, PAX globals, header chains, sparse maps, too many members, a zstd frame
asking for a 2 GiB window, a decompression bomb in info/, oversized metadata) and
metadata bombs (NaN, deep nesting, wrong types), uploads each over HTTP as the anaconda
client does, and prints the server's peak resident memory above idle for each (Linux's
VmHWM, reset before each upload) against a normal upload of a package as large as the
largest bomb file, measured in the same run. Then runs ``ophis index`` over a channel of
all of them and over one of normal packages, and prints each run's peak memory.
The target: under 100 MB above idle for every hostile upload.
Usage: python benchmarks/hostile.py [--members 250001]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx

from ophis.testing import hostile_archives as hostile
from ophis.testing.memory import peak_rss, reset_peak, rss
from ophis.testing.packages import make_index, make_package
from ophis.testing.server import RunningServer, run_server

MiB, GiB = 1024**2, 1024**3


def bombs(members: int) -> dict[str, Callable[[Path], Path]]:
    """Each case's builder, writing into the folder it is given."""
    nan_index = json.dumps(make_index("nanidx"))[:-1] + ', "build_number": NaN}'
    return {
        "PAX header, 4 GiB declared": lambda d: hostile.pax_header_bomb(d, ".conda", 4 * GiB),
        "PAX path record, 2 MiB": lambda d: hostile.pax_long_path(d, ".conda", 2 * MiB),
        "GNU long name, 4 GiB": lambda d: hostile.gnu_long_bomb(d, ".conda", 4 * GiB),
        "GNU long link, 1 GiB (bz2)": lambda d: hostile.gnu_long_bomb(
            d, ".tar.bz2", GiB, link=True, name="linkbomb"
        ),
        "PAX global headers, 64 MiB": lambda d: hostile.pax_global_bomb(d, ".conda", 64 * MiB),
        "chain of 100,000 PAX headers": lambda d: hostile.header_chain(d, ".conda", 100_000),
        "GNU sparse map, 1M blocks": lambda d: hostile.sparse_bomb(d, ".conda", 1_000_000),
        f"{members:,} members": lambda d: hostile.many_members(d, ".conda", members),
        "zstd window 2 GiB": lambda d: hostile.zstd_window_bomb(d, 31),
        "info/ file of 4 GiB zeros": lambda d: hostile.info_bomb(d, ".conda", 4 * GiB),
        "index.json of 512 MiB": lambda d: hostile.oversized_metadata(
            d, ".conda", "info/index.json", 512 * MiB
        ),
        "paths.json of 1 GiB": lambda d: hostile.oversized_metadata(
            d, ".conda", "info/paths.json", GiB
        ),
        "index.json with NaN": lambda d: hostile.with_index_text(d, ".conda", nan_index, "nanidx"),
        "index.json 100,000 levels deep": lambda d: hostile.with_index_text(
            d, ".conda", hostile.nested(100_000, "deep"), "deep"
        ),
        "depends not a list": lambda d: hostile.with_index(d, ".conda", "deps", depends="x"),
    }


def upload(api: httpx.Client, path: Path) -> tuple[int, str]:
    """The anaconda client's handshake: package, release, stage, storage POST, commit."""
    name, version = path.name.split("-")[:2]
    api.post(f"/package/admin/{name}", json={})
    api.post(f"/release/admin/{name}/{version}", json={})
    basename = f"noarch/{path.name}"
    digest = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True)
    body = {"distribution_type": "conda", "sha256": digest.stdout.split()[0], "channels": []}
    staged = api.post(f"/stage/admin/{name}/{version}/{quote(basename)}", json=body).json()
    with path.open("rb") as handle:
        fields = {**staged["form_data"], "Content-Length": str(path.stat().st_size)}
        stored = httpx.post(staged["post_url"], data=fields, files={"file": handle}, timeout=600)
    if stored.status_code != 201:
        return stored.status_code, stored.text
    commit = f"/commit/admin/{name}/{version}/{quote(basename)}"
    answer = api.post(commit, json={"dist_id": staged["dist_id"]}, timeout=600)
    return answer.status_code, answer.json().get("error", "") if answer.content else ""


def measure_upload(server: RunningServer, api: httpx.Client, path: Path) -> tuple:
    pid = server.process.pid
    idle = rss(pid)
    reset_peak(pid)
    started = time.perf_counter()
    status, error = upload(api, path)
    return status, time.perf_counter() - started, (peak_rss(pid) - idle) / MiB, error


#: runs ``ophis index`` in this process and writes its peak memory (VmHWM: this program's
#: own, where a child's rusage would count the parent's pages it was forked with)
_INDEX_DRIVER = """
import atexit, os, runpy, sys
from ophis.testing.memory import peak_rss
report = sys.argv.pop()
atexit.register(lambda: open(report, "w").write(str(peak_rss(os.getpid()))))
sys.argv = ["ophis", "index", sys.argv[1], "--json"]
runpy.run_module("ophis", run_name="__main__")
"""


def measure_index(channel: Path) -> tuple[float, float]:
    """Seconds and peak MiB of ``ophis index CHANNEL``."""
    report = channel / "peak.txt"
    started = time.perf_counter()
    command = [sys.executable, "-c", _INDEX_DRIVER, str(channel), str(report)]
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started, int(report.read_text()) / MiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=250_001, help="the many-members bomb")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ophis-bench-", dir=args.workdir))
    try:
        hostile_dir = workdir / "hostile" / "noarch"
        built = {case: build(hostile_dir) for case, build in bombs(args.members).items()}
        largest = max(p.stat().st_size for p in built.values())
        normal_dir = workdir / "normal" / "noarch"
        normal = make_package(
            normal_dir, "normal", "1.0", "0", fmt=".conda", files={"data.bin": os.urandom(largest)}
        )
        with run_server(workdir / "data") as server:
            api = httpx.Client(
                base_url=server.api, headers={"Authorization": f"token {server.login()}"}
            )
            status, seconds, baseline, _ = measure_upload(server, api, normal)
            print(f"idle server: {rss(server.process.pid) / MiB:.0f} MiB resident")
            print(
                f"{'normal upload':34} {normal.stat().st_size:>9,} B  {status}  {seconds:6.2f} s"
                f"  peak +{baseline:5.1f} MiB"
            )
            worst = 0.0
            for case, path in built.items():
                status, seconds, grown, error = measure_upload(server, api, path)
                worst = max(worst, grown)
                reason = error.split(": ", 1)[-1].split("\n")[0][:70]
                print(
                    f"{case:34} {path.stat().st_size:>9,} B  {status}  {seconds:6.2f} s"
                    f"  peak +{grown:5.1f} MiB  {reason}"
                )
            api.close()
        print(f"worst hostile upload: +{worst:.1f} MiB above idle (target < 100 MiB); ", end="")
        print(f"ratio to a normal upload of the same size: {worst / max(baseline, 0.1):.2f}x")
        normal_seconds, normal_peak = measure_index(workdir / "normal")
        hostile_seconds, hostile_peak = measure_index(workdir / "hostile")
        print(
            f"ophis index, 1 normal package:   {normal_seconds:6.2f} s, peak {normal_peak:6.1f} MiB"
        )
        print(
            f"ophis index, {len(built)} hostile packages: {hostile_seconds:6.2f} s, "
            f"peak {hostile_peak:6.1f} MiB ({hostile_peak / normal_peak:.2f}x)"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
