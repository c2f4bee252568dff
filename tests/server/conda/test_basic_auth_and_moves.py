"""Tokens given by HTTP Basic auth on channel and index URLs (pip with ``user:TOKEN@``, a
netrc file, ``ophis`` with a channel URL holding the token), and file URLs under a label the
file has left, which redirect readers to where it is now."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ophis.core.distribution_types import DistributionType
from ophis.testing.cli import isolated_user
from ophis.testing.packages import make_package
from ophis.testing.python_dists import make_wheel
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase

SECRET = "noarch/secret-tool-1.0-0.tar.bz2"
MOVING = "noarch/moving-1.0-0.tar.bz2"
HIDDEN = "noarch/hidden-1.0-0.tar.bz2"
WHEEL = "secret_wheel-2.0-py3-none-any.whl"
DEV_WHEEL = "dev_wheel-1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def alice(database: ServerDatabase, tmp_path_factory: pytest.TempPathFactory) -> str:
    """alice's channel: a private conda package in main, a public and a private one in the
    dev label; her pip index: a private wheel, and a public one in dev. Her token."""
    token = database.user("alice")
    built = tmp_path_factory.mktemp("built")
    database.add("alice", make_package(built, "secret-tool"), public=False)
    database.add("alice", make_package(built, "moving"), labels=["dev"])
    database.add("alice", make_package(built, "hidden"), labels=["dev"], public=False)
    database.add(
        "alice", make_wheel(built, "secret-wheel", "2.0"), kind=DistributionType.PYPI, public=False
    )
    database.add(
        "alice", make_wheel(built, "dev-wheel", "1.0"), kind=DistributionType.PYPI, labels=["dev"]
    )
    return token


def with_credentials(server: RunningServer, user: str, password: str) -> str:
    return server.url.replace("http://", f"http://{user}:{password}@")


def pip_download(index: str, project: str, into: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(HOME=str(home), PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1")
    return subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir"),
            *("--disable-pip-version-check", "--index-url", index, "-d", str(into), project),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_pip_takes_a_token_as_the_basic_password_or_from_netrc(
    server: RunningServer, alice: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    index = f"{with_credentials(server, 'any-name', alice)}/pypi/alice/simple/"
    fetched = pip_download(index, "secret-wheel", tmp_path / "url", home)
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "url" / WHEEL).is_file()

    netrc = home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin ci\npassword {alice}\n")
    netrc.chmod(0o600)
    fetched = pip_download(
        f"{server.url}/pypi/alice/simple/", "secret-wheel", tmp_path / "rc", home
    )
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "rc" / WHEEL).is_file()


def test_a_basic_credential_is_a_token_like_any_other(server: RunningServer, alice: str) -> None:
    private = f"{server.url}/conda/alice/{SECRET}"
    assert httpx.get(private, auth=("whoever", alice), follow_redirects=True).status_code == 200
    assert httpx.get(private, auth=(alice, ""), follow_redirects=True).status_code == 200
    wheel = f"{server.url}/pypi/alice/files/{WHEEL}"
    assert httpx.get(wheel, auth=("x", alice), follow_redirects=True).status_code == 200
    download = f"{server.api}/download/alice/secret-tool/1.0/{SECRET}"
    assert httpx.get(download, auth=("x", alice), follow_redirects=True).status_code == 200
    repodata = httpx.get(f"{server.url}/conda/alice/noarch/repodata.json", auth=("x", alice))
    assert SECRET.split("/")[1] in repodata.json()["packages"]

    # no credential: the private file is not there (nothing to challenge for)
    anonymous = httpx.get(private)
    assert anonymous.status_code == 404 and "www-authenticate" not in anonymous.headers

    # a narrower token sees what its scopes allow: api:read is no channel download
    narrow = server.login("alice", "alice-password", scopes=["api:read"])
    assert httpx.get(private, auth=("x", narrow)).status_code == 404


@pytest.mark.parametrize(
    "credential",
    [
        ("alice", "alice-password"),  # a password, even the right one, is not checked here
        ("alice", "oph-not-a-real-token-0123456789"),
        ("", ""),
    ],
)
def test_a_wrong_basic_credential_is_challenged(
    server: RunningServer, alice: str, credential: tuple[str, str]
) -> None:
    for url in (
        f"{server.url}/conda/alice/{SECRET}",
        f"{server.url}/conda/alice/noarch/repodata.json",  # public: still a wrong credential
        f"{server.url}/pypi/alice/simple/",
    ):
        answer = httpx.get(url, auth=credential)
        assert answer.status_code == 401, url
        assert answer.headers["www-authenticate"].startswith('Basic realm="')
        assert answer.json()["error"]


def test_revoked_tokens_and_api_paths(server: RunningServer, alice: str) -> None:
    spent = server.login("alice", "alice-password")
    url = f"{server.url}/conda/alice/{SECRET}"
    assert httpx.get(url, auth=("x", spent), follow_redirects=True).status_code == 200
    revoked = httpx.delete(
        f"{server.api}/authentications", headers={"Authorization": f"token {spent}"}
    )
    assert revoked.status_code == 201
    assert httpx.get(url, auth=("x", spent)).status_code == 401
    # the API keeps anaconda-client's scheme: no Basic challenge there
    api = httpx.get(f"{server.api}/user", headers={"Authorization": f"token {spent}"})
    assert api.status_code == 401 and "www-authenticate" not in api.headers


def test_ophis_solves_from_a_channel_url_holding_a_basic_token(
    server: RunningServer, alice: str, tmp_path: Path
) -> None:
    channel = f"{with_credentials(server, 'ci', alice)}/conda/alice"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "ophis", "create", "-p", str(tmp_path / "env")),
            *("-c", channel, "--override-channels", "--json", "-y", "secret-tool"),
        ],
        capture_output=True,
        text=True,
        env=isolated_user(tmp_path),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "env" / "conda-meta" / "secret-tool-1.0-0.json").is_file()
    assert alice not in (tmp_path / "env" / "conda-meta" / "secret-tool-1.0-0.json").read_text()


# --- files moved out of the label a URL names ----------------------------------------------


def move(server: RunningServer, token: str, package: str, to: str, away: str) -> None:
    """``anaconda move``'s two calls: into the new label, out of the old."""
    auth = {"Authorization": f"token {token}"}
    body = {"package": package, "version": None, "basename": None}
    assert (
        httpx.post(f"{server.api}/channels/alice/{to}", json=body, headers=auth).status_code == 201
    )
    taken = httpx.request("DELETE", f"{server.api}/channels/alice/{away}", json=body, headers=auth)
    assert taken.status_code == 201


def test_a_file_moved_to_main_redirects_readers_from_its_old_label(
    server: RunningServer, alice: str, tmp_path: Path
) -> None:
    old = f"{server.url}/conda/alice/label/dev/{MOVING}"
    explicit = tmp_path / "explicit.txt"
    explicit.write_text(f"@EXPLICIT\n{old}\n")
    payload = httpx.get(old, follow_redirects=True).content
    move(server, alice, "moving", "main", "dev")

    moved = httpx.get(old)
    assert moved.status_code == 302
    assert moved.headers["location"] == f"../../../{MOVING}"
    assert httpx.get(old, follow_redirects=True).content == payload
    with_token = f"{server.url}/conda/t/{alice}/alice/label/dev/{MOVING}"
    hop = httpx.get(with_token)  # the redirect keeps the token segment
    assert hop.url.join(hop.headers["location"]) == f"{server.url}/conda/t/{alice}/alice/{MOVING}"

    result = subprocess.run(
        [
            *(sys.executable, "-m", "ophis", "create", "-p", str(tmp_path / "env")),
            *("--file", str(explicit), "--json", "-y"),
        ],
        capture_output=True,
        text=True,
        env=isolated_user(tmp_path),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "env" / "conda-meta" / "moving-1.0-0.json").is_file()


def test_a_moved_private_file_redirects_only_those_who_may_read_it(
    server: RunningServer, alice: str
) -> None:
    move(server, alice, "hidden", "stable", "dev")
    old = f"{server.url}/conda/alice/label/dev/{HIDDEN}"
    assert httpx.get(old).status_code == 404
    assert httpx.get(old.replace("dev/noarch", "nowhere/noarch")).status_code == 404
    mine = httpx.get(old, auth=("x", alice))
    assert mine.status_code == 302 and mine.headers["location"] == f"../../../label/stable/{HIDDEN}"
    assert httpx.get(old, auth=("x", alice), follow_redirects=True).status_code == 200


def test_a_wheel_moved_out_of_its_label_redirects(server: RunningServer, alice: str) -> None:
    move(server, alice, "dev-wheel", "main", "dev")
    old = f"{server.url}/pypi/alice/label/dev/files/{DEV_WHEEL}"
    moved = httpx.get(old)
    assert moved.status_code == 302 and moved.headers["location"] == f"../../../files/{DEV_WHEEL}"
    assert httpx.get(old, follow_redirects=True).status_code == 200
