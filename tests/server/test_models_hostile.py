"""Model files whose headers lie (2^60 tensors, 2^62-byte strings and headers, offsets past
the end or overlapping): refused at upload, as model variants or as generic files (what
``anaconda upload -t file`` sends), and by ``ophis model upload`` before sending, with the
rule named, nothing stored and the server's memory bounded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from ophis.testing import models
from ophis.testing.cli import isolated_user, ophis
from ophis.testing.http import headers
from ophis.testing.memory import peak_rss, reset_peak, rss
from ophis.testing.server import RunningServer
from ophis.testing.server_db import assert_nothing_stored
from ophis.testing.uploads import stage, storage_post

MiB = 1024**2
CASES: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "tensors": (models.gguf_claiming_tensors, ".gguf", f"declares {2**60} tensors"),
    "string": (models.gguf_claiming_string, ".gguf", f"is {2**62} bytes long"),
    "array": (models.gguf_claiming_array, ".gguf", f"declares {2**60} items"),
    "gguf-past-end": (models.gguf_tensor_past_the_end, ".gguf", "goes past the end"),
    "header": (models.safetensors_claiming_header, ".safetensors", "goes past the end"),
    "offsets": (models.safetensors_past_the_end, ".safetensors", "goes past the end"),
    "overlap": (models.safetensors_overlapping, ".safetensors", "overlap"),
}


@pytest.fixture(scope="module")
def admin_token(server: RunningServer) -> str:
    return server.login()


@pytest.fixture(scope="module")
def api(server: RunningServer, admin_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.api, headers=headers(admin_token)) as client:
        yield client


def hostile_file(folder: Path, case: str) -> Path:
    make, suffix, _ = CASES[case]
    path = folder / f"{case}{suffix}"
    path.write_bytes(make())
    return path


def raw_upload(api: httpx.Client, path: Path, name: str, kind: str = "model") -> httpx.Response:
    """Stage, send and commit ``path`` as a model variant (or a generic file, as ``anaconda
    upload -t file`` sends it), as a client that checks nothing."""
    spec = f"admin/{name}/1.0"
    basename = f"{name}/1.0/{path.name}" if kind == "model" else path.name
    api.post(f"/package/admin/{name}", json={"public": True})
    api.post(f"/release/{spec}", json={})
    staged = stage(api, path, basename, spec=spec, distribution_type=kind).json()
    assert storage_post(staged, path).status_code == 201
    return api.post(f"/commit/{spec}/{quote(basename)}", json={"dist_id": staged["dist_id"]})


@pytest.mark.parametrize("case", list(CASES))
def test_a_lying_model_header_is_refused_and_nothing_stored(
    case: str, server: RunningServer, api: httpx.Client, tmp_path: Path
) -> None:
    path = hostile_file(tmp_path, case)
    commit = raw_upload(api, path, f"hostile-{case}")
    assert commit.status_code == 400
    error = commit.json()["error"]
    assert path.name in error and CASES[case][2] in error
    assert_nothing_stored(server, path)
    assert httpx.get(f"{server.api}/models/admin/hostile-{case}").status_code == 404


def test_the_server_memory_stays_bounded(
    server: RunningServer, api: httpx.Client, tmp_path: Path
) -> None:
    pid = server.process.pid
    idle = rss(pid)
    reset_peak(pid)
    for case in ("tensors", "string", "array", "header"):
        assert raw_upload(api, hostile_file(tmp_path, case), f"memory-{case}").status_code == 400
    assert peak_rss(pid) - idle < 50 * MiB


def test_a_lying_gguf_sent_as_a_generic_file_is_refused(
    server: RunningServer, api: httpx.Client, tmp_path: Path
) -> None:
    """``anaconda upload -t file`` of a .gguf: checked as a model file too."""
    path = hostile_file(tmp_path, "string")
    commit = raw_upload(api, path, "liar", kind="file")
    assert commit.status_code == 400 and f"is {2**62} bytes long" in commit.json()["error"]
    assert_nothing_stored(server, path)


def test_ophis_model_upload_refuses_a_lying_file_before_sending(
    server: RunningServer, admin_token: str, tmp_path: Path
) -> None:
    path = hostile_file(tmp_path, "overlap")
    env = {**isolated_user(tmp_path), "OPHIS_SERVER": server.api, "BINSTAR_API_TOKEN": admin_token}
    result = ophis(env, "model", "upload", str(path), "--name", "liar-too")
    assert result.returncode == 1
    assert "failed the model checks" in result.stderr and "overlap" in result.stderr
    assert "nothing was uploaded" in result.stderr
    assert httpx.get(f"{server.api}/package/admin/liar-too").status_code == 404
