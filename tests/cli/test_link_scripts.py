"""Link scripts: listed in the plan, and refused with ``ophis_link_scripts: refuse`` or
``--refuse-link-scripts`` before anything changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user, ok_json, ophis
from ophis.testing.packages import make_package

#: each script touches the file named by OPHIS_TEST_MARKER, outside the environment
TOUCH = b'touch "$OPHIS_TEST_MARKER"\n'


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    channel = tmp_path_factory.mktemp("link-scripts") / "channel"
    noarch = channel / "noarch"
    make_package(noarch, "plain", files={"share/plain.txt": b"plain\n"})
    make_package(noarch, "marker", files={"bin/.marker-post-link.sh": TOUCH})
    make_package(noarch, "unlinker", files={"bin/.unlinker-pre-unlink.sh": TOUCH})
    index_channel(channel)
    return channel


@pytest.fixture
def user(tmp_path: Path) -> dict[str, str]:
    return {**isolated_user(tmp_path), "OPHIS_TEST_MARKER": str(tmp_path / "marker")}


def run(user: dict[str, str], channel: Path, verb: str, prefix: Path, *args: str, **kw):
    return ophis(
        user, verb, "-p", str(prefix), "--override-channels", "-c", channel.as_uri(), *args, **kw
    )


def state(prefix: Path) -> tuple[list[str], bytes]:
    """What an environment holds: its records and its history."""
    meta = prefix / "conda-meta"
    return sorted(p.name for p in meta.glob("*.json")), (meta / "history").read_bytes()


def refusal(result, *names: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    text = result.stdout + result.stderr
    for name in names:
        assert name in text
    assert "ophis_link_scripts" in text
    return text


def test_refused_by_config_before_any_change(user, channel, tmp_path) -> None:
    prefix = tmp_path / "env"
    Path(user["CONDARC"]).write_text("ophis_link_scripts: refuse\n")
    ok_json(run(user, channel, "create", prefix, "plain", "--json", "-y"))  # no scripts: fine
    before = state(prefix)

    result = run(user, channel, "install", prefix, "marker", "-y")
    refusal(result, "marker-1.0-0", "post-link", "bin/.marker-post-link.sh")
    assert not Path(user["OPHIS_TEST_MARKER"]).exists()
    assert state(prefix) == before

    # how to allow them for one command, as the error says
    allowed = {**user, "CONDA_OPHIS_LINK_SCRIPTS": "run"}
    ok_json(run(allowed, channel, "install", prefix, "marker", "--json", "-y"))
    assert Path(user["OPHIS_TEST_MARKER"]).exists()


def test_refused_by_flag_on_create(user, channel, tmp_path) -> None:
    prefix = tmp_path / "env"
    result = run(user, channel, "create", prefix, "marker", "--refuse-link-scripts", "--json", "-y")
    assert '"exception_name": "LinkScriptsRefusedError"' in refusal(result, "marker-1.0-0")
    assert not Path(user["OPHIS_TEST_MARKER"]).exists()
    assert not prefix.exists()


def test_refused_pre_unlink_on_remove(user, channel, tmp_path) -> None:
    prefix = tmp_path / "env"
    ok_json(run(user, channel, "create", prefix, "unlinker", "plain", "--json", "-y"))
    before = state(prefix)
    for mode in ("-y", "--dry-run"):  # a dry run says it would be refused
        result = ophis(user, "remove", "-p", str(prefix), "unlinker", "--refuse-link-scripts", mode)
        refusal(result, "unlinker-1.0-0", "pre-unlink")
    assert not Path(user["OPHIS_TEST_MARKER"]).exists()
    assert state(prefix) == before


def test_refused_by_flag_on_env_create_and_update(user, channel, tmp_path) -> None:
    prefix = tmp_path / "env"
    spec = tmp_path / "environment.yml"
    spec.write_text(f"channels: [{channel.as_uri()}]\ndependencies: [marker]\n")
    result = ophis(
        user, "env", "create", "-f", str(spec), "-p", str(prefix), "--refuse-link-scripts"
    )
    refusal(result, "marker-1.0-0")
    assert not prefix.exists()

    ok_json(run(user, channel, "create", prefix, "plain", "--json", "-y"))
    before = state(prefix)
    result = ophis(
        user, "env", "update", "-f", str(spec), "-p", str(prefix), "--refuse-link-scripts"
    )
    refusal(result, "marker-1.0-0")
    assert state(prefix) == before
    assert not Path(user["OPHIS_TEST_MARKER"]).exists()


def test_the_plan_names_the_link_scripts_before_asking(user, channel, tmp_path) -> None:
    prefix = tmp_path / "env"
    result = run(user, channel, "create", prefix, "marker", "plain", answers="n\n")
    assert result.returncode == 0, result.stderr
    plan, _, _ = result.stdout.partition("Proceed ([y]/n)?")
    assert "link scripts (run package code): marker (post-link)\n" in plan
    assert not Path(user["OPHIS_TEST_MARKER"]).exists()  # declined: nothing ran


def test_json_lists_link_scripts_and_default_runs_them(user, channel, tmp_path) -> None:
    prefix = tmp_path / "env"
    document = ok_json(run(user, channel, "create", prefix, "marker", "plain", "--json", "-y"))
    assert document["link_scripts"] == [
        {
            "name": "marker",
            "dist_name": "marker-1.0-0",
            "script": "post-link",
            "path": "bin/.marker-post-link.sh",
        }
    ]
    assert list(document["actions"]) == ["FETCH", "PREFIX", "LINK"]  # conda's keys and order
    assert Path(user["OPHIS_TEST_MARKER"]).exists()  # scripts run by default, as in conda

    dry = ok_json(run(user, channel, "install", prefix, "unlinker", "--dry-run", "--json"))
    # a dry run downloads nothing: a package not in the cache is named as not looked into
    assert dry["link_scripts"] == [] and dry["link_scripts_unchecked"] == ["unlinker-1.0-0"]
    dry = ok_json(ophis(user, "remove", "-p", str(prefix), "marker", "--dry-run", "--json"))
    assert dry["link_scripts"] == []  # marker's script is post-link only
