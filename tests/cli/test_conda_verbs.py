"""conda's options and verbs, each doing what conda does: -v/-q after every verb,
search --info, --force-reinstall, create's --copy/--download-only/--platform/--solver/
--no-default-packages, -S, -C, notices and package."""

from __future__ import annotations

import functools
import http.server
import json
import os
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user, ok_json, ophis
from ophis.testing.packages import make_package

NOTICES = {
    "notices": [
        {
            "id": "maintenance-1",
            "message": "The channel moves on Sunday.",
            "level": "warning",
            "created_at": "2026-01-02T03:04:05+00:00",
            "expired_at": "2999-01-01T00:00:00+00:00",
            "interval": 604800,
        }
    ]
}


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verbs") / "tools"
    noarch = root / "noarch"
    noarch.mkdir(parents=True)
    make_package(noarch, "libcore", "1.0", files={"lib/core.txt": b"core 1.0\n"})
    make_package(noarch, "libcore", "1.2", files={"lib/core.txt": b"core 1.2\n"})
    make_package(
        noarch,
        "numeric",
        "2.0",
        depends=["libcore >=1"],
        constrains=["plotting >=1"],
        files={"lib/numeric.txt": b"n\n"},
    )
    make_package(noarch, "extras", "0.1", files={"share/extras.txt": b"e\n"})
    make_package(root / "osx-arm64", "native", "1.0", subdir="osx-arm64", files={"lib/x": b"x"})
    index_channel(root)
    (root / "notices.json").write_text(json.dumps(NOTICES))
    return root


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, channel: Path) -> dict[str, str]:
    """One user for the module, with an environment 'made' holding numeric."""
    folder = tmp_path_factory.mktemp("user")
    env = isolated_user(folder)
    ok_json(ophis(env, "create", "-n", "made", "numeric", *_from(channel), "-y", "--json"))
    return env


def _from(channel: Path | str) -> list[str]:
    url = channel.as_uri() if isinstance(channel, Path) else channel
    return ["--override-channels", "-c", url]


def _prefix(user: dict[str, str], name: str) -> Path:
    return Path(user["OPHIS_ROOT_PREFIX"]) / "envs" / name


# --- -v/--verbose and -q/--quiet, after the verb --------------------------------------------

VERBS_WITH_FLAGS = [
    ("list", "-n", "made", "--json"),
    ("search", "libcore", "--json", "{channel}"),
    ("info", "--json"),
    ("config", "--show", "channels", "--json"),
    ("clean", "--index-cache", "--dry-run", "--json"),
    ("env", "list", "--json"),
    ("env", "export", "-n", "made", "--json"),
    ("install", "-n", "made", "extras", "--dry-run", "--json", "{channel}"),
    ("update", "-n", "made", "libcore", "--dry-run", "--json", "{channel}"),
    ("remove", "-n", "made", "numeric", "--dry-run", "--json"),
    ("create", "-n", "other", "libcore", "--dry-run", "--json", "{channel}"),
    ("notices", "--json", "{channel}"),
]


#: conda's spellings, alternated over the verbs
FLAGS = [("-q", "-v"), ("--quiet", "--verbose", "--verbose")]


@pytest.mark.parametrize("args", VERBS_WITH_FLAGS, ids=lambda a: " ".join(a[:2]))
def test_verbose_and_quiet_are_accepted_after_every_verb(
    user: dict[str, str], channel: Path, args: tuple[str, ...]
) -> None:
    expanded = [a for arg in args for a in (_from(channel) if arg == "{channel}" else [arg])]
    result = ophis(user, *expanded, *FLAGS[VERBS_WITH_FLAGS.index(args) % 2])
    assert result.returncode == 0, result.stdout + result.stderr
    json.loads(result.stdout)  # still exactly one JSON document on stdout


def test_run_takes_the_flags_before_the_command_only(user: dict[str, str]) -> None:
    result = ophis(user, "run", "-q", "-v", "-n", "made", "echo", "hello", "-v")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hello", "-v"]  # a -v after the command is the command's


def test_vv_logs_ophis_info_on_stderr(user: dict[str, str], channel: Path) -> None:
    args = ("install", "-n", "made", "extras", "--dry-run", "--json", *_from(channel))
    for loud in (ophis(user, *args, "-vv"), ophis(user, "-v", "-v", *args)):  # as conda's
        assert "INFO ophis.manager.operations: solved extras" in loud.stderr
        assert json.loads(loud.stdout)["dry_run"] is True
    assert "INFO" not in ophis(user, *args, "-v").stderr


# --- search --info -----------------------------------------------------------------------


def test_search_info_shows_every_field_as_conda(user: dict[str, str], channel: Path) -> None:
    result = ophis(user, "search", "numeric", "--info", *_from(channel))
    assert result.returncode == 0, result.stderr
    url = f"{channel.as_uri()}/noarch/numeric-2.0-0.tar.bz2"
    lines = result.stdout.splitlines()
    assert lines[:6] == [
        "numeric 2.0 0",
        "-------------",
        "file name   : numeric-2.0-0.tar.bz2",
        "name        : numeric",
        "version     : 2.0",
        "build       : 0",
    ]
    assert "license     : BSD-3-Clause" in lines
    assert f"url         : {url}" in lines
    assert any(line.startswith("size        : ") and line.endswith(" B") for line in lines)
    assert any(line.startswith("md5         : ") for line in lines)
    assert any(line.startswith("timestamp   : ") and line.endswith(" UTC") for line in lines)
    assert result.stdout.endswith(
        "constraints : \n  - plotting >=1\ndependencies: \n  - libcore >=1\n\n\n"
    )
    bare = ophis(user, "search", "extras", "-i", *_from(channel)).stdout
    assert "dependencies: []\n" in bare and "constraints" not in bare
    as_json = ok_json(ophis(user, "search", "numeric", "--info", "--json", *_from(channel)))
    assert list(as_json) == ["numeric"] and as_json["numeric"][0]["url"] == url


# --- --force-reinstall, -S ---------------------------------------------------------------


@pytest.mark.parametrize("verb", ["install", "update"])
def test_force_reinstall_links_the_same_package_again(
    user: dict[str, str], channel: Path, verb: str
) -> None:
    core = _prefix(user, "made") / "lib" / "core.txt"
    core.unlink()
    core.write_text("damaged\n")
    result = ok_json(
        ophis(
            user,
            verb,
            "-n",
            "made",
            "libcore",
            "--force-reinstall",
            "-y",
            "--json",
            *_from(channel),
        )
    )
    assert [r["dist_name"] for r in result["actions"]["UNLINK"]] == ["libcore-1.2-0"]
    assert [r["dist_name"] for r in result["actions"]["LINK"]] == ["libcore-1.2-0"]
    assert core.read_text() == "core 1.2\n"


def test_satisfied_skip_solve(user: dict[str, str], channel: Path) -> None:
    history = _prefix(user, "made") / "conda-meta" / "history"
    before = history.read_text()
    skipped = ok_json(ophis(user, "install", "-n", "made", "libcore>=1", "-S", "-y", "--json"))
    assert skipped == {"success": True, "message": "All requested packages already installed."}
    assert history.read_text() == before  # no channel was even needed: nothing was solved
    unmet = ophis(
        user, "install", "-n", "made", "libcore=1.0", "-S", "--dry-run", "--json", *_from(channel)
    )
    link = ok_json(unmet)["actions"]["LINK"]
    assert [r["dist_name"] for r in link] == ["libcore-1.0-0"]


# --- create's options --------------------------------------------------------------------


def test_copy_links_no_file(user: dict[str, str], channel: Path) -> None:
    for name, flags in (("copied", ["--copy"]), ("linked", [])):
        ok_json(
            ophis(user, "create", "-n", name, "libcore", *flags, "-y", "--json", *_from(channel))
        )
    assert (_prefix(user, "copied") / "lib" / "core.txt").stat().st_nlink == 1
    assert (_prefix(user, "linked") / "lib" / "core.txt").stat().st_nlink > 1


def test_download_only_fills_the_cache_and_changes_no_environment(
    tmp_path: Path, channel: Path
) -> None:
    home = isolated_user(tmp_path)
    # with no -n/-p, as conda allows for --download-only and --dry-run
    result = ophis(home, "create", "numeric", "--download-only", "-y", "--json", *_from(channel))
    assert result.returncode == 0 and result.stdout == ""
    error = json.loads(result.stderr)
    assert error["exception_name"] == "CondaExitZero"
    assert error["message"].startswith("Package caches prepared.")
    cache = Path(home["CONDA_PKGS_DIRS"])
    assert (cache / "numeric-2.0-0" / "info" / "index.json").is_file()
    assert (cache / "libcore-1.2-0" / "lib" / "core.txt").is_file()
    assert not (Path(home["OPHIS_ROOT_PREFIX"]) / "envs").exists()


def test_platform_solves_for_it_and_the_environment_remembers(
    user: dict[str, str], channel: Path
) -> None:
    ok_json(
        ophis(
            user,
            "create",
            "-n",
            "mac",
            "native",
            "--platform",
            "osx-arm64",
            "-y",
            "--json",
            *_from(channel),
        )
    )
    prefix = _prefix(user, "mac")
    assert (prefix / ".condarc").read_text() == "subdir: osx-arm64\n"
    record = json.loads((prefix / "conda-meta" / "native-1.0-0.json").read_text())
    assert record["subdir"] == "osx-arm64"
    wrong = ophis(
        user, "create", "-n", "x", "libcore", "--subdir", "nope-64", "--dry-run", "--json"
    )
    assert wrong.returncode != 0 and "nope-64" in wrong.stdout


def test_create_default_packages_unless_told_not_to(user: dict[str, str], channel: Path) -> None:
    home = dict(user, CONDARC=str(Path(user["HOME"]) / "defaults.condarc"))
    Path(home["CONDARC"]).write_text("create_default_packages:\n  - extras\n  - libcore\n")

    def linked(*args: str) -> set[str]:
        document = ok_json(
            ophis(home, "create", "-n", "d", *args, "--dry-run", "--json", *_from(channel))
        )
        return {r["dist_name"] for r in document["actions"]["LINK"]}

    # a default the user named keeps the user's constraint
    assert linked("libcore=1.0") == {"libcore-1.0-0", "extras-0.1-0"}
    assert linked("libcore=1.0", "--no-default-packages") == {"libcore-1.0-0"}


@pytest.mark.parametrize(
    ("flags", "accepted", "said"),
    [
        (["--solver", "libmamba"], True, "Ophis has one solver"),
        (["--solver", "nope"], False, "invalid choice: 'nope'"),
        (["--repodata-fn", "current_repodata.json", "--solver", "rattler", "-C", "-k"], True, ""),
        (["--use-index-cache", "--insecure", "--offline", "--repodata-fn", "x.json"], True, ""),
    ],
)
def test_solver_and_network_options(
    user: dict[str, str], channel: Path, flags: list[str], accepted: bool, said: str
) -> None:
    result = ophis(
        user, "create", "-n", "opts", "libcore", *flags, "--dry-run", "--json", *_from(channel)
    )
    assert (result.returncode == 0) is accepted, result.stdout + result.stderr
    assert said in result.stderr
    if accepted:
        link = json.loads(result.stdout)["actions"]["LINK"]
        assert [r["dist_name"] for r in link] == ["libcore-1.2-0"]


# --- over HTTP: -C uses the cached index however old; notices ------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, channel: Path) -> Iterator[tuple[Path, str]]:
    """A copy of the channel served by a plain HTTP server on 127.0.0.1."""
    root = tmp_path_factory.mktemp("served") / "web"
    (root / "noarch").mkdir(parents=True)
    make_package(root / "noarch", "first", "1.0")
    index_channel(root)
    (root / "notices.json").write_text(json.dumps(NOTICES))
    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": _silent})
    handler = functools.partial(quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _silent(*_: object) -> None:
    pass


def test_use_index_cache_keeps_the_cached_repodata(
    tmp_path: Path, served: tuple[Path, str]
) -> None:
    root, url = served
    home = isolated_user(tmp_path)
    ok_json(ophis(home, "search", "first", "--json", *_from(url)))  # fills the index cache
    make_package(root / "noarch", "second", "1.0")
    index_channel(root)
    # the server's Last-Modified counts whole seconds: the new index must be a later one
    later = time.time() + 2
    for index in (root / "noarch").glob("repodata*"):
        os.utime(index, (later, later))
    time.sleep(1.1)  # past local_repodata_ttl (1 s)
    stale = ophis(home, "search", "second", "--json", "-C", *_from(url))
    assert json.loads(stale.stdout)["exception_name"] == "PackagesNotFoundInChannelsError"
    assert "second" in ok_json(ophis(home, "search", "second", "--json", *_from(url)))


# --- notices -----------------------------------------------------------------------------


def test_notices_shows_each_channels_notices(
    user: dict[str, str], channel: Path, served: tuple[Path, str]
) -> None:
    text = ophis(user, "notices", *_from(channel))
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[:4] == [
        "",
        'Channel "tools" has the following notices:',
        "  [warning] -- Fri Jan  2 03:04:05 2026",
        "  The channel moves on Sunday.",
    ]
    listed = ok_json(ophis(user, "notices", "--json", *_from(served[1])))
    assert listed == [
        {
            "id": "maintenance-1",
            "channel_name": served[1].removeprefix("http://"),  # conda: the location
            "message": "The channel moves on Sunday.",
            "level": "warning",
            "created_at": "2026-01-02T03:04:05+00:00",
            "expired_at": "2999-01-01T00:00:00+00:00",
            "interval": 604800,
        }
    ]
    cache = Path(user["XDG_CACHE_HOME"]) / "conda" / "notices"
    assert (cache / "notices.cache").read_text().splitlines() == ["maintenance-1"]


def test_a_bad_notices_file_is_no_notice(tmp_path: Path) -> None:
    channels = []
    for number, content in enumerate([b"not json", b'{"notices": 7}', b" " * (2 << 20)]):
        channel = tmp_path / f"odd{number}"
        (channel / "noarch").mkdir(parents=True)
        index_channel(channel)
        (channel / "notices.json").write_bytes(content)
        channels += ["-c", channel.as_uri()]
    home = isolated_user(tmp_path)
    assert ok_json(ophis(home, "notices", "--json", "--override-channels", *channels)) == []


def test_a_notice_cannot_drive_the_terminal(tmp_path: Path) -> None:
    channel = tmp_path / "loud"
    (channel / "noarch").mkdir(parents=True)
    index_channel(channel)
    hostile = {"notices": [{"id": "x", "message": "\x1b[2J\x1b]0;owned\x07hello\x9b31m"}]}
    (channel / "notices.json").write_text(json.dumps(hostile))
    shown = ophis(isolated_user(tmp_path), "notices", *_from(channel))
    assert shown.returncode == 0, shown.stderr
    assert "  [info] -- \n  [2J]0;ownedhello31m\n" in shown.stdout
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout


# --- package -----------------------------------------------------------------------------


def test_package_which_untracked_make_and_reset(
    user: dict[str, str], channel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the package is written in the current folder, as conda's
    ok_json(ophis(user, "create", "-n", "pkg", "numeric", "-y", "--json", *_from(channel)))
    prefix = _prefix(user, "pkg")
    owned = prefix / "lib" / "numeric.txt"
    which = ophis(user, "package", "-w", str(owned), str(prefix / "lib" / "core.txt"))
    rows = [line.split() for line in which.stdout.splitlines()]
    assert [(path, dist.rpartition("::")[2]) for path, dist in rows] == [
        (str(owned), "numeric-2.0-0"),
        (str(prefix / "lib" / "core.txt"), "libcore-1.2-0"),
    ]
    (prefix / "bin").mkdir()
    (prefix / "bin" / "tool").write_text("#!/usr/bin/env python\nprint('hi')\n")
    (prefix / "share" / "notes").mkdir(parents=True)
    (prefix / "share" / "notes" / "a.txt").write_text("mine\n")
    listed = ophis(user, "package", "-n", "pkg", "-u").stdout.splitlines()
    assert listed == [
        f"# prefix: {prefix}",
        "# untracked files: 2",
        "bin/tool",
        "share/notes/a.txt",
    ]

    made = ophis(
        user,
        "package",
        "-n",
        "pkg",
        "--pkg-name",
        "Mine",
        "--pkg-version",
        "1.2",
        "--pkg-build",
        "3",
    )
    assert made.stdout.splitlines()[1:] == ["# files: 2", "# success", "mine-1.2-3.tar.bz2"]
    with tarfile.open(tmp_path / "mine-1.2-3.tar.bz2") as archive:
        index = json.load(archive.extractfile("info/index.json"))
        assert archive.extractfile("info/has_prefix").read() == b"bin/tool\n"
        assert (
            archive.extractfile("bin/tool")
            .read()
            .startswith(b"#!/opt/anaconda1anaconda2anaconda3/bin/python\n")
        )
        assert "info/paths.json" not in archive.getnames()
    assert (index["name"], index["version"], index["build"], index["build_number"]) == (
        "mine",
        "1.2",
        "3",
        3,
    )

    assert ophis(user, "package", "-n", "pkg", "-r").returncode == 0
    assert not (prefix / "share" / "notes").exists() and not (prefix / "bin" / "tool").exists()
    assert owned.is_file()
    outside = ophis(user, "package", "-w", str(tmp_path))
    assert outside.returncode == 1 and "could not determine conda prefix" in outside.stderr


def test_new_notices_follow_a_change_once_a_day(tmp_path: Path, channel: Path) -> None:
    home = isolated_user(tmp_path)
    header = 'Channel "tools" has the following notices:'
    first = ophis(home, "create", "-n", "n", "libcore", "-y", *_from(channel))
    assert first.returncode == 0, first.stderr
    assert first.stdout.rstrip().endswith(
        f"{header}\n  [warning] -- Fri Jan  2 03:04:05 2026\n  The channel moves on Sunday."
    )
    again = ophis(home, "install", "-n", "n", "extras", "-y", *_from(channel))
    assert again.returncode == 0 and header not in again.stdout  # seen, and not a day later
