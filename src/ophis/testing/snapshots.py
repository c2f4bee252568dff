"""conda's solver index snapshots (``index*.json.zst``) as local channels.

Each snapshot maps file names to records. conda's test helper splits noarch records into
their own subdir; this does the same. Legacy ``features`` stay as they are: conda classic's
expectations are solved on them (the helper's export of features as track_features is
for the libmamba solver), and ophis ranks them as classic does.
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
        packages[target][filename] = record
    for name, records in packages.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        repodata = {"info": {"subdir": name}, "packages": records}
        (folder / "repodata.json").write_text(json.dumps(repodata))
    return root
