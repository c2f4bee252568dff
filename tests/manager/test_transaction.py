"""Real installs into temporary prefixes with ophis.manager.transaction."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rattler

from ophis.core.errors import LinkScriptError, TransactionError
from ophis.manager.history import read_history, requested_specs
from ophis.manager.prefix import PrefixData
from ophis.manager.transaction import JOURNAL, conda_link_order, execute, recover

PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"


def snapshot(prefix: Path) -> dict[str, bytes]:
    """Every file under the prefix (symlinks as their target) — what a user would see."""
    found = {}
    for path in sorted(prefix.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(prefix))] = os.readlink(path).encode()
        elif path.is_file():
            found[str(path.relative_to(prefix))] = path.read_bytes()
    return found


#: files the link scripts of the test packages create (owned by no package, as in conda)
SCRIPT_OUTPUT = {"bin/file", "sleepy-ran.txt"}


def assert_consistent(prefix: Path) -> None:
    """conda-meta matches the disk: every recorded path exists, no stray package files."""
    records = PrefixData(prefix).records()
    recorded = {str(p) for r in records.values() for p in r.files}
    for path in recorded:
        assert os.path.lexists(prefix / path), f"{path} is recorded but missing"
    on_disk = {p for p in snapshot(prefix) if not p.startswith("conda-meta/")} - SCRIPT_OUTPUT
    assert on_disk <= recorded, f"files no record owns: {sorted(on_disk - recorded)}"
    assert not (prefix / JOURNAL).exists()
    assert not (prefix / "__clobbers__").exists()
    assert not (prefix / "CACHEDIR.TAG").exists()


def test_install_then_remove(tmp_path, solve, channel, plan_for):
    prefix, pkgs = tmp_path / "env", tmp_path / "pkgs"
    specs = ["d_post_link_package", "pre_link_messages_package"]
    plan = plan_for(prefix, solve(specs), update_specs=specs, cmd=("ophis", "install", *specs))
    # d depends on e: e is linked (and its post-link run) first
    assert [r.name.normalized for r in plan.link] == [
        "e_post_link_package",
        "pre_link_messages_package",
        "d_post_link_package",
    ]
    report = execute(plan, pkgs_dirs=[pkgs])

    assert set(PrefixData(prefix).records()) == {
        "d_post_link_package",
        "e_post_link_package",
        "pre_link_messages_package",
    }
    # e's post-link wrote bin/file; d's post-link (which returns 1 without it) passed
    assert (prefix / "bin" / "file").read_text() == "test\n"
    assert report.prelink_messages == [
        "File message-from-pkg.txt:\n\n  Lorem ipsum dolor sit amet, consectetur adipiscing elit,\n"
        "  sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.\n",
        "File message-from-pkg2.txt:\n\n  Spam spam spam,\n  SPAM!\n",
    ]
    uri = channel.as_uri()
    assert sorted(report.linked) == [
        f"{uri}/noarch::d_post_link_package-1.0.0-0",
        f"{uri}/noarch::e_post_link_package-1.0.0-0",
        f"{uri}/noarch::pre_link_messages_package-1.0.0-0",
    ]
    assert_consistent(prefix)
    text = (prefix / "conda-meta" / "history").read_text()
    assert text.splitlines()[1:3] == [
        "# cmd: ophis install d_post_link_package pre_link_messages_package",
        "# conda version: 26.7.1",
    ]
    assert text.rstrip().endswith(
        "# update specs: ['d_post_link_package', 'pre_link_messages_package']"
    )

    # remove pre_link_messages_package: a smaller final set
    final = [r for r in solve(["d_post_link_package"])]
    plan = plan_for(
        prefix, final, remove_specs=["pre_link_messages_package"], cmd=("ophis", "remove", "x")
    )
    report = execute(plan, pkgs_dirs=[pkgs])
    assert report.unlinked == [f"{uri}/noarch::pre_link_messages_package-1.0.0-0"]
    assert report.linked == []
    assert "pre_link_messages_package" not in PrefixData(prefix).records()
    assert_consistent(prefix)
    revisions = read_history(prefix)
    assert [r.number for r in revisions] == [0, 1]
    assert revisions[1].unlink == [f"{uri}/noarch::pre_link_messages_package-1.0.0-0"]
    assert revisions[1].link == []
    assert revisions[1].remove_specs == ["pre_link_messages_package"]
    assert requested_specs(prefix) == {"d_post_link_package": "d_post_link_package"}


def test_failing_post_link_rolls_back(tmp_path, solve, plan_for):
    prefix, pkgs = tmp_path / "env", tmp_path / "pkgs"
    execute(plan_for(prefix, solve(["b_post_link_package"])), pkgs_dirs=[pkgs])
    before = snapshot(prefix)

    plan = plan_for(prefix, solve(["b_post_link_package", "failing_post_link"]))
    with pytest.raises(LinkScriptError) as caught:
        execute(plan, pkgs_dirs=[pkgs])
    message = str(caught.value)
    assert "post-link script failed for package" in message
    assert "noarch::failing_post_link-1.0.0-0" in message
    assert "return code: 1" in message
    assert caught.value.exception_name == "LinkError"
    assert snapshot(prefix) == before
    assert_consistent(prefix)


def test_failing_post_link_in_new_env_leaves_nothing(tmp_path, solve, plan_for):
    prefix = tmp_path / "env"
    with pytest.raises(LinkScriptError):
        execute(plan_for(prefix, solve(["failing_post_link"])), pkgs_dirs=[tmp_path / "pkgs"])
    assert PrefixData(prefix).records() == {}
    assert not prefix.exists() or snapshot(prefix) == {}


def test_failed_download_leaves_the_environment_untouched(tmp_path, solve, plan_for, channel):
    prefix, pkgs = tmp_path / "env", tmp_path / "pkgs"
    execute(plan_for(prefix, solve(["clobber-a"])), pkgs_dirs=[pkgs])
    before = snapshot(prefix)
    # sleepy's record, as a channel folder that has lost its archive would list it
    moved = rattler.SparseRepoData(
        rattler.Channel((tmp_path / "gone").as_uri()),
        "noarch",
        channel / "noarch" / "repodata.json",
    )
    [sleepy] = moved.load_records(rattler.PackageName("sleepy"))
    with pytest.raises(TransactionError) as caught:
        execute(plan_for(prefix, [*solve(["clobber-a"]), sleepy]), pkgs_dirs=[pkgs])
    assert caught.value.message == (
        f"The package file {tmp_path / 'gone' / 'noarch' / 'sleepy-1.0-0.tar.bz2'} "
        f"({sleepy.url}) does not exist."
    )
    assert snapshot(prefix) == before


def test_link_scripts_can_be_skipped(tmp_path, solve, plan_for):
    prefix = tmp_path / "env"
    plan = plan_for(prefix, solve(["failing_post_link", "sleepy"]))
    execute(plan, pkgs_dirs=[tmp_path / "pkgs"], execute_link_scripts=False)
    assert set(PrefixData(prefix).records()) == {"failing_post_link", "sleepy"}
    assert not (prefix / "sleepy-ran.txt").exists()


def test_post_link_environment_and_messages(tmp_path, solve, plan_for):
    prefix = tmp_path / "env"
    report = execute(plan_for(prefix, solve(["sleepy"])), pkgs_dirs=[tmp_path / "pkgs"])
    assert (prefix / "sleepy-ran.txt").read_text() == f"ran in {prefix}\n"
    assert report.messages == ["sleepy says hello\n"]
    assert not (prefix / ".messages.txt").exists()


@pytest.mark.parametrize(
    ("order", "winner"),
    [(["clobber-a", "clobber-b"], "clobber-b"), (["clobber-b", "clobber-a"], "clobber-a")],
)
def test_clobber_last_linked_wins(tmp_path, solve, plan_for, order, winner):
    prefix = tmp_path / "env"
    plan = plan_for(prefix, solve(order), link_order=order)
    report = execute(plan, pkgs_dirs=[tmp_path / "pkgs"])
    assert (prefix / "bin" / "clobber-test-file").read_text() == f"{winner}\n"
    assert len(report.clobbered) == 1
    warning = report.clobbered[0]
    assert warning.startswith("This transaction has incompatible packages due to a shared path.")
    assert "noarch::clobber-a-1.0.0-0" in warning and "noarch::clobber-b-1.0.0-0" in warning
    assert warning.endswith("path: 'bin/clobber-test-file'")
    for record in PrefixData(prefix).records().values():
        assert [str(p) for p in record.files] == ["bin/clobber-test-file"]
    assert_consistent(prefix)


def test_clobber_three_packages_and_removal(tmp_path, solve, plan_for):
    """rattler's clobber-1/2/3 each ship clobber.txt and another-clobber.txt."""
    prefix, pkgs = tmp_path / "env", tmp_path / "pkgs"
    names = ["clobber-1", "clobber-2", "clobber-3"]
    report = execute(plan_for(prefix, solve(names), link_order=names), pkgs_dirs=[pkgs])
    assert (prefix / "clobber.txt").read_text() == "clobber-3\n"
    assert (prefix / "another-clobber.txt").read_text() == "clobber-3\n"
    assert len(report.clobbered) == 2
    assert_consistent(prefix)

    # remove the winner: the file of a package that stays must still be there
    execute(plan_for(prefix, solve(names[:2])), pkgs_dirs=[pkgs])
    assert (prefix / "clobber.txt").exists()
    assert_consistent(prefix)
    # and a later install on top still works with conda-style shared records
    execute(plan_for(prefix, solve([*names[:2], "sleepy"])), pkgs_dirs=[pkgs])
    assert_consistent(prefix)


def test_prefix_placeholder_replaced(tmp_path, solve, plan_for):
    prefix = tmp_path / "env"
    execute(plan_for(prefix, solve(["placeholder"])), pkgs_dirs=[tmp_path / "pkgs"])
    text = (prefix / "share" / "placeholder.txt").read_text()
    assert text == f"prefix={prefix}\nbin={prefix}/bin\n"
    assert PLACEHOLDER not in text


def test_recover_without_journal(tmp_path):
    assert recover(tmp_path) is False


def test_conda_link_order_by_level_then_name(solve):
    records = solve(["d_post_link_package", "c_post_link_package", "clobber-b"])
    names = [r.name.normalized for r in conda_link_order(records)]
    assert names == [
        "b_post_link_package",
        "clobber-b",
        "e_post_link_package",
        "c_post_link_package",
        "d_post_link_package",
    ]


_CHILD = """
import asyncio, json, sys
from pathlib import Path
import rattler
from ophis.manager.transaction import TransactionPlan, execute
args = json.loads(sys.argv[1])
channel = rattler.Channel(Path(args["channel"]).as_uri())
records = asyncio.run(rattler.solve([channel], args["specs"], platforms=["noarch"],
                                    timestamp_policy="allow-missing"))
by_name = {r.name.normalized: r for r in records}
plan = TransactionPlan(prefix=Path(args["prefix"]),
                       link=tuple(by_name[n] for n in args["link"]),
                       unlink=(), final=tuple(records))
execute(plan, pkgs_dirs=[Path(args["pkgs"])])
"""


def test_sigkill_midway_then_recover(tmp_path, solve, plan_for, channel):
    prefix, pkgs = tmp_path / "env", tmp_path / "pkgs"
    execute(plan_for(prefix, solve(["clobber-a"])), pkgs_dirs=[pkgs])
    before = snapshot(prefix)

    specs = ["clobber-a", "clobber-b", "placeholder", "sleepy"]
    plan = plan_for(prefix, solve(specs))
    marker = tmp_path / "sleeping"
    # rattler records do not pickle: the child solves the same specs and links the same order
    args = {
        "channel": str(channel),
        "specs": specs,
        "link": [r.name.normalized for r in plan.link],
        "prefix": str(prefix),
        "pkgs": str(pkgs),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps(args)],
        env={**os.environ, "OPHIS_TEST_SLEEP_MARKER": str(marker)},
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert child.poll() is None, "the install ended before its post-link script slept"
            assert time.monotonic() < deadline, "the post-link script never started"
            time.sleep(0.05)
        # all packages are linked, the post-link script is sleeping: kill -9
        assert (prefix / "share" / "sleepy.txt").exists()
        assert (prefix / JOURNAL).exists()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=10)

    assert recover(prefix) is True
    assert snapshot(prefix) == before
    assert set(PrefixData(prefix).records()) == {"clobber-a"}
    assert_consistent(prefix)
    assert recover(prefix) is False

    # the same install completes when run again
    report = execute(plan, pkgs_dirs=[pkgs])
    assert set(PrefixData(prefix).records()) == {"clobber-a", "clobber-b", "placeholder", "sleepy"}
    assert (prefix / "sleepy-ran.txt").exists()
    assert len(report.clobbered) == 1
    assert_consistent(prefix)
    assert len(read_history(prefix)) == 2
