"""``anaconda label``, ``copy`` and ``move``: what each leaves in the server, and that each
invalidates the repodata of exactly the (owner, label, subdir) indexes it changed."""

from __future__ import annotations

import httpx
import pytest

from ophis.testing.anaconda_client import AnacondaClient
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import add_org, blobs, changed, revisions

NOARCH = "noarch/demo-1.0-0.tar.bz2"
LINUX = "linux-64/demo-1.0-1.tar.bz2"


@pytest.fixture(scope="module", autouse=True)
def uploaded(
    server: RunningServer, cli: AnacondaClient, tmp_path_factory: pytest.TempPathFactory
) -> None:
    built = tmp_path_factory.mktemp("packages")
    noarch = make_package(built, "demo", "1.0", "0")
    linux = make_package(built, "demo", "1.0", "1", subdir="linux-64")
    cli("upload", str(noarch), str(linux), check=True)
    add_org(server, "acme", server.admin)


def labels_of(api: httpx.Client, owner: str, basename: str) -> list[str]:
    return api.get(f"/dist/{owner}/demo/1.0/{basename}").json()["labels"]


def test_label_copy_lock_and_remove(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client
) -> None:
    before = revisions(server, "admin")
    cli("label", "--copy", "main", "stable", check=True)
    assert changed(before, revisions(server, "admin")) == {
        ("stable", "noarch"),
        ("stable", "linux-64"),
    }
    assert api.get("/channels/admin").json()["stable"] == {
        "name": "stable",
        "is_locked": False,
        "num_files": 2,
    }
    shown = cli("label", "--show", "stable", check=True).output
    assert f"+ admin/demo/1.0/{NOARCH}" in shown and f"+ admin/demo/1.0/{LINUX}" in shown

    cli("label", "--lock", "stable", check=True)
    assert "+ stable[locked]" in cli("label", "--list", check=True).output
    cli("label", "--unlock", "stable", check=True)
    assert api.get("/channels/admin/stable").json()["is_locked"] is False

    before = revisions(server, "admin")
    cli("label", "--remove", "stable", check=True)
    assert "stable" not in api.get("/channels/admin").json()
    assert labels_of(api, "admin", NOARCH) == ["main"]
    assert changed(before, revisions(server, "admin")) == {
        ("stable", "noarch"),
        ("stable", "linux-64"),
    }


def test_copy_to_another_owner_shares_the_bytes_and_reports_conflicts(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client
) -> None:
    copied = cli("copy", "admin/demo/1.0", "--to-owner", "acme", "--to-label", "dev", check=True)
    assert f"Copied file: {NOARCH}" in copied.output and f"Copied file: {LINUX}" in copied.output
    source = api.get(f"/dist/admin/demo/1.0/{NOARCH}").json()
    target = api.get(f"/dist/acme/demo/1.0/{NOARCH}").json()
    assert target["sha256"] == source["sha256"] and target["labels"] == ["dev"]
    assert len(blobs(server, source["sha256"])) == 1
    assert changed({}, revisions(server, "acme")) == {("dev", "noarch"), ("dev", "linux-64")}

    again = cli("copy", "admin/demo/1.0", "--to-owner", "acme", "--to-label", "dev")
    assert again.returncode != 0 and "File conflict while copying" in again.output
    kept = cli("copy", "admin/demo/1.0", "--to-owner", "acme", "--to-label", "dev", "--update")
    assert kept.returncode == 0 and "Copied 0 files" in kept.output
    replaced = cli(
        "copy", f"admin/demo/1.0/{NOARCH}", "--to-owner", "acme", "--to-label", "dev", "--replace"
    )
    assert replaced.returncode == 0 and "Copied 1 files" in replaced.output
    assert labels_of(api, "acme", NOARCH) == ["dev"]
    assert len(blobs(server, source["sha256"])) == 1

    missing = api.post("/copy/package/admin/demo/1.0/", json={"from_channel": "nope"})
    assert missing.status_code == 404 and "in the label 'nope'" in missing.json()["error"]


def test_move_between_labels_of_one_owner(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client
) -> None:
    before = revisions(server, "admin")
    cli(
        "move",
        f"admin/demo/1.0/{LINUX}",
        "--from-label",
        "main",
        "--to-label",
        "testing",
        check=True,
    )
    assert labels_of(api, "admin", LINUX) == ["testing"]
    assert labels_of(api, "admin", NOARCH) == ["main"]
    assert changed(before, revisions(server, "admin")) == {
        ("testing", "linux-64"),
        ("main", "linux-64"),
    }
    channels = api.get("/channels/admin").json()
    assert channels["testing"]["num_files"] == 1 and channels["main"]["num_files"] == 1
