"""Changes are carried out one at a time per environment: a second change to the same
environment waits for the first, and runs only if what the user confirmed still fits the
environment; with the real manager and a local channel (no browser)."""

from __future__ import annotations

import time
from pathlib import Path

from ophis.manager.config import load_config
from ophis.navigator import services
from ophis.navigator.jobs import Workspace
from ophis.testing.cli import isolated_user


def test_a_second_change_to_an_environment_waits_for_the_first(
    channel: Path, tmp_path: Path
) -> None:
    env = isolated_user(tmp_path)
    Path(env["CONDARC"]).write_text(f"channels:\n  - {channel.as_uri()}\n")
    config = load_config(env)
    workspace = Workspace()
    create = workspace.start(
        workspace.keep(services.plan_create("lab", "none", "", "libcore", config, env)).id
    )
    assert create is not None and create.ended.wait(30) and create.state == "done"
    prefix = create.change.request.prefix

    # slowpkg's post-link script takes two seconds: long enough to see the other one wait
    slow = services.plan_packages(prefix, "install", ["slowpkg"], config, env)
    other = services.plan_packages(prefix, "install", ["plotting"], config, env)
    first = workspace.start(workspace.keep(slow).id)
    deadline = time.monotonic() + 10
    while first.state != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    second = workspace.start(workspace.keep(other).id)
    time.sleep(0.5)
    assert first.state == "running" and second.state == "waiting"
    assert workspace.busy(prefix)
    assert second.ended.wait(30) and first.finished
    assert (first.state, second.state) == ("done", "done")
    names = {p.name.rsplit("-", 2)[0] for p in (prefix / "conda-meta").glob("*.json")}
    assert {"slowpkg", "plotting", "numeric", "libcore"} <= names
    assert workspace.start(slow.id) is None  # a plan is carried out once

    # two plans made on the same state: the second no longer fits once the first ran
    plans = [services.plan_packages(prefix, "remove", ["plotting"], config, env) for _ in "ab"]
    done = workspace.start(workspace.keep(plans[0]).id)
    assert done is not None and done.ended.wait(30) and done.state == "done"
    after_first = sorted((prefix / "conda-meta").glob("*.json"))
    stale = workspace.start(workspace.keep(plans[1]).id)
    assert stale is not None and stale.ended.wait(30) and stale.state == "failed"
    assert stale.error is not None and "changed while this change waited" in stale.error[0]
    assert "Plan it again" in stale.error[1]
    assert sorted((prefix / "conda-meta").glob("*.json")) == after_first
