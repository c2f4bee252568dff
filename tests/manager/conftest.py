"""Fixtures for the manager tests: a real local channel and helpers to plan transactions."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import rattler

from ophis.indexer.channel_index import index_channel
from ophis.manager.prefix import PrefixData
from ophis.manager.transaction import TransactionPlan, conda_link_order
from ophis.testing.packages import make_index, make_package

PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"

#: a post-link script that, when OPHIS_TEST_SLEEP_MARKER is set, touches it and sleeps
SLEEPY_POST_LINK = b"""\
if [ -n "$OPHIS_TEST_SLEEP_MARKER" ]; then
  touch "$OPHIS_TEST_SLEEP_MARKER"
  sleep 60
fi
echo "ran in $PREFIX" > "$PREFIX/sleepy-ran.txt"
echo "sleepy says hello" > "$PREFIX/.messages.txt"
"""


def _tar_bz2_with_paths(
    dest: Path, index: dict, files: dict[str, bytes], paths: list[dict]
) -> Path:
    """A .tar.bz2 whose info/paths.json is given verbatim (prefix placeholders)."""
    info = {
        "info/index.json": json.dumps(index).encode(),
        "info/paths.json": json.dumps({"paths": paths, "paths_version": 1}).encode(),
        "info/files": "".join(f"{p}\n" for p in files).encode(),
    }
    out = dest / f"{index['name']}-{index['version']}-{index['build']}.tar.bz2"
    with tarfile.open(out, "w:bz2") as tar:
        for name, data in {**info, **files}.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            member.mode = 0o755 if name.startswith("bin/") else 0o644
            tar.addfile(member, io.BytesIO(data))
    return out


@pytest.fixture(scope="session")
def channel(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conda's test-recipes noarch channel, rattler's clobber-1/2/3 and packages made here."""
    root = tmp_path_factory.mktemp("channel")
    noarch = root / "noarch"
    shutil.copytree(testdata / "conda" / "test-recipes" / "noarch", noarch)
    (noarch / "repodata.json").unlink()
    for n in (1, 2, 3):
        shutil.copy(
            testdata / "rattler" / "clobber" / f"clobber-{n}-0.1.0-h4616a5c_0.tar.bz2", noarch
        )
    make_package(
        noarch,
        "sleepy",
        files={"bin/.sleepy-post-link.sh": SLEEPY_POST_LINK, "share/sleepy.txt": b"zzz\n"},
    )
    text = f"prefix={PLACEHOLDER}\nbin={PLACEHOLDER}/bin\n".encode()
    _tar_bz2_with_paths(
        noarch,
        make_index("placeholder", "1.0", "0"),
        {"share/placeholder.txt": text, "share/plain.txt": b"plain\n"},
        [
            {
                "_path": "share/placeholder.txt",
                "path_type": "hardlink",
                "file_mode": "text",
                "prefix_placeholder": PLACEHOLDER,
                "sha256": hashlib.sha256(text).hexdigest(),
                "size_in_bytes": len(text),
            },
            {
                "_path": "share/plain.txt",
                "path_type": "hardlink",
                "sha256": hashlib.sha256(b"plain\n").hexdigest(),
                "size_in_bytes": 6,
            },
        ],
    )
    index_channel(root)
    return root


@pytest.fixture(scope="session")
def solve(channel: Path) -> Callable[[Sequence[str]], list[rattler.RepoDataRecord]]:
    def _solve(specs: Sequence[str]) -> list[rattler.RepoDataRecord]:
        if not specs:
            return []
        return asyncio.run(
            rattler.solve(
                [rattler.Channel(channel.as_uri())],
                list(specs),
                platforms=["noarch"],
                timestamp_policy="allow-missing",
            )
        )

    return _solve


@pytest.fixture(scope="session")
def plan_for() -> Callable[..., TransactionPlan]:
    """``plan_for(prefix, final_records, ...)`` → the plan from what is installed to ``final``."""
    return make_plan


def make_plan(
    prefix: Path,
    final: Sequence[rattler.RepoDataRecord],
    *,
    link_order: Sequence[str] | None = None,
    update_specs: Sequence[str] = (),
    remove_specs: Sequence[str] = (),
    cmd: Sequence[str] = ("ophis", "install"),
) -> TransactionPlan:
    """The plan from the installed records to ``final`` (what the solver layer will build)."""
    installed = PrefixData(prefix).records() if (prefix / "conda-meta").is_dir() else {}
    final_by_name = {r.name.normalized: r for r in final}
    unlink = tuple(
        rec
        for name, rec in installed.items()
        if name not in final_by_name or str(final_by_name[name].url) != str(rec.url)
    )
    kept = {n for n in installed if n not in {r.name.normalized for r in unlink}}
    link = [r for r in final if r.name.normalized not in kept]
    if link_order is not None:
        by_name = {r.name.normalized: r for r in link}
        link = [by_name[n] for n in link_order]
    else:
        link = conda_link_order(link)
    merged = [installed[r.name.normalized] if r.name.normalized in kept else r for r in final]
    return TransactionPlan(
        prefix=prefix,
        link=tuple(link),
        unlink=unlink,
        final=tuple(merged),
        update_specs=tuple(update_specs),
        remove_specs=tuple(remove_specs),
        cmd=tuple(cmd),
    )
