"""conda's solver index snapshots (``index*.json.zst``) as local channels.

Each snapshot maps file names to records. conda's test helper splits noarch records into
their own subdir and exports ``features`` as ``track_features``; this does the same, so
the channels mean what conda's own solver tests mean.
"""

from __future__ import annotations

import json
from pathlib import Path

import zstandard

#: channel name -> (snapshot file, whether conda's helper reads noarch for it)
SNAPSHOTS = {
    "channel-1": ("index.json.zst", False),
    "channel-2": ("index2.json.zst", True),
    "channel-4": ("index4.json.zst", True),
}


def read_snapshot(path: Path) -> dict:
    with path.open("rb") as handle:
        return json.loads(zstandard.ZstdDecompressor().stream_reader(handle).read())


def write_channel(snapshot: dict, root: Path, subdir: str) -> Path:
    """Write ``root/<subdir>/repodata.json`` and ``root/noarch/repodata.json``."""
    packages: dict[str, dict] = {subdir: {}, "noarch": {}}
    for filename, record in snapshot.items():
        record = dict(record)
        target = "noarch" if record.get("subdir") == "noarch" or record.get("noarch") else subdir
        record["subdir"] = target
        if "features" in record:
            record["track_features"] = record.pop("features")
        packages[target][filename] = record
    for name, records in packages.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        repodata = {"info": {"subdir": name}, "packages": records}
        (folder / "repodata.json").write_text(json.dumps(repodata))
    return root
