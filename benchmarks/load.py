"""How the default server (one worker, SQLite) holds under many clients at once.

Starts a real server (``ophis server start``), uploads a few packages, then:

- burst: 60 clients at once, each ``GET /api/user/<owner>`` (the shape that deadlocked
  the thread pool against the connection pool);
- repodata + uploader: 200 clients at once, each ``GET repodata.json``, while one client
  uploads a package, for 5 rounds;
- mix: 500 clients at once, each sending repodata GETs, API listings and a package
  download, while a few clients upload.

Every client honours ``503`` + ``Retry-After`` (as conda and pip do); a request with no
answer within --timeout seconds is a time-out. Prints p50/p99/max, the statuses, the 503s
absorbed and the time-outs.
Usage: python benchmarks/load.py [--clients 500] [--rounds 2] [--timeout 40]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from ophis.testing.load import crowd, prepare_channel, uploads_during
from ophis.testing.server import run_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2, help="request rounds per mix client")
    parser.add_argument("--timeout", type=float, default=40.0, help="seconds per request")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ophis-load-", dir=args.workdir))
    try:
        with run_server(workdir / "data") as server:
            channel = prepare_channel(server, workdir / "packages", uploads=8)
            burst = crowd(server.url, 60, [[f"/api/user/{channel.owner}"]], args.timeout)
            print(f"burst, 60 x GET /api/user:   {burst.summary()}")
            repodata = [[f"/conda/{channel.owner}/noarch/repodata.json"]]
            for round_ in range(5):
                with uploads_during(server, channel, count=1):
                    tally = crowd(server.url, 200, repodata, args.timeout)
                print(f"repodata + uploader, round {round_ + 1}: {tally.summary()}")
            with uploads_during(server, channel, count=4) as uploaded:
                rounds = [channel.targets() * args.rounds]
                mix = crowd(server.url, args.clients, rounds, args.timeout)
            print(f"mix, {args.clients} clients: {mix.summary()}")
            print(f"uploads during the mix: {uploaded.summary()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
