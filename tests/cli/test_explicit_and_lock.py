"""Exact installs without solving: @EXPLICIT files, lock files, clones; the history view;
corrupt records. Run as a user's script runs them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import ok_json, ophis
from ophis.testing.http import serve_directory
from ophis.testing.packages import make_package


def silent(result: subprocess.CompletedProcess[str]) -> None:
    """conda's explicit installs (@EXPLICIT files, package URLs) print no JSON at all."""
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def _channel(recipes: Path) -> list[str]:
    return ["--override-channels", "-c", recipes.as_uri()]


def _installed(home: dict[str, str], prefix: Path) -> list[tuple[str, str]]:
    return [
        (p["dist_name"], p["base_url"])
        for p in ok_json(ophis(home, "list", "-p", str(prefix), "--json"))
    ]


def _meta(prefix: Path) -> dict[str, dict]:
    """conda-meta records by file name."""
    records = (prefix / "conda-meta").glob("*-*-*.json")
    return {p.name: json.loads(p.read_text()) for p in records if "corrupt" not in p.name}


def _explicit(path: Path, *lines: str) -> Path:
    path.write_text("@EXPLICIT\n" + "".join(f"{line}\n" for line in lines))
    return path


def test_create_from_list_explicit_md5_reproduces_the_environment(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    original, copy = tmp_path / "original", tmp_path / "copy"
    ok_json(
        ophis(
            home, "create", "-p", str(original), *_channel(recipes),
            "dependent=1.0", "small-executable", "--json", "-y",
        )
    )  # fmt: skip
    listed = ophis(home, "list", "-p", str(original), "--explicit", "--md5")
    assert listed.returncode == 0, listed.stderr
    assert re.search(
        r"/noarch/small-executable-1\.0\.0-0\.conda#[0-9a-f]{32}$", listed.stdout, re.M
    )
    spec = tmp_path / "spec.txt"
    spec.write_text(listed.stdout)

    silent(ophis(home, "create", "-p", str(copy), "--file", str(spec), "--json", "-y"))
    assert sorted(_meta(copy)) == [
        "dependency-1.0-0.json",
        "dependent-1.0-0.json",
        "small-executable-1.0.0-0.json",
    ]
    assert _installed(home, copy) == _installed(home, original)
    for name, record in _meta(original).items():
        made = _meta(copy)[name]
        assert (made["url"], made["sha256"], made["depends"]) == (
            record["url"],
            record["sha256"],
            record["depends"],
        )
    assert (copy / "bin" / "small").is_file() or any((copy / "bin").iterdir())
    # conda's history for an explicit install: the linked packages as exact specs
    history = (copy / "conda-meta" / "history").read_text()
    specs = re.search(r"^# update specs: (.*)$", history, re.M)
    assert specs is not None
    assert f"{recipes.as_uri()}/noarch::dependent==1.0=0" in specs.group(1)


def test_explicit_install_replaces_only_the_packages_it_names(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    prefix = tmp_path / "env"
    noarch = recipes.as_uri() + "/noarch"
    ok_json(
        ophis(
            home, "create", "-p", str(prefix), *_channel(recipes),
            "dependent=1.0", "small-executable", "--json",
        )
    )  # fmt: skip
    upgrade = _explicit(
        tmp_path / "up.txt",
        f"{noarch}/dependent-2.0-0.tar.bz2",
        f"{noarch}/dependency-2.0-0.tar.bz2",
    )

    silent(ophis(home, "install", "-p", str(prefix), "--file", str(upgrade), "--json"))
    # linked in dependency order, whatever the file's order (the history lists that order)
    last = (prefix / "conda-meta" / "history").read_text().rsplit("==>", 1)[-1]
    assert [line.rsplit("::", 1)[-1] for line in last.splitlines() if line[:1] == "+"] == [
        "dependency-2.0-0",
        "dependent-2.0-0",
    ]
    assert sorted(line.rsplit("::", 1)[-1] for line in last.splitlines() if line[:1] == "-") == [
        "dependency-1.0-0",
        "dependent-1.0-0",
    ]
    assert sorted(_meta(prefix)) == [
        "dependency-2.0-0.json",
        "dependent-2.0-0.json",
        "small-executable-1.0.0-0.json",  # not named in the file: stays
    ]
    silent(ophis(home, "install", "-p", str(prefix), "--file", str(upgrade), "--json"))

    # the explicit install's history specs name a channel a later install need not search
    extra = tmp_path / "extra"
    make_package(extra / "noarch", "lonely")
    index_channel(extra)
    more = ophis(
        home, "install", "-p", str(prefix), "--override-channels", "-c", extra.as_uri(),
        "lonely", "--json", "-y",
    )  # fmt: skip
    assert [a["dist_name"] for a in ok_json(more)["actions"]["LINK"]] == ["lonely-1.0-0"]
    assert "dependent-2.0-0.json" in _meta(prefix)


def test_a_checksum_mismatch_fails_before_anything_changes(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    noarch = recipes.as_uri() + "/noarch"
    url = f"{noarch}/dependency-1.0-0.tar.bz2"
    bad_md5 = _explicit(tmp_path / "bad.txt", f"{url}#{'0' * 32}")
    prefix = tmp_path / "new"
    failed = ophis(home, "create", "-p", str(prefix), "--file", str(bad_md5), "--json", "-y")
    assert failed.returncode == 1
    error = json.loads(failed.stdout)
    assert error["exception_name"] == "ChecksumMismatchError"
    assert f"url '{url}'" in error["message"] and "expected md5: " + "0" * 32 in error["message"]
    assert not prefix.exists()

    existing = tmp_path / "existing"
    good = _explicit(tmp_path / "good.txt", url)
    silent(ophis(home, "create", "-p", str(existing), "--file", str(good), "--json"))
    before = {p.name: p.read_bytes() for p in (existing / "conda-meta").iterdir()}
    bad_sha = _explicit(
        tmp_path / "bad-sha.txt",
        f"{noarch}/dependent-1.0-0.tar.bz2#sha256:{'a' * 64}",
        f"{noarch}/dependency-2.0-0.tar.bz2",
    )
    failed = ophis(home, "install", "-p", str(existing), "--file", str(bad_sha))
    assert failed.returncode == 1
    assert "dependent-1.0-0.tar.bz2" in failed.stderr and "expected sha256" in failed.stderr
    assert {p.name: p.read_bytes() for p in (existing / "conda-meta").iterdir()} == before


def test_explicit_files_do_not_mix_with_specs(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    explicit = _explicit(
        tmp_path / "explicit.txt", f"{recipes.as_uri()}/noarch/dependency-1.0-0.tar.bz2"
    )
    plain = tmp_path / "requirements.txt"
    plain.write_text("dependent\n")
    target = ["-p", str(tmp_path / "env"), "--json", "-y"]

    mixed = ophis(home, "create", *target, "--file", str(explicit), "--file", str(plain))
    error = json.loads(mixed.stdout)
    assert error["exception_name"] == "EnvironmentFileTypeMismatchError"
    assert error["message"] == (
        "Cannot mix environment file formats.\n\n"
        f"'{explicit}' is a explicit format file\n'{plain}' is a requirements.txt format file"
    )
    with_specs = ophis(home, "create", *target, "--file", str(explicit), "dependent")
    assert json.loads(with_specs.stdout)["exception_name"] == "TooManyArgumentsError"
    assert not (tmp_path / "env").exists()


def test_explicit_urls_without_repodata_are_read_from_the_archives(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    """conda needs no index: the archive's info/index.json gives depends and the rest."""
    loose = tmp_path / "site" / "loose" / "noarch"
    loose.mkdir(parents=True)
    for name in ("dependency-1.0-0.tar.bz2", "dependent-1.0-0.tar.bz2"):
        shutil.copy(recipes / "noarch" / name, loose)
    prefix = tmp_path / "env"
    with serve_directory(tmp_path / "site") as server:
        base = f"{server.url}/loose/noarch"
        spec = _explicit(
            tmp_path / "spec.txt",
            f"{base}/dependent-1.0-0.tar.bz2",
            f"{base}/dependency-1.0-0.tar.bz2",
        )
        silent(ophis(home, "create", "-p", str(prefix), "--file", str(spec), "--json"))
        fetched = [path for path, status in server.requests if path.endswith(".tar.bz2")]
    assert sorted(fetched) == [
        "/loose/noarch/dependency-1.0-0.tar.bz2",
        "/loose/noarch/dependent-1.0-0.tar.bz2",
    ]
    record = _meta(prefix)["dependent-1.0-0.json"]
    assert record["depends"] == ["dependency >=1.0,<2.0a0"]
    assert record["url"] == f"{base}/dependent-1.0-0.tar.bz2"
    assert (tmp_path / "pkgs" / "dependent-1.0-0.tar.bz2").is_file()


def test_lock_then_create_locked_on_two_platforms(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    environment = tmp_path / "environment.yml"
    environment.write_text(
        f"channels: [{recipes.as_uri()}]\ndependencies: [dependent=1.0]\n"
        "platforms: [linux-64, osx-arm64]\n"
    )
    lock_file = tmp_path / "env.lock"
    locked = ok_json(
        ophis(
            home, "lock", "-f", str(environment), "--override-channels",
            "--lockfile", str(lock_file), "--json",
        )
    )  # fmt: skip
    assert locked == {
        "success": True,
        "lockfile": str(lock_file),
        "platforms": {
            "linux-64": ["dependency-1.0-0", "dependent-1.0-0"],
            "osx-arm64": ["dependency-1.0-0", "dependent-1.0-0"],
        },
    }
    text = lock_file.read_text()
    pinned = set(re.findall(r"sha256: ([0-9a-f]{64})", text))
    assert len(pinned) == 2
    for platform in ("linux-64", "osx-arm64"):
        env = {**home, "CONDA_SUBDIR": platform}
        prefix = tmp_path / platform
        created = ok_json(
            ophis(env, "create", "-p", str(prefix), "--locked", str(lock_file), "--json")
        )
        assert (
            sorted(a["dist_name"] for a in created["actions"]["LINK"])
            == locked["platforms"][platform]
        )
        records = _meta(prefix).values()
        assert {r["sha256"] for r in records} == pinned
        assert {r["url"] for r in records} == {
            f"{recipes.as_uri()}/noarch/{n}.tar.bz2" for n in locked["platforms"][platform]
        }

    # into an existing environment: it becomes exactly the locked set
    other = tmp_path / "other"
    ok_json(
        ophis(
            home,
            "create",
            "-p",
            str(other),
            *_channel(recipes),
            "dependent=2.0",
            "small-executable",
            "-y",
            "--json",
        )
    )
    env = {**home, "CONDA_SUBDIR": "linux-64"}
    changed = ok_json(ophis(env, "install", "-p", str(other), "--locked", str(lock_file), "--json"))
    assert sorted(a["dist_name"] for a in changed["actions"]["UNLINK"]) == [
        "dependency-2.0-0",
        "dependent-2.0-0",
        "small-executable-1.0.0-0",
    ]
    assert sorted(_meta(other)) == ["dependency-1.0-0.json", "dependent-1.0-0.json"]

    missing = ophis(
        {**home, "CONDA_SUBDIR": "win-64"},
        "create",
        "-p",
        str(tmp_path / "w"),
        "--locked",
        str(lock_file),
        "--json",
    )
    assert json.loads(missing.stdout)["exception_name"] == "LockFileError"
    assert "holds no packages for win-64" in json.loads(missing.stdout)["message"]


def test_clone_copies_packages_and_untracked_files_offline(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    channel = tmp_path / "private"
    (channel / "noarch").mkdir(parents=True)
    for name in ("dependency-1.0-0.tar.bz2", "dependent-1.0-0.tar.bz2"):
        shutil.copy(recipes / "noarch" / name, channel / "noarch")
    index_channel(channel)
    source, clone = tmp_path / "source", tmp_path / "clone"
    ok_json(
        ophis(home, "create", "-p", str(source), "--override-channels", "-c", channel.as_uri(),
              "dependent", "--json", "-y")
    )  # fmt: skip
    (source / "etc").mkdir()
    (source / "etc" / "settings.cfg").write_text(f"home = {source}\n")
    (source / "etc" / "current").symlink_to("settings.cfg")
    shutil.rmtree(channel)  # from now on the packages exist only in the package cache

    cloned = ok_json(
        ophis(home, "create", "-p", str(clone), "--clone", str(source), "--offline", "--json")
    )
    assert cloned["src_prefix"] == str(source) and cloned["dst_prefix"] == str(clone)
    assert cloned["untracked_files"] == ["etc/current", "etc/settings.cfg"]
    assert _installed(home, clone) == _installed(home, source)
    assert (clone / "etc" / "settings.cfg").read_text() == f"home = {clone}\n"
    assert (clone / "etc" / "current").readlink() == Path("settings.cfg")
    assert {n: r["url"] for n, r in _meta(clone).items()} == {
        n: r["url"] for n, r in _meta(source).items()
    }

    text = ophis(
        home, "create", "-p", str(tmp_path / "again"), "--clone", str(source), "--offline", "-y"
    )
    assert text.returncode == 0, text.stderr
    assert (
        f"Source:      {source}\nDestination: {tmp_path / 'again'}\nPackages: 2\nFiles: 2\n"
        in text.stdout
    )


def test_list_revisions_after_create_install_remove(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    prefix = tmp_path / "env"
    channel = _channel(recipes)
    ok_json(ophis(home, "create", "-p", str(prefix), *channel, "dependent=1.0", "--json", "-y"))
    ok_json(ophis(home, "install", "-p", str(prefix), *channel, "dependent=2.0", "--json", "-y"))
    ok_json(ophis(home, "remove", "-p", str(prefix), "dependent", "--json", "-y"))

    shown = ophis(home, "list", "-p", str(prefix), "--revisions")
    assert shown.returncode == 0, shown.stderr
    uri = recipes.as_uri()
    date = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    pattern = (
        f"{date}  \\(rev 0\\)\n"
        f"    \\+dependency-1.0 \\({re.escape(uri)}\\)\n"
        f"    \\+dependent-1.0 \\({re.escape(uri)}\\)\n\n"
        f"{date}  \\(rev 1\\)\n"
        f"     dependency  {{1.0 \\({re.escape(uri)}\\) -> 2.0 \\({re.escape(uri)}\\)}}\n"
        f"     dependent  {{1.0 \\({re.escape(uri)}\\) -> 2.0 \\({re.escape(uri)}\\)}}\n\n"
        f"{date}  \\(rev 2\\)\n"
        f"    -dependency-2.0 \\({re.escape(uri)}\\)\n"
        f"    -dependent-2.0 \\({re.escape(uri)}\\)\n\n"
    )
    assert re.fullmatch(pattern, shown.stdout), shown.stdout

    log = ok_json(ophis(home, "list", "-p", str(prefix), "--revisions", "--json"))
    assert [e["rev"] for e in log] == [0, 1, 2]
    assert log[0]["install"] == [f"dependency-1.0-0-{uri}", f"dependent-1.0-0-{uri}"]
    assert log[1]["upgrade"] == [
        {"old": f"dependency-1.0-0-{uri}", "new": f"dependency-2.0-0-{uri}"},
        {"old": f"dependent-1.0-0-{uri}", "new": f"dependent-2.0-0-{uri}"},
    ]
    assert log[2]["remove"] == [f"dependency-2.0-0-{uri}", f"dependent-2.0-0-{uri}"]
    assert all(set(e) == {"date", "rev", "install", "remove", "upgrade", "downgrade"} for e in log)

    (prefix / "conda-meta" / "history").unlink()
    gone = ophis(home, "list", "-p", str(prefix), "--revisions", "--json")
    assert json.loads(gone.stdout)["exception_name"] == "PathNotFoundError"


@pytest.mark.parametrize("case", ["json", "unicode"])
def test_a_corrupt_record_is_a_warning_not_a_crash(
    recipes: Path, home: dict[str, str], tmp_path: Path, testdata: Path, case: str
) -> None:
    prefix = tmp_path / "env"
    ok_json(
        ophis(
            home, "create", "-p", str(prefix), *_channel(recipes), "dependency=1.0", "--json", "-y"
        )
    )
    bad = prefix / "conda-meta" / "corrupt-1.2.3-hashhash.json"
    shutil.copy(testdata / "conda" / "corrupt" / case / "conda-meta" / bad.name, bad)

    listed = ophis(home, "list", "-p", str(prefix), "--json")
    assert [p["name"] for p in ok_json(listed)] == ["dependency"]
    assert f"Ignoring corrupt prefix record at: {bad}" in listed.stderr
    table = ophis(home, "list", "-p", str(prefix))
    assert table.returncode == 0 and "dependency" in table.stdout and str(bad) in table.stderr

    installed = ophis(
        home, "install", "-p", str(prefix), *_channel(recipes), "dependent=1.0", "--json", "-y"
    )
    assert [a["name"] for a in ok_json(installed)["actions"]["LINK"]] == ["dependent"]
    assert str(bad) in installed.stderr
    # the file is left for the user to look at, unchanged
    original = testdata / "conda" / "corrupt" / case / "conda-meta" / bad.name
    assert bad.read_bytes() == original.read_bytes()
    assert sorted(_meta(prefix)) == ["dependency-1.0-0.json", "dependent-1.0-0.json"]
