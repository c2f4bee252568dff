"""Uploads of packages whose metadata names paths outside the prefix (the corpus of
``ophis.testing.hostile``): refused by the server, with the package and the entry named,
through raw HTTP and through the real ``anaconda`` client; nothing is stored."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from ophis.testing.anaconda_client import AnacondaClient
from ophis.testing.hostile import FORMATS, METADATA_CASES, HostileCase
from ophis.testing.server import RunningServer
from ophis.testing.server_db import assert_nothing_stored
from ophis.testing.uploads import stage, storage_post


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", METADATA_CASES, ids=lambda c: c.name)
def test_raw_upload_of_hostile_metadata_is_refused(
    case: HostileCase, fmt: str, server: RunningServer, api: httpx.Client, tmp_path: Path
) -> None:
    path = case.build(tmp_path, fmt)
    basename = f"noarch/{path.name}"
    spec = f"admin/{case.name}/1.0"
    api.post(f"/package/admin/{case.name}", json={"public": True})
    api.post(f"/release/{spec}", json={})
    staged = stage(api, path, basename, spec=spec).json()
    assert storage_post(staged, path).status_code == 201

    commit = api.post(f"/commit/{spec}/{quote(basename)}", json={"dist_id": staged["dist_id"]})

    assert commit.status_code == 400
    error = commit.json()["error"]
    assert path.name in error and f"'{case.entry}'" in error
    assert_nothing_stored(server, path)


#: one case per metadata file that names paths, alternating formats (the client is slow)
ONE_PER_FILE = [
    (case, FORMATS[i % 2])
    for i, case in enumerate(
        c
        for c in METADATA_CASES
        if c.name in ("paths-backslash", "files-dotdot", "has-prefix-dotdot", "entry-point-dotdot")
    )
]


@pytest.mark.parametrize(("case", "fmt"), ONE_PER_FILE, ids=[c.name for c, _ in ONE_PER_FILE])
def test_anaconda_upload_of_hostile_metadata_is_refused(
    case: HostileCase, fmt: str, server: RunningServer, cli: AnacondaClient, tmp_path: Path
) -> None:
    path = case.build(tmp_path, fmt)

    result = cli("upload", str(path))

    assert result.returncode != 0
    # the client prints the server's message inside a tuple: backslashes come doubled
    entry = f"'{case.entry}'".replace("\\", "\\\\")
    assert path.name in result.output and entry in result.output
    assert_nothing_stored(server, path)
