"""What pip put into an environment, seen as conda shows it: ``list`` rows with build
``pypi_0`` and channel ``pypi``, and a ``pip:`` section in ``env export``; plus ``list``'s
other options as conda has them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user, ok_json, ophis
from ophis.testing.packages import make_package

SITE = "lib/python3.11/site-packages"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """An environment with python, a conda package that ships a dist-info, variables, and
    two packages pip installed afterwards (a wheel's dist-info and an old egg-info)."""
    root = tmp_path_factory.mktemp("pipenv")
    noarch = root / "channel" / "noarch"
    noarch.mkdir(parents=True)
    make_package(noarch, "python", "3.11.0")
    make_package(noarch, "pip", "24.0", depends=["python"])
    owned_metadata = b"Metadata-Version: 2.1\nName: owned\nVersion: 1.0\n"
    make_package(
        noarch,
        "owned",
        "1.0",
        depends=["python"],
        files={f"{SITE}/owned-1.0.dist-info/METADATA": owned_metadata},
    )
    index_channel(root / "channel")
    home = isolated_user(root / "user")
    channel = ["--override-channels", "-c", (root / "channel").as_uri()]
    ok_json(ophis(home, "create", "-n", "mixed", *channel, "owned", "--json", "-y"))
    ok_json(ophis(home, "env", "config", "vars", "set", "LEVEL=3", "-n", "mixed", "--json"))
    prefix = root / "user" / "root" / "envs" / "mixed"
    # what `pip install Foo_Bar==2.0` and an old `setup.py install` leave behind
    wheel = prefix / SITE / "Foo_Bar-2.0.dist-info"
    wheel.mkdir(parents=True)
    (wheel / "METADATA").write_text("Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 2.0\n")
    (wheel / "INSTALLER").write_text("pip\n")
    egg = prefix / SITE / "Old.Thing-0.5-py3.11.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: Old.Thing\nVersion: 0.5\n")
    return home, prefix


def test_list_shows_pip_packages_as_conda_does(env: tuple[dict[str, str], Path]) -> None:
    home, _ = env
    listed = ok_json(ophis(home, "list", "-n", "mixed", "--json"))
    assert [p["name"] for p in listed] == ["foo-bar", "old-thing", "owned", "pip", "python"]
    assert listed[0] == {
        "base_url": "https://conda.anaconda.org/pypi",
        "build_number": 0,
        "build_string": "pypi_0",
        "channel": "pypi",
        "dist_name": "foo-bar-2.0-pypi_0",
        "name": "foo-bar",
        "platform": "pypi",
        "version": "2.0",
    }
    assert listed[2]["build_string"] == "0"  # the conda package's own dist-info is not pip's

    without = ok_json(ophis(home, "list", "-n", "mixed", "--no-pip", "--json"))
    assert [p["name"] for p in without] == ["owned", "pip", "python"]

    table = ophis(home, "list", "-n", "mixed").stdout.splitlines()
    assert table[2].split() == ["#", "Name", "Version", "Build", "Channel"]
    assert "foo-bar                    2.0              pypi_0           pypi" in table


def test_env_export_has_a_pip_section_and_the_variables(env: tuple[dict[str, str], Path]) -> None:
    home, _ = env
    exported = ok_json(ophis(home, "env", "export", "-n", "mixed", "--json"))
    assert exported["dependencies"][-1] == {"pip": ["foo-bar==2.0", "old-thing==0.5"]}
    assert exported["variables"] == {"LEVEL": "3"}
    text = ophis(home, "env", "export", "-n", "mixed").stdout
    assert "  - pip:\n      - foo-bar==2.0\n" in text and "variables:\n  LEVEL: '3'\n" in text
    history = ok_json(ophis(home, "env", "export", "-n", "mixed", "--from-history", "--json"))
    assert history["dependencies"] == ["owned"]


def test_list_options_as_condas(env: tuple[dict[str, str], Path]) -> None:
    home, _ = env
    names = ophis(home, "list", "-n", "mixed", "--fields", "name,version", "--reverse")
    # columns as wide as their longest value (old-thing), two spaces apart
    assert names.stdout.splitlines()[2:4] == ["# Name       Version", "python       3.11.0"]
    found = ok_json(ophis(home, "list", "-n", "mixed", "OWN", "--json"))  # case-insensitive
    assert [p["name"] for p in found] == ["owned"]
    missing = ophis(home, "list", "-n", "mixed", "-f", "own", "--json")
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["exception_name"] == "PackageNotInstalledError"
    nothing = ophis(home, "list", "-n", "mixed", "zzz", "--json")
    assert json.loads(nothing.stdout)["exception_name"] == "CondaValueError"
    assert "No packages match 'zzz'." in json.loads(nothing.stdout)["message"]
    bad = ophis(home, "list", "-n", "mixed", "--fields", "name,colour")
    assert bad.returncode == 1 and "Invalid fields passed: ['colour']" in bad.stderr

    canonical = ophis(home, "list", "-n", "mixed", "-c", "--no-pip").stdout.splitlines()
    assert canonical[0].endswith("/noarch::owned-1.0-0")
    sized = ok_json(ophis(home, "list", "-n", "mixed", "python", "--size", "--json"))
    assert sized[0]["size"] >= 0
    explicit = ophis(home, "list", "-n", "mixed", "--explicit", "--sha256").stdout
    assert "pypi" not in explicit and "owned-1.0-0.tar.bz2#" in explicit
    exported = ophis(home, "list", "-n", "mixed", "--export").stdout.splitlines()
    assert "foo-bar=2.0=pypi_0" in exported and exported[3].startswith("# created-by: ophis")


def test_env_config_vars_set_list_unset(env: tuple[dict[str, str], Path]) -> None:
    home, _ = env
    ok_json(
        ophis(home, "env", "config", "vars", "set", "A=1", "B= two=2 ", "-n", "mixed", "--json")
    )
    listed = ok_json(ophis(home, "env", "config", "vars", "list", "-n", "mixed", "--json"))
    assert listed == {"LEVEL": "3", "A": "1", "B": "two=2"}
    ok_json(ophis(home, "env", "config", "vars", "unset", "A", "-n", "mixed", "--json"))
    text = ophis(home, "env", "config", "vars", "list", "-n", "mixed").stdout
    assert text.splitlines() == ["LEVEL = 3", "B = two=2"]
    ok_json(ophis(home, "env", "config", "vars", "unset", "B", "-n", "mixed", "--json"))


def test_editable_installs_listed_as_develop_and_hostile_egg_links_ignored(
    env: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    """``setup.py develop`` leaves ``NAME.egg-link`` naming a source tree: conda lists it with
    channel ``<develop>``. An egg-link that is huge, binary or names nothing lists nothing
    and breaks nothing."""
    home, prefix = env
    source = tmp_path / "src"
    (source / "Dev.Tool.egg-info").mkdir(parents=True)
    (source / "Dev.Tool.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 1.0\nName: Dev.Tool\nVersion: 0.1\n"
    )
    site = prefix / SITE
    planted = [site / "dev.tool.egg-link", site / "huge.egg-link", site / "binary.egg-link"]
    planted[0].write_text(f"{source}\n.\n")
    with planted[1].open("wb") as huge:  # one 64 MiB line: only its head may be read
        huge.truncate(64 * 1024 * 1024)
    planted[2].write_bytes(b"\xff\xfe\x00" * 1000)
    try:
        listed = ok_json(ophis(home, "list", "-n", "mixed", "--json"))
    finally:
        for path in planted:
            path.unlink()
    develop = [p for p in listed if p["channel"] == "<develop>"]
    assert [(p["name"], p["version"], p["build_string"]) for p in develop] == [
        ("dev-tool", "0.1", "dev_0")
    ]
