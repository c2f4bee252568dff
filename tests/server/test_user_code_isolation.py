"""User code never runs as the server. A fresh server runs none; turned on, a notebook's
kernel and a deployment's code run as an OS user of their account: not the server's, one
per account, with no access to the data directory (database, blobs, secrets) nor to another
account's home, no way to signal the server, none of the server's variables, and no
connection to another account's deployment but through the proxy. A server that
cannot isolate (not root) refuses to start user code and says why. What the user code can
do is seen through its own output."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from ophis.indexer.channel_index import index_channel
from ophis.server.services.hosting import deployments
from ophis.server.services.hosting.notebooks import user_folder
from ophis.server.services.hosting.os_users import account_user
from ophis.server.settings import load_settings
from ophis.testing.anaconda_client import AnacondaClient, as_user
from ophis.testing.build_channels import make_build_channel
from ophis.testing.cli import ok_json, ophis
from ophis.testing.notebooks import execute_request, stream_output
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer, admin_user, run_server
from ophis.testing.user_code import NOT_ROOT, enable_user_code, user_homes
from ophis.testing.web import WebClient, signed_in

MAX_PROCESSES = 300

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason=NOT_ROOT),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="OS users of Linux"),
]

#: what the user code reports: who it is, and what it could reach (paths given in PATHS)
PROBE = """
import json, os, resource
def attempt(path):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").close()
        return "read"
    except PermissionError:
        return "EACCES"
def signal_server(pid):
    try:
        os.kill(pid, 0)
        return "signalled"
    except PermissionError:
        return "EPERM"
with open(os.path.join(os.environ.get("PROBE_DIR", "."), "paths.json")) as handle:
    asked = json.load(handle)
print("PROBE " + json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "home": os.environ.get("HOME"), "user": os.environ.get("USER"),
    "variables": sorted(os.environ),
    "paths": {path: attempt(path) for path in asked["paths"]},
    "server": signal_server(asked["server_pid"]),
    "limits": {"processes": resource.getrlimit(resource.RLIMIT_NPROC)[0],
               "memory": resource.getrlimit(resource.RLIMIT_AS)[0]},
}), flush=True)
"""


@contextmanager
def _open_data_dir() -> Iterator[Path]:
    """A data directory anyone could read as the server found it (as a careless
    administrator might make it; pytest's own folders are closed): only the server can
    close it to user code."""
    parent = Path(tempfile.mkdtemp(prefix="ophis-open-"))
    parent.chmod(0o755)
    (parent / "data").mkdir(mode=0o755)
    try:
        yield parent / "data"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _paths_to_try(server: RunningServer, other_home: Path) -> dict[str, object]:
    """The data directory, its files (the database, the private package's blob first) and
    another account's home."""
    data = server.data_dir
    files = sorted(p for p in data.rglob("*") if p.is_file())
    secrets = [p for p in files if p.name == "ophis.sqlite" or p.name.startswith("secret-")]
    if server.backend.database_url is None and server.backend.storage_url is None:
        assert len(secrets) == 2, secrets
    paths = [data, *secrets, *files[:40], other_home]
    return {"paths": [str(p) for p in paths], "server_pid": server.process.pid}


def _report(text: str) -> dict:
    line = next(line for line in text.splitlines() if line.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


def _assert_isolated(report: dict, tried: dict[str, object]) -> None:
    assert report["uid"] != os.getuid() and report["gid"] != os.getgid()
    assert report["groups"] in ([], [report["gid"]])
    assert all(result == "EACCES" for result in report["paths"].values()), report["paths"]
    assert set(report["paths"]) == set(tried["paths"])  # type: ignore[arg-type]
    assert report["server"] == "EPERM"
    assert report["limits"]["processes"] == MAX_PROCESSES
    leaked = [v for v in report["variables"] if v.startswith("OPHIS_ADMIN") or "DATABASE" in v]
    assert leaked == []


# --- a fresh server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("fresh") / "data"
    data.mkdir()
    with run_server(data) as running:
        yield running


def test_a_fresh_server_runs_no_user_code(fresh: RunningServer) -> None:
    carol = signed_in(fresh, "carol")
    try:
        page = carol.get("/notebooks")
        assert page.status_code == 200 and "Notebooks are turned off" in page.text
        assert 'id="start-notebook"' not in page.text
        start = carol.post("/notebooks/start", {"environment": "default"}, page="/")
        assert start.status_code == 404
    finally:
        carol.close()
    deploy = httpx.post(
        f"{fresh.api}/deployments/{fresh.admin}/anything",
        content=b"not even an archive",
        headers={"Authorization": f"token {fresh.login()}"},
    )
    assert deploy.status_code == 404, deploy.text
    assert deploy.json()["error"] == "Deployments are turned off on this server."
    assert not (fresh.data_dir / "notebooks-runtime").exists()
    assert not (fresh.data_dir / "deployments").exists()


# --- a server that isolates ----------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with _open_data_dir() as data, user_homes() as homes:
        enable_user_code(
            data, homes, "notebooks_max_running = 2", f"user_max_processes = {MAX_PROCESSES}"
        )
        with run_server(data) as running:
            _upload_private_package(running, data.parent)
            yield running


def _upload_private_package(server: RunningServer, folder: Path) -> None:
    client = as_user(AnacondaClient(server, folder / "anaconda"), server.login())
    client("package", "--create", "--private", "--summary", "Hidden", "admin/secret", check=True)
    client("upload", str(make_package(folder, "secret", "1.0")), check=True)


def _home(server: RunningServer, login: str) -> Path:
    return user_folder(load_settings(data_dir=server.data_dir), login)


def _start_notebook(client: WebClient, login: str) -> httpx.Client:
    """The user's JupyterLab, started; their browser on the user-content origin, handed
    over by the site, with JupyterLab's XSRF cookie."""
    started = client.post("/notebooks/start", {"environment": "default"}, page="/notebooks")
    assert started.status_code == 303, started.text
    lab = client.open_user_content(f"/notebooks/{login}/lab")
    assert lab.get(f"/notebooks/{login}/lab").status_code == 200
    return lab


def _run_in_kernel(server: RunningServer, lab: httpx.Client, login: str, code: str) -> str:
    headers = {"X-XSRFToken": lab.cookies.get("_xsrf", "")}
    kernel = lab.post(f"/notebooks/{login}/api/kernels", json={}, headers=headers)
    assert kernel.status_code == 201, kernel.text
    origin = server.user_content_url
    url = f"{origin.replace('http', 'ws')}/notebooks/{login}/api/kernels/{kernel.json()['id']}"
    cookie = f"ophis_app={lab.cookies['ophis_app']}"
    with connect(f"{url}/channels", additional_headers={"Cookie": cookie, "Origin": origin}) as ws:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps(execute_request(msg_id, code)))
        return stream_output(ws, msg_id, timeout=90)


def test_notebook_kernels_run_as_their_accounts_os_user_and_reach_nothing_else(
    server: RunningServer,
) -> None:
    alice, bob = signed_in(server, "alice"), signed_in(server, "bob")
    try:
        labs = {"alice": _start_notebook(alice, "alice"), "bob": _start_notebook(bob, "bob")}
        reports = {}
        for login, other in (("alice", "bob"), ("bob", "alice")):
            tried = _paths_to_try(server, _home(server, other))
            (_home(server, login) / "paths.json").write_text(json.dumps(tried))
            reports[login] = _report(_run_in_kernel(server, labs[login], login, PROBE))
            labs[login].close()
            _assert_isolated(reports[login], tried)
        assert reports["alice"]["uid"] != reports["bob"]["uid"]
        assert reports["alice"]["limits"]["memory"] == 4096 * 1024 * 1024
        assert reports["alice"]["home"] == str(_home(server, "alice"))
        assert reports["alice"]["user"].startswith("ophis-alice-")
        # the JupyterLab itself, not only its kernel, runs as alice's OS user
        state = server.data_dir / "notebooks-runtime" / "alice" / "server.json"
        pid = json.loads(state.read_text())["pid"]
        assert Path(f"/proc/{pid}").stat().st_uid == reports["alice"]["uid"]
    finally:
        alice.close()
        bob.close()


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_build_channel(tmp_path_factory.mktemp("channel"), "linux-64")
    index_channel(folder)
    return folder


@pytest.fixture(scope="module")
def deployer(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The admin's command line, for deploying projects to ``server`` (offline)."""
    return admin_user(server, tmp_path_factory.mktemp("deployer"))


def _deploy(
    server: RunningServer,
    deployer: dict[str, str],
    folder: Path,
    channel: Path,
    script: str,
    *options: str,
) -> None:
    """Deploy ``folder`` as a project whose ``serve`` task runs ``script`` (probe.py), then
    serves the project's files on $PORT."""
    folder.mkdir(exist_ok=True)
    (folder / "ophis.toml").write_text(
        f'[workspace]\nname = "{folder.name}"\n'
        f'channels = ["{channel.as_uri()}"]\nplatforms = ["linux-64"]\n\n'
        '[dependencies]\npython = ">=3.10"\n\n'
        '[tasks]\nserve = "python probe.py && exec python -m http.server --bind 127.0.0.1 $PORT"\n'
    )
    (folder / "probe.py").write_text(script)
    deployed = ophis(
        deployer, "project", "deploy", "--path", str(folder), "--server", server.url, *options
    )
    assert deployed.returncode == 0, deployed.stderr


def _deployment_log(server: RunningServer, owner: str, name: str, marker: str) -> str:
    """The deployment's log once ``marker`` is in it (what its code printed)."""
    log = deployments.log_path(load_settings(data_dir=server.data_dir), owner, name)
    text = ""
    for _ in range(50):
        text = log.read_text() if log.is_file() else ""
        if marker in text:
            break
        time.sleep(0.2)
    return text


def test_a_deployment_runs_as_its_owners_os_user_and_reaches_nothing_else(
    server: RunningServer,
    deployer: dict[str, str],
    channel: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    project = tmp_path_factory.mktemp("projects") / "probe"
    project.mkdir()
    other = account_user(load_settings(data_dir=server.data_dir), "alice")
    tried = _paths_to_try(server, other.home)
    (project / "paths.json").write_text(json.dumps(tried))
    _deploy(server, deployer, project, channel, PROBE)
    logs = ""
    for _ in range(50):
        logs = ophis(deployer, "deployment", "logs", "probe", "--server", server.url).stdout
        if "PROBE " in logs:
            break
        time.sleep(0.2)
    report = _report(logs)
    _assert_isolated(report, tried)
    assert report["user"].startswith(f"ophis-{server.admin}-")
    shown = ophis(deployer, "deployment", "show", "probe", "--server", server.url, "--json")
    assert Path(f"/proc/{ok_json(shown)['pid']}").stat().st_uid == report["uid"]


#: another account's code, trying to connect to a deployment's port on this host
REACH = """
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
    print("REACH connected", flush=True)
except OSError as error:
    print("REACH " + type(error).__name__, flush=True)
"""


def test_another_accounts_code_cannot_connect_to_a_deployments_port(
    server: RunningServer,
    deployer: dict[str, str],
    channel: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A private deployment is reached through the proxy only, which checks its callers:
    not from another account's notebook kernel nor from another account's deployment,
    which would skip those checks."""
    target = tmp_path_factory.mktemp("projects") / "target"
    _deploy(server, deployer, target, channel, "print('TARGET up', flush=True)")
    log = _deployment_log(server, server.admin, "target", "TARGET up")
    port = int(re.findall(r"starting serve on port (\d+)", log)[-1])
    alice = signed_in(server, "alice")
    try:
        lab = _start_notebook(alice, "alice")
        from_notebook = _run_in_kernel(server, lab, "alice", REACH.format(port=port))
        lab.close()
    finally:
        alice.close()
    assert "REACH ConnectionRefusedError" in from_notebook, from_notebook
    reach = tmp_path_factory.mktemp("projects") / "reach"
    _deploy(server, deployer, reach, channel, REACH.format(port=port), "--owner", "alice")
    from_deployment = _deployment_log(server, "alice", "reach", "REACH ")
    assert "REACH ConnectionRefusedError" in from_deployment, from_deployment
    # the owner's private deployment answers through the proxy, to a token of its own
    address = f"{server.user_content_url}/deployments/{server.admin}/target/probe.py"
    assert httpx.get(address).status_code == 401
    made = ophis(deployer, "deployment", "token", "create", "target", "--name", "t", "--json")
    answer = httpx.get(address, headers={"Authorization": f"Bearer {ok_json(made)['token']}"})
    assert answer.status_code == 200 and "TARGET up" in answer.text


def test_a_server_running_deployments_in_the_hosts_network_warns_at_start() -> None:
    with _open_data_dir() as data, user_homes() as homes:
        enable_user_code(data, homes, 'deployments_network = "host"')
        with run_server(data):
            pass
        log = " ".join((data.parent / "data.log").read_text().split())
    assert 'Warning: deployments_network = "host": every local process' in log
    assert "can connect to every deployment's port, private ones too" in log


# --- a server that cannot isolate ----------------------------------------------------------


def test_a_server_that_is_not_root_refuses_to_start_notebooks_and_says_why() -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to start a server as another user")
    nobody = 65534
    with _open_data_dir() as data, user_homes() as homes:
        enable_user_code(data, homes)
        os.chown(data, nobody, nobody)
        os.chown(data / "server.toml", nobody, nobody)
        as_nobody = (setpriv, f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups")
        with run_server(data, wrapper=as_nobody) as running:
            carol = signed_in(running, "carol")
            try:
                page = carol.get("/notebooks")
                assert page.status_code == 200
                assert "Notebooks need isolation" in page.text
                assert "Run the server as root" in page.text
                assert 'id="start-notebook"' not in page.text
                start = carol.post("/notebooks/start", {"environment": "default"}, page="/")
                assert start.status_code == 503
                assert "not running as root" in start.text
            finally:
                carol.close()
            deploy = httpx.post(
                f"{running.api}/deployments/{running.admin}/anything",
                content=b"an archive it never reads",
                headers={"Authorization": f"token {running.login()}"},
            )
            assert deploy.status_code == 503, deploy.text
            assert deploy.json()["error"].startswith("Deployments need isolation")
        log = (data.parent / "data.log").read_text()
        assert "Refused: Notebooks need isolation" in log
        assert "Refused: Deployments need isolation" in log
        assert subprocess.run(["pgrep", "-u", str(nobody), "jupyter"]).returncode == 1
