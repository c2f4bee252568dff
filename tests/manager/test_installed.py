"""conda-meta records read from their JSON (for ``ophis list``) say what py-rattler says, and
any record py-rattler might read otherwise sends the whole environment back to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.manager.installed import read_records
from ophis.manager.prefix import PrefixData
from ophis.manager.records import base_url, dist_fields
from ophis.testing.cli import isolated_user, ophis
from ophis.testing.packages import make_package


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An environment Ophis installed from a local channel."""
    folder = tmp_path_factory.mktemp("installed")
    env = isolated_user(folder)
    noarch = folder / "channel" / "noarch"
    noarch.mkdir(parents=True)
    make_package(
        noarch, "tool", "1.0.post1", "py_0", depends=["lib >=2"], files={"share/t.txt": b"x"}
    )
    make_package(noarch, "lib", "2.1", "h0_3", files={"share/l.txt": b"y"}, license="MIT")
    index_channel(folder / "channel")
    prefix = folder / "env"
    channel = (folder / "channel").as_uri()
    done = ophis(
        env, "create", "-p", str(prefix), "--override-channels", "-c", channel, "tool", "-y"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return prefix


def _shown(record: Any) -> dict[str, Any]:
    """What ``list`` prints of a record, in every format it has."""
    return {
        **dist_fields(record, []),
        "base_url": base_url(record),
        "url": str(record.url),
        "fn": record.file_name,
        "md5": bytes(record.md5).hex() if record.md5 else None,
        "sha256": bytes(record.sha256).hex() if record.sha256 else None,
        "depends": [str(d) for d in record.depends],
        "constrains": [str(c) for c in record.constrains],
        "files": [str(f) for f in record.files],
        "license": record.license,
        "license_family": record.license_family,
    }


def test_records_read_from_json_are_what_py_rattler_reads(environment: Path) -> None:
    from_json = read_records(environment)
    assert from_json is not None
    by_rattler = list(PrefixData(environment).records().values())
    assert [_shown(r) for r in from_json] == [_shown(r) for r in by_rattler]
    assert [r.name.source for r in from_json] == ["lib", "tool"]


def _with(environment: Path, tmp_path: Path, change: dict[str, Any], rename: str = "") -> Path:
    """A copy of the environment's conda-meta with one record changed."""
    meta = tmp_path / "env" / "conda-meta"
    meta.mkdir(parents=True)
    for record in (environment / "conda-meta").glob("*.json"):
        data = json.loads(record.read_text())
        if data["name"] == "lib":
            data.update(change)
            data = {k: v for k, v in data.items() if v is not None}
        (meta / (rename if rename and data["name"] == "lib" else record.name)).write_text(
            json.dumps(data)
        )
    return tmp_path / "env"


ODD = {
    "a version with a dash": {"version": "2.1-1"},
    "a version with a double dot": {"version": "2..1"},
    "a default port": {"url": "https://example.org:443/c/noarch/lib-2.1-h0_3.tar.bz2"},
    "a localhost file URL": {"url": "file://localhost/c/noarch/lib-2.1-h0_3.tar.bz2"},
    "an upper-case host": {"url": "https://Example.org/c/noarch/lib-2.1-h0_3.tar.bz2"},
    "a dot segment": {"url": "https://example.org/c/../noarch/lib-2.1-h0_3.tar.bz2"},
    "a space in the URL": {"url": "file:///c d/noarch/lib-2.1-h0_3.tar.bz2"},
    "no URL": {"url": None},
    "no channel": {"channel": None},
    "an upper-case md5": {"md5": "A" * 32},
    "a short sha256": {"sha256": "ab"},
    "a string build number": {"build_number": "3"},
    "a timestamp in text": {"timestamp": "2024-01-01"},
    "a depends string": {"depends": "python"},
    "no paths_data": {"paths_data": None},
    "an unknown path type": {"paths_data": {"paths": [{"_path": "x", "path_type": "odd"}]}},
    "a list license": {"license": ["MIT"]},
}


@pytest.mark.parametrize("change", ODD.values(), ids=ODD.keys())
def test_an_odd_record_sends_the_environment_to_py_rattler(
    environment: Path, tmp_path: Path, change: dict[str, Any]
) -> None:
    assert read_records(_with(environment, tmp_path, change)) is None


def test_a_record_under_another_file_name_sends_it_to_py_rattler(
    environment: Path, tmp_path: Path
) -> None:
    assert read_records(_with(environment, tmp_path, {}, rename="lib-9-h0_3.json")) is None


def test_two_records_for_one_name_send_it_to_py_rattler(environment: Path, tmp_path: Path) -> None:
    prefix = _with(environment, tmp_path, {})
    record = json.loads((prefix / "conda-meta" / "lib-2.1-h0_3.json").read_text())
    record.update(version="2.2", url=record["url"].replace("2.1", "2.2"))
    record["fn"] = record["fn"].replace("2.1", "2.2")
    (prefix / "conda-meta" / "lib-2.2-h0_3.json").write_text(json.dumps(record))
    assert read_records(prefix) is None


@pytest.mark.parametrize("content", [b"[1, 2]", b"{not json", b"\xff\xfe{}"])
def test_an_unreadable_record_sends_it_to_py_rattler(
    environment: Path, tmp_path: Path, content: bytes
) -> None:
    prefix = _with(environment, tmp_path, {})
    (prefix / "conda-meta" / "bad-1-0.json").write_bytes(content)
    assert read_records(prefix) is None


def test_hidden_files_and_other_files_are_not_records(environment: Path, tmp_path: Path) -> None:
    prefix = _with(environment, tmp_path, {})
    (prefix / "conda-meta" / "._lib-2.1-h0_3.json").write_bytes(b"\x00")
    (prefix / "conda-meta" / "history").write_text("==> 2024 <==\n")
    records = read_records(prefix)
    assert records is not None and [r.name.source for r in records] == ["lib", "tool"]
