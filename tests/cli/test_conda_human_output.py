"""The human output contract with conda: the lines a conda user reads and a script greps.

One table of commands run as a user against local channels, each with the exact lines
conda prints for it (transcribed from conda's ``core/link.py`` change report, its console
reporter's spinners, conda-libmamba-solver's "Channels:" header, ``exceptions.py``'s
DryRunExit and ``cli/common.py``'s activation hint), in order, on the stream conda uses.
Output goes to a pipe here, as in a script: conda then writes its stages as
``<stage>: ...working... done``.
"""

from __future__ import annotations

import json
import os
import pty
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ophis.cli.plan_report import Shown, change_report, human_bytes
from ophis.core.platform import detect_machine_facts, native_subdir
from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user, ophis
from ophis.testing.packages import make_package

WORKING = "...working... done"
DOWNLOAD_HEADER = "    package                    |            build"
DOWNLOAD_RULE = "    ---------------------------|-----------------"
TOTAL_RULE = "    " + "-" * 60
TRANSACTION = [
    "Preparing transaction: ...working... done",
    "Verifying transaction: ...working... done",
    "Executing transaction: ...working... done",
]


def hint(target: str) -> list[str]:
    """conda's activation hint, with ``ophis`` for ``conda``."""
    return [
        "#",
        "# To activate this environment, use",
        "#",
        f"#     $ ophis activate {target}",
        "#",
        "# To deactivate an active environment, use",
        "#",
        "#     $ ophis deactivate",
    ]


def solving(*channels: str) -> list[str]:
    """The lines before every plan: the channels, the platform, the two stages."""
    return [
        "Channels:",
        *(f" - {c}" for c in channels),
        "Platform: {subdir}",
        f"Collecting package metadata (repodata.json): {WORKING}",
        f"Solving environment: {WORKING}",
    ]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  #: {chan}, {other}, {env}, {new}, {file} are filled in
    stdout: tuple[str, ...]  #: exact lines, in this order (others may come between)
    stderr: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()  #: text that must not be on stdout
    env_file: str = ""


CH = ("--override-channels", "-c", "{chan}")
CASES = [
    Case(
        "create-dry-run",
        ("create", "-p", "{new}", *CH, "lonely", "averyveryverylongpackagename", "-d"),
        (
            *solving("{chan}"),
            "",
            "## Package Plan ##",
            "",
            "  environment location: {new}",
            "",
            "  added / updated specs:",
            "    - averyveryverylongpackagename",
            "    - lonely",
            "",
            "",
            "The following packages will be downloaded:",
            "",
            DOWNLOAD_HEADER,
            DOWNLOAD_RULE,
            "    averyveryverylongpackagename-1.0|                0{long_size:>15}  {chan}",
            "    lonely-1.0                 |                0{lonely_size:>15}  {chan}",
            TOTAL_RULE,
            "                                           Total: {total:>14}",
            "",
            "The following NEW packages will be INSTALLED:",
            "",
            "  averyveryverylong~ chan/noarch::averyveryverylongpackagename-1.0-0 ",
            "  lonely             chan/noarch::lonely-1.0-0 ",
            "",
            "",
        ),
        stderr=("", "DryRunExit: Dry run. Exiting."),
        absent=("DryRunExit", "ophis activate", "Downloading", "Proceed"),
    ),
    Case(
        "update-and-downgrade",
        ("install", "-p", "{env}", *CH, "up=2.0", "down=1.0", "--dry-run"),
        (
            *solving("{chan}"),
            "  added / updated specs:",
            "    - down=1.0",
            "    - up=2.0",
            "The following packages will be UPDATED:",
            "",
            "  up                                                  1.0-0 --> 2.0-0 ",
            "",
            "The following packages will be DOWNGRADED:",
            "",
            "  down                                                2.0-0 --> 1.0-0 ",
        ),
        stderr=("DryRunExit: Dry run. Exiting.",),
        absent=("NEW packages", "REMOVED"),
    ),
    Case(
        "update-verb",
        ("update", "-p", "{env}", *CH, "up", "--dry-run"),
        (
            *solving("{chan}"),
            "The following packages will be UPDATED:",
            "  up                                                  1.0-0 --> 2.0-0 ",
        ),
        stderr=("DryRunExit: Dry run. Exiting.",),
        absent=("NEW packages", "REMOVED"),
    ),
    Case(
        "superseded-by-a-higher-priority-channel",
        (
            "install",
            "-p",
            "{env}",
            "--override-channels",
            "-c",
            "{other}",
            "-c",
            "{chan}",
            "lonely=0.5",
            "--dry-run",
        ),
        (
            *solving("{other}", "{chan}"),
            "The following packages will be SUPERSEDED by a higher-priority channel:",
            "",
            "  lonely                                 chan::lonely-1.0-0 --> other::lonely-0.5-0 ",
        ),
        stderr=("DryRunExit: Dry run. Exiting.",),
    ),
    Case(
        "remove",
        ("remove", "-p", "{env}", "lonely", "--dry-run"),
        (
            *solving("{chan}"),
            "## Package Plan ##",
            "  environment location: {env}",
            "",
            "  removed specs:",
            "    - lonely",
            "",
            "",
            "The following packages will be REMOVED:",
            "",
            "  lonely-1.0-0",
        ),
        stderr=("DryRunExit: Dry run. Exiting.",),
        absent=("downloaded", "INSTALLED"),
    ),
    Case(
        "nothing-to-do",
        ("install", "-p", "{env}", *CH, "lonely"),
        (*solving("{chan}"), "", "# All requested packages already installed.", ""),
        absent=("Package Plan",),
    ),
    Case(
        "quiet-keeps-the-stages-and-drops-download-and-hint",
        ("create", "-p", "{new}", *CH, "up=1.0", "-y", "-q"),
        (*solving("{chan}"), "## Package Plan ##", *TRANSACTION),
        absent=("Downloading and Extracting", "ophis activate"),
    ),
    Case(
        "env-create-file",
        ("env", "create", "-f", "{file}"),
        (
            *solving("{chan}"),
            "## Package Plan ##",
            "  environment location: {root}/envs/fromfile",
            "The following NEW packages will be INSTALLED:",
            "  up                 chan/noarch::up-1.0-0 ",
            "Downloading and Extracting Packages: ...working... done",
            *TRANSACTION,
            *hint("fromfile"),
        ),
        env_file="name: fromfile\nchannels: [{chan}]\ndependencies: [up=1.0]\n",
    ),
]


def _sizes(chan: Path) -> dict[str, str]:
    size = {p.name.split("-")[0]: p.stat().st_size for p in (chan / "noarch").glob("*.tar.bz2")}
    lonely, long = size["lonely"], size["averyveryverylongpackagename"]
    return {
        "lonely_size": f"{round(lonely / 1024)} KB",
        "long_size": f"{long} B",
        "total": f"{round((lonely + long) / 1024)} KB",
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two channels, a user and an environment with up 1.0, down 2.0 and lonely."""
    root = tmp_path_factory.mktemp("human")
    chan, other = root / "chan", root / "other"
    for name, version in (("up", "1.0"), ("up", "2.0"), ("down", "1.0"), ("down", "2.0")):
        make_package(chan / "noarch", name, version)
    # incompressible, so that its size is shown in KB
    data = random.Random(0).randbytes(3000)
    make_package(chan / "noarch", "lonely", files={"share/data.bin": data})
    make_package(chan / "noarch", "averyveryverylongpackagename")
    make_package(other / "noarch", "lonely", "0.5")
    index_channel(chan)
    index_channel(other)
    user = isolated_user(root / "user")
    env = root / "env"
    made = ophis(user, "create", "-p", str(env), "--override-channels", "-c", chan.as_uri(),
                 "up=1.0", "down=2.0", "lonely", "--json", "-y")  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    yield {
        "user": user,
        "chan": chan.as_uri(),
        "other": other.as_uri(),
        "env": str(env),
        "root": user["OPHIS_ROOT_PREFIX"],
        "subdir": native_subdir(detect_machine_facts()),
        **_sizes(chan),
    }


def _names(world: dict[str, Any], case: Case, tmp_path: Path) -> dict[str, str]:
    names = {k: v for k, v in world.items() if isinstance(v, str)}
    names["new"] = str(tmp_path / "new")
    if case.env_file:
        names["file"] = str(tmp_path / "environment.yml")
        Path(names["file"]).write_text(case.env_file.format(**names))
    return names


def assert_lines_in_order(text: str, expected: list[str]) -> None:
    """Each expected line is a whole line of ``text``, after the one before it."""
    lines = text.splitlines()
    at = 0
    for line in expected:
        assert line in lines[at:], f"{line!r} missing after line {at} of:\n{text}"
        at = lines.index(line, at) + 1


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conda_human_output(case: Case, world: dict[str, Any], tmp_path: Path) -> None:
    names = _names(world, case, tmp_path)
    user = {**world["user"], "CONDA_PKGS_DIRS": str(tmp_path / "pkgs")}  # nothing cached
    result = ophis(user, *(a.format(**names) for a in case.argv))
    assert result.returncode == 0, result.stdout + result.stderr
    assert_lines_in_order(result.stdout, [line.format(**names) for line in case.stdout])
    assert_lines_in_order(result.stderr, list(case.stderr))
    for text in case.absent:
        assert text.format(**names) not in result.stdout


def test_create_and_update_print_the_plan_then_the_transaction(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """With -y the plan is still shown; a new environment ends with the activation hint,
    quoted when its path has a space; nothing goes to stderr."""
    target = str(tmp_path / "my env")
    channel = ("--override-channels", "-c", world["chan"])
    created = ophis(world["user"], "create", "-p", target, *channel, "up=1.0", "-y")
    assert created.returncode == 0, created.stderr
    expected = ["## Package Plan ##", "  up                 chan/noarch::up-1.0-0 ", *TRANSACTION]
    assert_lines_in_order(created.stdout, expected + hint(f'"{target}"'))
    assert created.stdout.endswith("#     $ ophis deactivate\n\n")
    assert created.stderr == ""  # no progress bars off a terminal: stderr is for errors

    updated = ophis(world["user"], "update", "-p", target, *channel, "up", "-y")
    assert updated.returncode == 0, updated.stderr
    assert_lines_in_order(
        updated.stdout,
        [
            "The following packages will be UPDATED:",
            "  up                                                  1.0-0 --> 2.0-0 ",
            *TRANSACTION,
        ],
    )
    assert "ophis activate" not in updated.stdout  # only create gives the hint


def test_asking_shows_the_plan_before_the_question(world: dict[str, Any], tmp_path: Path) -> None:
    target = str(tmp_path / "asked")
    channel = ("--override-channels", "-c", world["chan"])
    declined = ophis(world["user"], "create", "-p", target, *channel, "up", answers="n\n")
    assert declined.returncode == 0, declined.stderr
    plan, asked, after = declined.stdout.partition("Proceed ([y]/n)? ")
    assert asked and "The following NEW packages will be INSTALLED:" in plan
    assert "transaction" not in after
    assert "CondaSystemExit: Exiting." in declined.stderr


def test_json_dry_run_prints_only_the_document(world: dict[str, Any]) -> None:
    result = ophis(world["user"], "install", "-p", world["env"], "--override-channels", "-c",
                   world["chan"], "up=2.0", "--dry-run", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # nothing else on stdout
    assert document["dry_run"] is True
    assert "DryRunExit" not in result.stderr and "Channels:" not in result.stderr


def test_on_a_terminal_the_stages_end_with_done(world: dict[str, Any]) -> None:
    """conda's spinner leaves "<stage>: done" on a terminal (no "...working...")."""
    leader, follower = pty.openpty()
    argv = ["install", "-p", world["env"], "--override-channels", "-c", world["chan"], "lonely"]
    with subprocess.Popen(
        [sys.executable, "-m", "ophis", *argv],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env={**world["user"], "TERM": "xterm"},
    ) as process:
        os.close(follower)
        screen = _read_all(leader)
    assert process.returncode == 0
    lines = screen.replace("\r\n", "\n").splitlines()
    assert "Collecting package metadata (repodata.json): done" in lines
    assert "Solving environment: done" in lines
    assert "# All requested packages already installed." in lines


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


def test_info_is_conda_report_with_aligned_keys(world: dict[str, Any]) -> None:
    result = ophis(world["user"], "info")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("\n") and result.stdout.endswith("\n\n")
    keys = [line.split(" : ", 1)[0] for line in result.stdout.splitlines() if " : " in line]
    assert all(len(key) == 23 for key in keys)  # right-aligned on the longest label
    labels = [key.strip() for key in keys]
    conda_order = [
        "active environment", "user config file", "populated config files", "conda version",
        "conda-build version", "python version", "solver", "virtual packages",
        "base environment", "conda av data dir", "conda av metadata url", "channel URLs",
        "package cache", "notices cache", "envs directories", "temporary directory",
        "platform", "user-agent", "UID:GID", "netrc file", "offline mode",
    ]  # fmt: skip
    assert [label for label in labels if label != "ophis version"] == conda_order
    assert labels.index("ophis version") == labels.index("conda version") + 1
    assert f"               platform : {world['subdir']}" in result.stdout.splitlines()


# --- the rules, without a process ---------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (42, "42 B"),
        (1023, "1023 B"),
        (1042, "1 KB"),
        (10004242, "9.5 MB"),
        (100000004242, "93.13 GB"),
    ],
)
def test_human_bytes_as_conda(size: int, shown: str) -> None:
    assert human_bytes(size) == shown


def _record(version: str, build: str = "0", channel: str = "chan", number: int = 0) -> Shown:
    return Shown("pkg", version, build, number, "noarch", channel, channel, 1)


@pytest.mark.parametrize(
    ("old", "new", "section"),
    [
        (_record("1.0"), _record("2.0"), "updated"),
        (_record("1.0", "0", number=0), _record("1.0", "1", number=1), "updated"),
        (_record("2.0"), _record("1.0"), "downgraded"),
        (_record("1.0", "a"), _record("1.0", "b"), "revised"),
        (_record("2.0"), _record("1.0", channel="other"), "superseded"),
        (_record("1.0"), _record("1.0"), None),  # relinked unchanged: not shown
    ],
    ids=["version-up", "build-number-up", "version-down", "build-only", "channel", "same"],
)
def test_change_classes(old: Shown, new: Shown, section: str | None) -> None:
    report = change_report([new], [old])
    sections = {"updated", "downgraded", "revised", "superseded"}
    found = [s for s in sections if getattr(report, s)]
    assert found == ([section] if section else [])
    assert not report.new and not report.removed


def test_remove_all_unlinks_then_asks_before_deleting_the_folder(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """conda's ``remove --all``: a line naming the environment, the plan without a solve or
    specs, the transaction, then one more question (default no) before the folder and its
    line in ``environments.txt`` go."""
    target = tmp_path / "doomed"
    channel = ("--override-channels", "-c", world["chan"])
    made = ophis(world["user"], "create", "-p", str(target), *channel, "up=1.0", "-y", "--json")
    assert made.returncode == 0, made.stderr
    registry = Path(world["user"]["HOME"]) / ".conda" / "environments.txt"
    assert str(target) in registry.read_text().splitlines()

    kept = ophis(world["user"], "remove", "-p", str(target), "--all", answers="y\nn\n")
    assert kept.returncode == 0, kept.stderr
    assert_lines_in_order(
        kept.stdout,
        [
            f"Remove all packages in environment {target}:",
            "## Package Plan ##",
            "The following packages will be REMOVED:",
            "  up-1.0-0",
            *TRANSACTION,
        ],
    )
    for absent in ("Solving environment", "Collecting package metadata", "removed specs"):
        assert absent not in kept.stdout
    assert kept.stdout.rstrip().endswith("Do you wish to continue?\n (y/[n])?")
    assert "CondaSystemExit: Exiting." in kept.stderr
    assert (target / "conda-meta").is_dir()  # declined: the emptied environment stays

    gone = ophis(world["user"], "remove", "-p", str(target), "--all", "-y")
    assert gone.returncode == 0, gone.stderr
    assert not target.exists()
    assert str(target) not in registry.read_text().splitlines()


def test_remove_all_refuses_the_base_and_the_active_environment(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """``remove --all`` and ``env remove`` never delete the base environment, nor the one
    the shell has active; both stay as they were."""
    target = tmp_path / "active"
    channel = ("--override-channels", "-c", world["chan"])
    made = ophis(world["user"], "create", "-p", str(target), *channel, "up=1.0", "-y", "--json")
    assert made.returncode == 0, made.stderr
    active = {**world["user"], "CONDA_PREFIX": str(target)}
    for argv in (("remove", "--all"), ("env", "remove")):
        refused = ophis(active, *argv, "-p", str(target), "-y", "--json")
        assert refused.returncode == 1
        assert "current environment" in json.loads(refused.stdout)["message"]
        assert (target / "conda-meta" / "history").is_file()
    base = Path(world["root"])
    ophis(world["user"], "create", "-p", str(base), *channel, "up=1.0", "-y", "--json")
    refused = ophis(world["user"], "env", "remove", "-n", "base", "-y", "--json")
    assert refused.returncode == 1, refused.stdout
    assert (base / "conda-meta").is_dir()
