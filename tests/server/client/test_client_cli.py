"""``ophis login``, ``upload``, ``label``, ``copy``, ``token``, ``org`` ... against a real
server, as a user runs them; the same steps with the real ``anaconda`` client reach the same
server state; and no token ever shows in an output, the server's log or the client's files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from ophis.client.auth import read_tokens
from ophis.server.db.engine import make_engine, make_sessionmaker
from ophis.server.services.accounts import accounts
from ophis.testing.anaconda_client import AnacondaClient
from ophis.testing.packages import make_package
from ophis.testing.python_dists import make_sdist, make_wheel
from ophis.testing.server import RunningServer, run_server

PASSWORD = "a-password-for-tests"
#: every token issued in this module (the last test looks for them everywhere)
SECRETS: set[str] = set()
#: (args, stdout + stderr) of every ``ophis`` run, but the one ``token create`` that prints
#: the token it was asked for
OUTPUTS: list[tuple[str, str]] = []
HOMES: list[Path] = []


class _AnySha:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and len(other) == 64


ANY_SHA = _AnySha()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Logging requests too (info), so that the log test sees every URL."""
    with run_server(tmp_path_factory.mktemp("server") / "data", "--log-level", "info") as s:
        yield s


@dataclass
class Ophis:
    """The ``ophis`` command of one user: their own HOME, configs, environments, caches."""

    home: Path
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        HOMES.append(self.home)
        isolated = ("CONDA", "OPHIS", "MAMBA", "BINSTAR", "ANACONDA", "PYTHON_KEYRING", "XDG")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(isolated)}
        self.env.update(
            HOME=str(self.home),
            BINSTAR_CONFIG_DIR=str(self.home / "binstar"),
            OPHIS_CLIENT_CONFIG_DIR=str(self.home / "ophis"),
            CONDARC=str(self.home / ".condarc"),
            OPHIS_ROOT_PREFIX=str(self.home / "root"),
            CONDA_PKGS_DIRS=str(self.home / "pkgs"),
            PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        )

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True, shows_token: bool = False
    ) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(
            [sys.executable, "-m", "ophis", *args],
            capture_output=True,
            text=True,
            env=self.env,
            input=stdin or "",
            timeout=120,
        )
        if not shows_token:
            OUTPUTS.append((" ".join(args), run.stdout + run.stderr))
        if check and run.returncode != 0:
            raise AssertionError(f"ophis {' '.join(args)} failed:\n{run.stdout}{run.stderr}")
        return run

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self(*args, "--json", **kwargs).stdout)

    def login(self, url: str, user: str, *extra: str) -> None:
        self("login", url, "--username", user, *extra, stdin=f"{PASSWORD}\n")
        SECRETS.add(self.token_file(f"{url}/api").read_text())

    def token_file(self, api: str) -> Path:
        """anaconda-client's (and conda's) token file for an API URL."""
        return self.home / "binstar" / "data" / f"{quote_plus(api)}.token"


def add_user(server: RunningServer, login: str, org_of: str | None = None) -> None:
    """A user (or, with ``org_of``, an organization owned by that user), made straight in
    the server's database."""
    engine = make_engine(server.settings.database)
    try:
        with make_sessionmaker(engine)() as session:
            if org_of:
                accounts.create_org(session, login, accounts.get_account(session, org_of))
            else:
                accounts.create_user(session, login, PASSWORD)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The four kinds of file, and one more conda package for a second upload."""
    folder = tmp_path_factory.mktemp("files")
    return {
        "conda": make_package(folder, "demo", fmt=".conda"),
        "tar.bz2": make_package(folder, "tool", depends=["demo"], fmt=".tar.bz2"),
        "wheel": make_wheel(folder),
        "sdist": make_sdist(folder),
        "extra": make_package(folder, "extra", fmt=".conda"),
    }


@pytest.fixture(scope="module")
def alice(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Ophis:
    add_user(server, "alice")
    ophis = Ophis(tmp_path_factory.mktemp("alice"))
    ophis.login(server.url, "alice")
    return ophis


@pytest.fixture(scope="module")
def admin_api(server: RunningServer) -> Iterator[httpx.Client]:
    token = server.login()
    SECRETS.add(token)
    headers = {"Authorization": f"token {token}"}
    with httpx.Client(base_url=server.api, headers=headers) as client:
        yield client


def holdings(api: httpx.Client, owner: str) -> dict[str, Any]:
    """An owner's packages, files and labels as the API lists them (owner-independent)."""
    packages = {}
    for listed in api.get(f"/packages/{owner}").json():
        package = api.get(f"/package/{owner}/{listed['name']}").json()
        packages[package["name"]] = {
            "public": package["public"],
            "package_types": package["package_types"],
            "files": sorted(
                (f["version"], f["basename"], f["type"], tuple(f["labels"]), f["sha256"])
                for f in package["files"]
            ),
        }
    labels = api.get(f"/channels/{owner}").json()
    return {"packages": packages, "labels": {k: v["num_files"] for k, v in labels.items()}}


# --- logging in and out --------------------------------------------------------------------


def test_login_stores_the_token_where_conda_and_anaconda_read_it_and_logout_revokes_it(
    server: RunningServer, tmp_path: Path
) -> None:
    add_user(server, "dana")
    dana = Ophis(tmp_path / "dana")
    refused = dana("login", server.url, "-u", "dana", stdin="wrong\n", check=False)
    assert refused.returncode == 1
    assert "refused the user name or password of 'dana'" in refused.stderr
    assert "run `ophis login` again" in refused.stderr

    done = dana("login", server.url, "--username", "dana", stdin=f"{PASSWORD}\n")
    assert f"Logged in to {server.api} as dana" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr
    token = dana.token_file(server.api).read_text()
    SECRETS.add(token)
    ophis_file = dana.home / "ophis" / "tokens" / f"{quote_plus(server.api)}.token"
    assert ophis_file.read_text() == token
    for path in (ophis_file, dana.token_file(server.api)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = (dana.home / "ophis" / "client.yml").read_text()
    assert server.api in config and "token_store: file" in config and token not in config
    # conda's rule: the token of <root>/api is also the token of <root>/conda
    assert read_tokens(dana.env)[f"{server.url}/conda"] == token

    assert dana.json("whoami")["login"] == "dana"
    shared = AnacondaClient(server, dana.home / "binstar")
    assert "dana" in shared("whoami", check=True).output  # one login for both clients

    assert dana("logout").stdout.strip() == f"Logged out of {server.api}."
    assert httpx.get(f"{server.api}/user", headers={"Authorization": f"token {token}"}).is_error
    assert not ophis_file.exists() and not dana.token_file(server.api).exists()
    after = dana("whoami", check=False)
    assert after.returncode == 1
    assert f"Not logged in to {server.api}" in after.stderr
    assert "`ophis login`" in after.stderr


def test_several_servers_by_name(server: RunningServer, tmp_path: Path) -> None:
    """The same server under two URLs stands for two servers: each has its own token."""
    add_user(server, "erin")
    add_user(server, "fred")
    user = Ophis(tmp_path / "two-servers")
    user.login(server.url, "erin", "--server", "one")
    user.login(server.url.replace("127.0.0.1", "localhost"), "fred", "--server", "two")
    assert user.json("whoami", "--server", "one")["login"] == "erin"
    assert user.json("whoami", "--server", "two")["login"] == "fred"
    assert user.json("whoami")["login"] == "fred"  # the last login is the default
    user.env["OPHIS_SERVER"] = "one"
    assert user.json("whoami")["login"] == "erin"
    unknown = user("whoami", "--server", "three", check=False)
    assert "No server is called 'three'" in unknown.stderr
    assert "ophis login URL --server three" in unknown.stderr
    user("logout", "--server", "two")
    assert user.json("whoami", "--server", "one")["login"] == "erin"


def test_a_real_keyring_holds_the_token_when_there_is_one(
    server: RunningServer, tmp_path: Path
) -> None:
    add_user(server, "gina")
    gina = Ophis(tmp_path / "gina")
    keyring_file = tmp_path / "keyring.json"
    gina.env.update(
        PYTHON_KEYRING_BACKEND="ophis.testing.keyring.JsonKeyring",
        OPHIS_TEST_KEYRING=str(keyring_file),
    )
    assert gina.json("login", server.url, "-u", "gina", stdin=PASSWORD)["token_store"] == "keyring"
    token = json.loads(keyring_file.read_text())[f"ophis {server.api}"]
    SECRETS.add(token)
    assert not (gina.home / "ophis" / "tokens").exists()
    assert gina.token_file(server.api).read_text() == token  # conda still finds it
    gina.token_file(server.api).unlink()  # so whoami can only have it from the keyring
    assert gina.json("whoami")["login"] == "gina"
    gina("logout")
    assert json.loads(keyring_file.read_text()) == {}


# --- upload, labels, install: and the same with the anaconda client --------------------------


def test_upload_copy_and_install_from_a_private_channel_reach_anacondas_state(
    server: RunningServer,
    alice: Ophis,
    files: dict[str, Path],
    admin_api: httpx.Client,
    tmp_path: Path,
) -> None:
    four = [str(files[kind]) for kind in ("conda", "tar.bz2", "wheel", "sdist")]
    first = alice.json("upload", "--private", *four)
    assert [f["status"] for f in first["files"]] == ["uploaded"] * 4
    assert first["files"][0]["basename"] == "noarch/demo-1.0-0.conda"
    assert first["files"][0]["install"] == f"ophis install -c {server.conda('alice')} demo"
    pip = f"pip install --index-url {server.url}/pypi/alice/simple demo-py"
    assert first["files"][2]["install"] == pip
    shown = alice("upload", *four, str(files["extra"]))  # after an "interruption": resumes
    lines = shown.stdout.splitlines()
    assert lines[0] == "exists    alice/demo/1.0/noarch/demo-1.0-0.conda [main]"
    assert lines[8] == "uploaded  alice/extra/1.0/noarch/extra-1.0-0.conda [main]"
    assert alice.json("label", "list") == [{"name": "main", "is_locked": False, "num_files": 5}]
    copied = alice.json("copy", "alice/demo/1.0", "--to-label", "stable")
    assert [f["basename"] for f in copied] == ["noarch/demo-1.0-0.conda"]
    rows = [line.split() for line in alice("label", "list").stdout.splitlines()]
    assert rows == [
        ["name", "num_files", "is_locked"],
        ["main", "5", "False"],
        ["stable", "1", "False"],
    ]

    anonymous = httpx.get(f"{server.conda('alice')}/noarch/repodata.json").json()
    assert "tool-1.0-0.tar.bz2" not in anonymous["packages"]  # private
    made = alice.json(
        "create", "-p", str(tmp_path / "env"), "-c", server.conda("alice"),
        "--override-channels", "-y", "tool",
    )  # fmt: skip
    assert {a["name"] for a in made["actions"]["LINK"]} == {"tool", "demo"}

    add_user(server, "bob")
    anaconda = AnacondaClient(server, tmp_path / "anaconda")
    anaconda("login", "--username", "bob", "--password", PASSWORD, check=True)
    anaconda("upload", "--private", *four, check=True)
    anaconda("upload", "--skip-existing", *four, str(files["extra"]), check=True)
    anaconda("copy", "bob/demo/1.0", "--to-label", "stable", check=True)
    assert "+ stable" in anaconda("label", "--list", check=True).output
    anaconda("logout", check=True)
    assert holdings(admin_api, "alice") == holdings(admin_api, "bob")
    assert holdings(admin_api, "alice")["labels"] == {"main": 5, "stable": 1}


# --- tokens ---------------------------------------------------------------------------------


def test_a_scoped_token_works_until_it_is_revoked(
    server: RunningServer, alice: Ophis, tmp_path: Path
) -> None:
    vault = make_package(tmp_path, "vault", fmt=".conda")
    alice("upload", "--private", str(vault))
    made = alice.json(
        "token", "create", "--name", "ci", "--scope", "conda:download", "--expires", "1h",
        shows_token=True,
    )  # fmt: skip
    token = made.pop("token")
    SECRETS.add(token)
    assert made["scopes"] == ["conda:download"] and made["expires"]
    to_file = alice("token", "create", "--name", "ci-file", "--out", str(tmp_path / "ci.token"))
    assert stat.S_IMODE((tmp_path / "ci.token").stat().st_mode) == 0o600
    SECRETS.add((tmp_path / "ci.token").read_text())
    assert to_file.stdout.strip() == (
        f"Created the token 'ci-file' (scopes: all) in {tmp_path / 'ci.token'}."
    )
    listed = alice.json("token", "list")
    assert {"ci", "ci-file"} <= {t["name"] for t in listed}
    assert "token" not in listed[0]

    channel = f"{server.conda('alice', token=token)}/noarch/repodata.json"
    assert "vault-1.0-0.conda" in httpx.get(channel).json()["packages.conda"]
    ci = Ophis(tmp_path / "ci")
    ci.env.update(ANACONDA_API_TOKEN=token, OPHIS_SERVER=server.api)
    refused = ci("upload", str(make_package(tmp_path / "new", "new", fmt=".conda")), check=False)
    assert refused.returncode == 1
    assert "You lack the permission" in refused.stderr

    alice("token", "revoke", "ci")
    assert httpx.get(channel).status_code in (401, 403)
    after = ci("whoami", check=False)
    assert after.returncode == 1
    assert "The token was refused (expired or revoked): log in again with `ophis login`." in (
        after.stderr
    )


# --- show, move, download, conflicts, delete, search, organizations ---------------------------


def test_labels_show_download_conflicts_and_delete(
    server: RunningServer, alice: Ophis, tmp_path: Path
) -> None:
    gadget = make_package(tmp_path / "a", "gadget", fmt=".conda")
    uploaded = alice.json("upload", "-l", "dev", str(gadget))["files"][0]
    assert uploaded["labels"] == ["dev"]
    assert uploaded["install"] == f"ophis install -c {server.conda('alice', 'dev')} gadget"
    assert "alice/gadget/1.0/noarch/gadget-1.0-0.conda" in alice("label", "show", "dev").stdout
    alice("move", "alice/gadget/1.0", "--from-label", "dev", "--to-label", "main")
    release = alice.json("show", "alice/gadget/1.0")
    assert [f["labels"] for f in release["distributions"]] == [["main"]]
    alice("label", "remove", "dev")
    assert "dev" not in [label["name"] for label in alice.json("label", "list")]
    assert "alice/gadget" in alice("show", "alice").stdout
    assert "alice/gadget" in alice("search", "--on-server", "gadg").stdout
    alice("label", "lock", "main")
    locked = {label["name"]: label["is_locked"] for label in alice.json("label", "list")}
    assert locked["main"] and not locked["stable"]
    alice("label", "unlock", "main")

    downloaded = alice.json("download", "alice/gadget", "-o", str(tmp_path / "dl"))
    target = tmp_path / "dl" / "noarch" / "gadget-1.0-0.conda"
    assert downloaded == [{"path": str(target), "status": "downloaded", "sha256": ANY_SHA}]
    assert target.read_bytes() == gadget.read_bytes()
    again = alice.json("download", "alice/gadget", "-o", str(tmp_path / "dl"))
    assert again[0]["status"] == "exists"

    other = make_package(tmp_path / "b", "gadget", fmt=".conda", files={"x": b"changed"})
    clash = alice("upload", str(other), check=False)
    assert clash.returncode == 1
    assert "with other contents" in clash.stderr and "--force" in clash.stderr
    assert alice.json("upload", "--skip-existing", str(other))["files"][0]["status"] == "skipped"
    assert alice.json("upload", "--force", str(other))["files"][0]["status"] == "replaced"
    file = alice.json("show", "alice/gadget/1.0/noarch/gadget-1.0-0.conda")
    assert file["sha256"] == alice.json("upload", str(other))["files"][0]["sha256"]

    unconfirmed = alice("delete", "alice/gadget", check=False)
    assert unconfirmed.returncode == 1 and "Add --yes" in unconfirmed.stderr
    alice("delete", "--yes", "alice/gadget/1.0/noarch/gadget-1.0-0.conda")
    assert alice.json("show", "alice/gadget")["files"] == []
    assert alice("delete", "alice/gadget", "--yes").stdout.strip() == "Deleted alice/gadget."
    gone = alice("show", "alice/gadget", check=False)
    assert gone.returncode == 1
    assert "It does not exist, or it is private and you are not allowed" in gone.stderr

    add_user(server, "hank")
    denied = alice("upload", "-u", "hank", str(gadget), check=False)
    assert denied.returncode == 1 and "You lack the permission" in denied.stderr


def test_organizations(server: RunningServer, alice: Ophis, tmp_path: Path) -> None:
    add_user(server, "acme", org_of="alice")
    add_user(server, "ivan")
    assert [o["login"] for o in alice.json("org", "list")] == ["acme"]
    assert "owners" in [g["name"] for g in alice.json("org", "show", "acme")]
    alice("org", "add-member", "acme", "ivan")
    assert {m["login"] for m in alice.json("org", "members", "acme")} == {"alice", "ivan"}
    tool = make_package(tmp_path, "acme-tool", fmt=".conda")
    shown = alice.json("upload", "-u", "acme", str(tool))["files"][0]
    assert shown["install"] == f"ophis install -c {server.conda('acme')} acme-tool"
    alice("org", "remove-member", "acme", "ivan")
    assert {m["login"] for m in alice.json("org", "members", "acme")} == {"alice"}


# --- no token anywhere (keep this test last: it reads what the others left) -------------------


def test_no_token_in_any_output_log_or_client_file(server: RunningServer) -> None:
    assert len(SECRETS) >= 6 and len(OUTPUTS) >= 40
    for args, output in OUTPUTS:
        for secret in SECRETS:
            assert secret not in output, f"a token in the output of `ophis {args}`"
    log = (server.data_dir.parent / f"{server.data_dir.name}.log").read_text()
    assert "/conda/t/<TOKEN>/alice/" in log  # conda's requests were logged, redacted
    assert not [s for s in SECRETS if s in log]
    for home in HOMES:
        for path in home.rglob("*"):
            if path.is_file() and path.suffix != ".token":
                data = path.read_bytes()
                leaked = [s for s in SECRETS if s.encode() in data]
                assert not leaked, f"a token in {path}"
