"""Projects from template to served REST API: ``ophis project init -t fastapi-model``, run
locally, deployed to a real server, called through its proxy with deployment tokens,
restarted after a crash, stopped, read, removed -- offline, from a channel made here of this
interpreter and the FastAPI installed beside it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.build_channels import make_build_channel
from ophis.testing.cli import ok_json, ophis
from ophis.testing.http import free_port
from ophis.testing.polling import eventually
from ophis.testing.server import RunningServer, admin_user
from ophis.testing.user_code import NOT_ROOT, user_code_server
from ophis.testing.venv_packages import make_venv_packages

SUBDIR = "linux-64"
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="linux-64 channel"),
    pytest.mark.skipif(os.geteuid() != 0, reason=NOT_ROOT),
]


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_build_channel(tmp_path_factory.mktemp("channel"), SUBDIR)
    make_venv_packages(["fastapi", "uvicorn"], folder, SUBDIR)
    index_channel(folder)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("deployments") / "data"
    with user_code_server(data, "deployments_poll_seconds = 0.5") as running:
        yield running


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, server: RunningServer) -> dict[str, str]:
    return admin_user(server, tmp_path_factory.mktemp("user"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, user: dict[str, str], channel: Path) -> Path:
    folder = tmp_path_factory.mktemp("projects") / "iris"
    made = ophis(
        user, "project", "init", str(folder), "-t", "fastapi-model", "-c", channel.as_uri()
    )
    assert made.returncode == 0, made.stderr
    return folder


def test_the_template_runs_locally(user: dict[str, str], project: Path) -> None:
    listed = ok_json(ophis(user, "project", "list-commands", "--path", str(project), "--json"))
    assert {t["name"] for t in listed} == {"serve", "predict"}
    predicted = ophis(
        user, "project", "run", "--path", str(project), "predict", "5.1", "3.5", "1.4", "0.2"
    )
    assert predicted.returncode == 0, predicted.stderr
    assert "'label': 'setosa'" in predicted.stdout
    assert (project / "ophis.lock").is_file()
    # `ophis project run serve` serves the model on $PORT
    port = free_port()
    serving = subprocess.Popen(
        [sys.executable, "-m", "ophis", "project", "run", "--path", str(project), "serve"],
        env={**user, "PORT": str(port)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        answer = eventually(lambda: httpx.post(f"http://127.0.0.1:{port}/predict", json=SETOSA))
        assert answer.json()["label"] == "setosa"
    finally:
        _kill_group(serving.pid)


def test_a_deployed_model_answers_through_the_proxy_with_a_deployment_token(
    server: RunningServer, user: dict[str, str], project: Path
) -> None:
    deployed = ok_json(
        ophis(
            user,
            "project",
            "deploy",
            "--path",
            str(project),
            "--server",
            server.url,
            "--name",
            "iris",
            "--json",
        )
    )
    assert deployed["status"] == "running" and deployed["public"] is False
    url = deployed["url"]
    assert url == f"{server.user_content_url}/deployments/{server.admin}/iris/"
    # no token: refused; a deployment token: the model's prediction
    refused = httpx.post(f"{url}predict", json=SETOSA)
    assert refused.status_code == 401 and "needs a token" in refused.json()["error"]
    token = _deployment_token(user, "caller")
    answer = httpx.post(f"{url}predict", json=SETOSA, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"label": "setosa", "probability": 0.9837}
    schema = httpx.get(f"{url}openapi.json", headers={"Authorization": f"Bearer {token}"}).json()
    assert "/predict" in schema["paths"]
    # an expired token is refused
    short = _deployment_token(user, "short", "1s")
    time.sleep(1.5)
    expired = httpx.post(f"{url}predict", json=SETOSA, headers={"Authorization": f"Bearer {short}"})
    assert expired.status_code == 401
    # a deployment token reaches nothing else: not the API's private listings
    other = httpx.get(
        f"{server.api}/deployments/{server.admin}", headers={"Authorization": f"token {token}"}
    )
    assert other.status_code in (401, 403, 404)


def test_another_user_needs_access_and_public_opens_it(
    server: RunningServer, user: dict[str, str]
) -> None:
    created = server.ophis("user", "create", "bob", "--password", "bob-password-1", "--json")
    assert created.returncode == 0, created.stderr
    bob = {"Authorization": f"token {server.login('bob', 'bob-password-1')}"}
    url = f"{server.user_content_url}/deployments/{server.admin}/iris/predict"
    assert httpx.post(url, json=SETOSA, headers=bob).status_code == 404
    ok_json(
        ophis(
            user, "deployment", "access", "iris", "--user", "bob", "--server", server.url, "--json"
        )
    )
    assert httpx.post(url, json=SETOSA, headers=bob).status_code == 200
    # a group of an organization: its members get through
    for login in ("carol",):
        assert (
            server.ophis("user", "create", login, "--password", "carol-password-1").returncode == 0
        )
    assert server.ophis("org", "create", "lab", "--owner", server.admin).returncode == 0
    admin = {"Authorization": f"token {user['ANACONDA_API_TOKEN']}"}
    for call in (
        httpx.post(f"{server.api}/group/lab/analysts", json={"perms": "read"}, headers=admin),
        httpx.put(f"{server.api}/group/lab/analysts/members/carol", headers=admin),
    ):
        assert call.status_code == 204, call.text
    carol = {"Authorization": f"token {server.login('carol', 'carol-password-1')}"}
    assert httpx.post(url, json=SETOSA, headers=carol).status_code == 404
    granted = ok_json(
        ophis(
            user,
            "deployment",
            "access",
            "iris",
            "--user",
            "bob",
            "--group",
            "lab/analysts",
            "--json",
        )
    )
    assert granted["allowed_groups"] == ["lab/analysts"]
    assert httpx.post(url, json=SETOSA, headers=carol).status_code == 200
    ok_json(
        ophis(user, "deployment", "access", "iris", "--public", "--server", server.url, "--json")
    )
    assert httpx.post(url, json=SETOSA).status_code == 200
    ok_json(
        ophis(user, "deployment", "access", "iris", "--private", "--server", server.url, "--json")
    )
    assert httpx.post(url, json=SETOSA).status_code == 401


def test_a_crashed_deployment_is_restarted_and_its_logs_kept(
    server: RunningServer, user: dict[str, str]
) -> None:
    shown = ok_json(ophis(user, "deployment", "show", "iris", "--server", server.url, "--json"))
    os.kill(shown["pid"], signal.SIGKILL)
    token = _deployment_token(user, "after-crash")

    def restarted() -> dict[str, Any]:
        now = ok_json(ophis(user, "deployment", "show", "iris", "--server", server.url, "--json"))
        assert now["restarts"] == 1 and now["status"] == "running", now
        return now

    eventually(restarted, timeout=60)
    # the app the killed process had started was ended with it, not left running
    assert _group_members(shown["pid"]) == []
    answer = eventually(
        lambda: httpx.post(
            f"{server.user_content_url}/deployments/{server.admin}/iris/predict",
            json=SETOSA,
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    assert answer.json()["label"] == "setosa"
    logs = ophis(user, "deployment", "logs", "iris", "--server", server.url)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.count("Uvicorn running") == 2
    assert "the process ended; restarting in 1 s" in logs.stdout


def test_stop_start_and_remove(server: RunningServer, user: dict[str, str]) -> None:
    stopped = ok_json(ophis(user, "deployment", "stop", "iris", "--server", server.url, "--json"))
    assert stopped["status"] == "stopped"
    public = ok_json(
        ophis(user, "deployment", "access", "iris", "--public", "--server", server.url, "--json")
    )
    assert public["public"] is True
    down = httpx.post(
        f"{server.user_content_url}/deployments/{server.admin}/iris/predict", json=SETOSA
    )
    assert down.status_code == 404 and "is stopped" in down.json()["error"]
    started = ok_json(ophis(user, "deployment", "start", "iris", "--server", server.url, "--json"))
    assert started["status"] == "running"
    up = httpx.post(
        f"{server.user_content_url}/deployments/{server.admin}/iris/predict", json=SETOSA
    )
    assert up.status_code == 200
    removed = ok_json(ophis(user, "deployment", "remove", "iris", "--server", server.url, "--json"))
    assert removed == {"success": True, "removed": f"{server.admin}/iris"}
    assert ok_json(ophis(user, "deployment", "list", "--server", server.url, "--json")) == []
    assert not (server.data_dir / "deployments" / server.admin / "iris").exists()
    assert not _alive(started["pid"]) and _group_members(started["pid"]) == []


def test_a_project_that_cannot_be_solved_is_not_deployed(
    tmp_path: Path, server: RunningServer, user: dict[str, str], channel: Path
) -> None:
    folder = tmp_path / "broken"
    assert (
        ophis(
            user, "project", "init", str(folder), "-t", "fastapi-model", "-c", channel.as_uri()
        ).returncode
        == 0
    )
    manifest = folder / "ophis.toml"
    manifest.write_text(manifest.read_text().replace('uvicorn = ">=0.29"', 'uvicorn = ">=999"'))
    done = ophis(
        user, "project", "deploy", "--path", str(folder), "--server", server.url, "--name", "broken"
    )
    assert done.returncode == 1
    assert "The environment of broken cannot be solved" in done.stderr
    assert "uvicorn >=999" in done.stderr
    assert ok_json(ophis(user, "deployment", "list", "--server", server.url, "--json")) == []
    assert not (server.data_dir / "deployments" / server.admin / "broken").exists()


def _deployment_token(user: dict[str, str], name: str, expires: str | None = None) -> str:
    extra = ["--expires", expires] if expires else []
    made = ok_json(
        ophis(user, "deployment", "token", "create", "iris", "--name", name, *extra, "--json")
    )
    assert made["scopes"] == ["deployment:invoke"]
    return made["token"]


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _group_members(group: int) -> list[int]:
    """The live processes of the process group ``group``."""
    members = []
    for entry in Path("/proc").iterdir():
        try:
            state, _, pgrp = (entry / "stat").read_text().rsplit(") ", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue
        if int(pgrp) == group and state != "Z":
            members.append(int(entry.name))
    return members


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1]
    except (OSError, IndexError):
        return False
    return not state.startswith("Z")


def test_a_project_template_is_uploaded_and_pulled_from_the_server(
    tmp_path: Path, server: RunningServer, user: dict[str, str], channel: Path
) -> None:
    source = tmp_path / "starter"
    assert (
        ophis(
            user, "project", "init", str(source), "-t", "python", "-c", channel.as_uri()
        ).returncode
        == 0
    )
    no_version = ophis(user, "project", "upload", "--path", str(source))
    assert no_version.returncode == 1 and "has no version" in no_version.stderr
    manifest = source / "ophis.toml"
    manifest.write_text(
        manifest.read_text().replace('name = "starter"', 'name = "starter"\nversion = "1.2"')
    )
    (source / ".ophis").mkdir()
    (source / ".ophis" / "junk").write_text("an environment is never uploaded")
    uploaded = ok_json(ophis(user, "project", "upload", "--path", str(source), "--json"))
    assert uploaded["template"] == f"{server.admin}/starter" and uploaded["status"] == "uploaded"
    shown = ok_json(ophis(user, "show", f"{server.admin}/starter", "--json"))
    assert [f["basename"] for f in shown["files"]] == ["starter-1.2.project.tar.gz"]
    target = tmp_path / "mine"
    pulled = ok_json(
        ophis(
            user, "project", "init", str(target), "--template", f"{server.admin}/starter", "--json"
        )
    )
    assert pulled["manifest"] == str(target / "ophis.toml")
    assert (target / "main.py").read_text() == (source / "main.py").read_text()
    assert not (target / ".ophis").exists()
    ran = ophis(user, "project", "run", "--path", str(target), "start")
    assert ran.returncode == 0 and "Hello from an Ophis project." in ran.stdout


def test_a_hostile_project_archive_is_refused(
    tmp_path: Path, server: RunningServer, user: dict[str, str]
) -> None:
    import io
    import tarfile

    archive = tmp_path / "evil-1.0.project.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (
            ("ophis.toml", b'[workspace]\nname = "evil"\nversion = "1.0"\nchannels = ["x"]\n'),
            ("../escape.txt", b"out"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    done = ophis(user, "upload", str(archive))
    assert done.returncode == 1
    assert "has a member outside the project: ../escape.txt" in done.stderr + done.stdout
    refused = httpx.post(
        f"{server.api}/deployments/{server.admin}/evil",
        content=archive.read_bytes(),
        headers={"Authorization": f"token {user['ANACONDA_API_TOKEN']}"},
    )
    assert refused.status_code == 400 and "outside the project" in refused.json()["error"]
    assert not (tmp_path.parent / "escape.txt").exists()
