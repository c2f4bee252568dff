"""Installing exact records: reading --file arguments, a clone's untracked files, and the
record files set aside while rattler links."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ophis.manager.operations import (
    EnvironmentFileTypeMismatchError,
    copy_untracked,
    read_spec_files,
    untracked_files,
)
from ophis.manager.prefix import PrefixData
from ophis.manager.transaction import SET_ASIDE, recover

URL = "https://conda.anaconda.org/conda-forge/noarch/six-1.16.0-pyhd8ed1ab_0.conda"


def test_spec_files_hold_specs_or_explicit_packages_never_both(tmp_path: Path) -> None:
    plain = tmp_path / "requirements.txt"
    plain.write_text("# a comment\nnumpy >=1.26\n\n  scipy\n")
    explicit = tmp_path / "explicit.txt"
    explicit.write_text(f"# platform: linux-64\n@EXPLICIT\n{URL}#{'a' * 32}\n")

    assert read_spec_files([plain]).specs == ("numpy >=1.26", "scipy")
    assert read_spec_files([plain]).explicit is None
    found = read_spec_files([explicit])
    assert found.specs == () and found.explicit is not None
    assert [(p.url, p.md5) for p in found.explicit.packages] == [(URL, "a" * 32)]
    assert found.explicit.platform == "linux-64"
    with pytest.raises(EnvironmentFileTypeMismatchError) as caught:
        read_spec_files([explicit, plain])
    assert caught.value.exception_name == "EnvironmentFileTypeMismatchError"
    assert f"'{explicit}' is a explicit format file" in caught.value.message


def _environment(prefix: Path, owned: list[str]) -> None:
    (prefix / "conda-meta").mkdir(parents=True)
    record = {
        "name": "tool",
        "version": "1.0",
        "build": "0",
        "build_number": 0,
        "channel": "https://conda.anaconda.org/conda-forge",
        "subdir": "noarch",
        "depends": [],
        "files": owned,
        "paths_data": {"paths_version": 1, "paths": []},
    }
    (prefix / "conda-meta" / "tool-1.0-0.json").write_text(json.dumps(record))
    (prefix / "conda-meta" / "history").write_text("")
    for relative in owned:
        (prefix / relative).parent.mkdir(parents=True, exist_ok=True)
        (prefix / relative).write_text("packaged\n")


def test_untracked_files_are_what_conda_clones(tmp_path: Path) -> None:
    source = tmp_path / "source"
    _environment(source, ["bin/tool", "lib/mod.py"])
    extra = {
        "etc/tool.cfg": f"prefix = {source}\n".encode(),
        "share/blob.bin": b"\xff\xfe" + str(source).encode(),
        "bin/conda": b"",  # conda's own entry points are never cloned
        "lib/mod.pyc": b"",  # compiled from a packaged .py
        "notes.txt~": b"",  # a backup
        "pkgs/cached.conda": b"",  # a package cache inside the prefix
    }
    for relative, data in extra.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_bytes(data)
    (source / "share" / "latest").symlink_to("blob.bin")
    (source / "linked-dir").symlink_to("share", target_is_directory=True)

    paths = untracked_files(source, list(PrefixData(source).records().values()))
    assert paths == ["etc/tool.cfg", "linked-dir", "share/blob.bin", "share/latest"]

    target = tmp_path / "target"
    target.mkdir()
    copy_untracked(source, target, paths)
    assert (target / "etc" / "tool.cfg").read_text() == f"prefix = {target}\n"
    assert (target / "share" / "blob.bin").read_bytes() == extra["share/blob.bin"]  # binary
    assert (target / "share" / "latest").readlink() == Path("blob.bin")
    assert (target / "linked-dir").is_symlink()


def test_recover_puts_back_records_set_aside_during_a_crash(tmp_path: Path) -> None:
    meta = tmp_path / "conda-meta"
    meta.mkdir()
    aside = meta / f"broken-1.0-0.json{SET_ASIDE}"
    aside.write_bytes(b"\x1f\x8b not json")
    assert recover(tmp_path) is False  # no transaction to roll back ...
    assert not aside.exists()  # ... but the record file is where it was
    assert (meta / "broken-1.0-0.json").read_bytes() == b"\x1f\x8b not json"
    data = PrefixData(tmp_path)
    assert data.records() == {} and data.unreadable == [meta / "broken-1.0-0.json"]
