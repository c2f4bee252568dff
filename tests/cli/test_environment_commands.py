"""create / install / update / remove / list / search, run as a user's script runs them."""

from __future__ import annotations

import json
from pathlib import Path

from ophis.core.shards import read_shards_index
from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import ok_json, ophis
from ophis.testing.http import serve_directory
from ophis.testing.packages import make_package


def names(actions: list[dict]) -> list[str]:
    return sorted(a["name"] for a in actions)


def test_create_install_remove_list_round_trip(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    prefix = tmp_path / "env"
    channel = ["--override-channels", "-c", recipes.as_uri()]

    created = ok_json(
        ophis(home, "create", "-p", str(prefix), *channel, "dependent=1.0", "--json", "-y")
    )
    assert created["success"] is True
    assert names(created["actions"]["LINK"]) == ["dependency", "dependent"]
    link = next(a for a in created["actions"]["LINK"] if a["name"] == "dependent")
    assert link == {
        "base_url": recipes.as_uri(),
        "build_number": 0,
        "build_string": "0",
        "channel": "test-recipes",
        "dist_name": "dependent-1.0-0",
        "name": "dependent",
        "platform": "noarch",
        "version": "1.0",
    }
    assert (prefix / "conda-meta" / "dependent-1.0-0.json").is_file()
    history = (prefix / "conda-meta" / "history").read_text()
    assert "dependent-1.0-0" in history and "# update specs:" in history

    listed = ok_json(ophis(home, "list", "-p", str(prefix), "--json"))
    assert [p["dist_name"] for p in listed] == ["dependency-1.0-0", "dependent-1.0-0"]

    installed = ok_json(
        ophis(home, "install", "-p", str(prefix), *channel, "another_dependent", "--json", "-y")
    )
    assert names(installed["actions"]["LINK"]) == ["another_dependent"]
    assert "UNLINK" not in installed["actions"]  # the installed dependent=1.0 is kept

    removed = ok_json(ophis(home, "remove", "-p", str(prefix), "dependent", "--json", "-y"))
    assert "dependent" in names(removed["actions"]["UNLINK"])
    listed = ok_json(ophis(home, "list", "-p", str(prefix), "--json"))
    assert "dependent" not in [p["name"] for p in listed]


def test_dry_run_changes_nothing(recipes: Path, home: dict[str, str], tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    result = ok_json(
        ophis(
            home,
            "create",
            "-p",
            str(prefix),
            "--override-channels",
            "-c",
            recipes.as_uri(),
            "dependent",
            "--dry-run",
            "--json",
        )
    )
    assert result["dry_run"] is True
    assert names(result["actions"]["LINK"]) == ["dependency", "dependent"]
    assert (
        next(a for a in result["actions"]["LINK"] if a["name"] == "dependent")["version"] == "2.0"
    )
    assert not prefix.exists()


def test_missing_package_names_the_channels(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    result = ophis(
        home,
        "create",
        "-p",
        str(tmp_path / "env"),
        "--override-channels",
        "-c",
        recipes.as_uri(),
        "no-such-package",
        "--json",
        "--dry-run",
    )
    assert result.returncode == 1
    error = json.loads(result.stdout)
    assert error["exception_name"] == "PackagesNotFoundInChannelsError"
    assert error["packages"] == ["no-such-package"]
    assert "no-such-package" in error["message"] and recipes.as_uri() in error["message"]


def test_conflict_is_unsatisfiable(recipes: Path, home: dict[str, str], tmp_path: Path) -> None:
    result = ophis(
        home,
        "create",
        "-p",
        str(tmp_path / "env"),
        "--override-channels",
        "-c",
        recipes.as_uri(),
        "unsatisfiable",
        "--json",
        "--dry-run",
    )
    assert result.returncode == 1
    error = json.loads(result.stdout)
    assert error["exception_name"] in {"UnsatisfiableError", "PackagesNotFoundInChannelsError"}
    assert "versioned" in error["message"]


def test_search_lists_every_version(recipes: Path, home: dict[str, str]) -> None:
    found = ok_json(
        ophis(home, "search", "dependent", "--override-channels", "-c", recipes.as_uri(), "--json")
    )
    assert [r["version"] for r in found["dependent"]] == ["1.0", "2.0"]
    assert found["dependent"][0]["fn"] == "dependent-1.0-0.tar.bz2"

    text = ophis(home, "search", "*depend*", "--override-channels", "-c", recipes.as_uri())
    assert text.returncode == 0
    assert "another_dependent" in text.stdout and "test-recipes" in text.stdout


def test_install_over_http_reads_only_the_shards_it_needs(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    prefix = tmp_path / "env"
    with serve_directory(recipes.parent) as server:
        created = ok_json(
            ophis(
                home,
                "create",
                "-p",
                str(prefix),
                "--override-channels",
                "-c",
                f"{server.url}/test-recipes",
                "dependent",
                "--json",
                "-y",
            )
        )
    assert created["actions"]["LINK"][0]["base_url"] == f"{server.url}/test-recipes"
    assert (prefix / "conda-meta" / "dependent-2.0-0.json").is_file()
    fetched = [path for path, status in server.requests if status == 200]
    assert "/test-recipes/noarch/repodata_shards.msgpack.zst" in fetched
    assert not any("repodata.json" in path for path in fetched)
    index = read_shards_index((recipes / "noarch" / "repodata_shards.msgpack.zst").read_bytes())
    by_digest = {digest: name for name, digest in index["shards"].items()}
    shards = {by_digest[p.rsplit("/", 1)[-1].split(".")[0]] for p in fetched if "/shards/" in p}
    # what 'dependent' reaches, plus pip (added to python) and python (pip's dependency)
    assert shards == {"dependent", "dependency", "pip", "python"}
    assert len(index["shards"]) > 20


def test_named_environments_live_in_envs_dirs(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    ok_json(
        ophis(
            home,
            "create",
            "-n",
            "named",
            "--override-channels",
            "-c",
            recipes.as_uri(),
            "dependency",
            "--json",
            "-y",
        )
    )
    assert (tmp_path / "root" / "envs" / "named" / "conda-meta").is_dir()
    listed = ok_json(ophis(home, "list", "-n", "named", "--json"))
    assert [p["name"] for p in listed] == ["dependency"]

    missing = ophis(home, "list", "-n", "nope", "--json")
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["exception_name"] == "EnvironmentNameNotFound"


def test_install_revision_rolls_back(recipes: Path, home: dict[str, str], tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    channel = ["--override-channels", "-c", recipes.as_uri()]
    ok_json(ophis(home, "create", "-p", str(prefix), *channel, "dependent=1.0", "--json", "-y"))
    ok_json(
        ophis(home, "install", "-p", str(prefix), *channel, "another_dependent", "--json", "-y")
    )
    ok_json(ophis(home, "install", "-p", str(prefix), *channel, "dependent=2.0", "--json", "-y"))
    installed = {p["dist_name"] for p in ok_json(ophis(home, "list", "-p", str(prefix), "--json"))}
    assert "dependent-2.0-0" in installed and "another_dependent-2.0-0" in installed

    back = ok_json(
        ophis(home, "install", "-p", str(prefix), *channel, "--revision", "0", "--json", "-y")
    )
    assert "another_dependent" in names(back["actions"]["UNLINK"])
    listed = ok_json(ophis(home, "list", "-p", str(prefix), "--json"))
    assert sorted(p["dist_name"] for p in listed) == ["dependency-1.0-0", "dependent-1.0-0"]

    missing = ophis(home, "install", "-p", str(prefix), "--revision", "99", "--json")
    assert missing.returncode == 1
    assert "no such revision" in json.loads(missing.stdout)["message"]


def test_fake_subdir_install_with_conda_subdir(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    """conda's test platform linux-fake, chosen through CONDA_SUBDIR."""
    prefix = tmp_path / "env"
    env = {**home, "CONDA_SUBDIR": "linux-fake"}
    created = ok_json(
        ophis(
            env,
            "create",
            "-p",
            str(prefix),
            "--override-channels",
            "-c",
            recipes.as_uri(),
            "arch-package",
            "--json",
            "-y",
        )
    )
    assert [(a["name"], a["platform"]) for a in created["actions"]["LINK"]] == [
        ("arch-package", "linux-fake")
    ]
    assert (prefix / "conda-meta" / "arch-package-1.0-0.json").is_file()


def test_post_link_script_runs_and_its_message_is_shown(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    prefix = tmp_path / "env"
    result = ophis(
        home,
        "create",
        "-p",
        str(prefix),
        "--override-channels",
        "-c",
        recipes.as_uri(),
        "c_post_link_package",
        "-y",
    )
    assert result.returncode == 0, result.stderr
    assert "Executing transaction: ...working... done" in result.stdout
    meta = {p.name for p in (prefix / "conda-meta").glob("*.json")}
    assert meta == {"b_post_link_package-1.0.0-0.json", "c_post_link_package-1.0.0-0.json"}


def test_private_channel_uses_the_token_anaconda_client_stored(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    """conda's token lookup: a token file for <root>/api serves channels under <root>/conda."""
    from urllib.parse import quote_plus

    served = tmp_path / "site"
    (served / "conda").mkdir(parents=True)
    (served / "conda" / "test-recipes").symlink_to(recipes)
    config_dir = tmp_path / "binstar"
    env = {**home, "BINSTAR_CONFIG_DIR": str(config_dir)}
    prefix = tmp_path / "env"
    with serve_directory(served, token="secret-tok-1") as server:
        channel = f"{server.url}/conda/test-recipes"
        refused = ophis(
            env,
            "create",
            "-p",
            str(prefix),
            "--override-channels",
            "-c",
            channel,
            "dependency",
            "--json",
            "--dry-run",
        )
        assert refused.returncode == 1
        assert json.loads(refused.stdout)["exception_name"] == "CondaHTTPError"

        (config_dir / "data").mkdir(parents=True)
        (config_dir / "data" / f"{quote_plus(server.url + '/api')}.token").write_text(
            "secret-tok-1"
        )
        created = ok_json(
            ophis(
                env,
                "create",
                "-p",
                str(prefix),
                "--override-channels",
                "-c",
                channel,
                "dependency",
                "--json",
                "-y",
            )
        )
    assert (prefix / "conda-meta" / "dependency-2.0-0.json").is_file()
    everything = json.dumps(created) + (prefix / "conda-meta" / "history").read_text()
    everything += "".join(p.read_text() for p in (prefix / "conda-meta").glob("*.json"))
    assert "secret-tok-1" not in everything  # the token never lands in output or records


def test_create_over_http_downloads_each_archive_once(home: dict[str, str], tmp_path: Path) -> None:
    channel = tmp_path / "site" / "made"
    make_package(channel / "noarch", "lib", files={"share/lib.txt": b"lib\n" * 5000})
    make_package(channel / "noarch", "app", depends=["lib"], fmt=".conda")
    index_channel(channel)
    archives = {"/made/noarch/lib-1.0-0.tar.bz2", "/made/noarch/app-1.0-0.conda"}
    with serve_directory(channel.parent) as server:
        for env in ("first", "second"):
            created = ok_json(
                ophis(
                    home,
                    "create",
                    "-p",
                    str(tmp_path / env),
                    "--override-channels",
                    "-c",
                    f"{server.url}/made",
                    "app",
                    "--json",
                    "-y",
                )
            )
            assert names(created["actions"]["LINK"]) == ["app", "lib"]
            assert (tmp_path / env / "share" / "lib.txt").read_text() == "lib\n" * 5000
            fetched = [p for p, _status in server.requests if p in archives]
            # the first create downloads each archive once; the second links from the cache
            assert sorted(fetched) == (sorted(archives) if env == "first" else [])
            server.requests.clear()
    pkgs = tmp_path / "pkgs"
    for name in ("lib-1.0-0.tar.bz2", "app-1.0-0.conda"):
        assert (pkgs / name).read_bytes() == (channel / "noarch" / name).read_bytes()
    record = json.loads((tmp_path / "second" / "conda-meta" / "lib-1.0-0.json").read_text())
    assert record["url"] == f"{server.url}/made/noarch/lib-1.0-0.tar.bz2"


def test_prelink_messages_are_shown_and_asked_about_before_linking(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    prefix = tmp_path / "env"
    channel = ["--override-channels", "-c", recipes.as_uri()]
    ok_json(ophis(home, "create", "-p", str(prefix), *channel, "dependency", "--json", "-y"))
    before = sorted(p.name for p in (prefix / "conda-meta").iterdir())
    history = (prefix / "conda-meta" / "history").read_text()
    install = ("install", "-p", str(prefix), *channel, "pre_link_messages_package")

    # yes to the plan, no to the messages: conda's CondaSystemExit, exit code 0
    declined = ophis(home, *install, answers="y\nn\n")
    assert declined.returncode == 0, declined.stderr
    shown = declined.stdout.split("The following PRELINK MESSAGES are INCLUDED:", 1)[1]
    assert "File message-from-pkg2.txt:" in shown and "Spam spam spam," in shown
    assert shown.count("Proceed ([y]/n)?") == 1  # the second question, after the messages
    assert "CondaSystemExit: Exiting." in declined.stderr
    assert sorted(p.name for p in (prefix / "conda-meta").iterdir()) == before
    assert (prefix / "conda-meta" / "history").read_text() == history

    # no to the plan: the messages are never reached
    refused = ophis(home, *install, answers="n\n")
    assert refused.returncode == 0 and "CondaSystemExit: Exiting." in refused.stderr
    assert "PRELINK MESSAGES" not in refused.stdout

    # with -y the messages are still shown, before the transaction runs
    accepted = ophis(home, *install, "-y")
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.index("Spam spam spam,") < accepted.stdout.index(
        "Executing transaction: ...working... done"
    )
    assert "Proceed" not in accepted.stdout
    assert (prefix / "conda-meta" / "pre_link_messages_package-1.0.0-0.json").is_file()
