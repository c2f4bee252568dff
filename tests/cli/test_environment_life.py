"""An environment over its whole life, as a new user would go: create, install, remove, look
at the revisions, roll back, export, remove the environment, recreate it from each file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import ok_json, ophis
from ophis.testing.packages import make_package


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("life") / "science"
    noarch = root / "noarch"
    noarch.mkdir(parents=True)
    make_package(noarch, "libcore", "1.2", files={"lib/core.txt": b"core\n"})
    make_package(noarch, "numeric", "2.0", depends=["libcore >=1"], files={"lib/n.txt": b"n\n"})
    make_package(noarch, "plotting", "0.9", depends=["numeric"], files={"lib/p.txt": b"p\n"})
    make_package(noarch, "notebook", "7.1", files={"bin/notebook": b"#!/bin/sh\n"})
    index_channel(root)
    return root


def installed(home: dict[str, str], *where: str) -> set[str]:
    return {
        f"{p['name']}={p['version']}={p['build_string']}"
        for p in ok_json(ophis(home, "list", *where, "--json"))
    }


def test_an_environment_from_creation_to_recreation(
    channel: Path, home: dict[str, str], tmp_path: Path
) -> None:
    source = ["--override-channels", "-c", channel.as_uri(), "-y", "--json"]
    ok_json(ophis(home, "create", "-n", "ds", "plotting", *source))
    ok_json(ophis(home, "install", "-n", "ds", "notebook", *source))
    ok_json(ophis(home, "remove", "-n", "ds", "plotting", "-y", "--json"))
    # as conda does, dependencies nothing asked for go with the package that needed them
    assert installed(home, "-n", "ds") == {"notebook=7.1=0"}

    revisions = ok_json(ophis(home, "list", "-n", "ds", "--revisions", "--json"))
    assert [r["rev"] for r in revisions] == [0, 1, 2]
    assert "notebook" in str(revisions[1]["install"]) and "plotting" in str(revisions[2]["remove"])
    text = ophis(home, "list", "-n", "ds", "--revisions").stdout
    assert "(rev 0)" in text and "(rev 2)" in text and "-plotting-0.9" in text

    ok_json(ophis(home, "install", "-n", "ds", "--revision", "1", *source))
    original = installed(home, "-n", "ds")
    assert original == {"libcore=1.2=0", "numeric=2.0=0", "plotting=0.9=0", "notebook=7.1=0"}

    env_file = tmp_path / "environment.yml"
    assert ophis(home, "env", "export", "-n", "ds", "-f", str(env_file)).returncode == 0
    explicit = tmp_path / "explicit.txt"
    explicit.write_text(ophis(home, "list", "-n", "ds", "--explicit", "--md5").stdout)
    ok_json(ophis(home, "env", "remove", "-n", "ds", "-y", "--json"))
    assert "ds" not in str(ok_json(ophis(home, "env", "list", "--json"))["envs"])

    ok_json(ophis(home, "env", "create", "-f", str(env_file), "--json"))
    assert installed(home, "-n", "ds") == original
    ok_json(ophis(home, "env", "remove", "-n", "ds", "-y", "--json"))

    recreated = ophis(home, "create", "-n", "ds", "--file", str(explicit), "-y", "--json")
    assert recreated.returncode == 0 and recreated.stdout == ""  # conda's explicit: no JSON
    assert installed(home, "-n", "ds") == original
