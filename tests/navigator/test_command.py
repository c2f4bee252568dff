"""``ophis navigator`` as a command: it opens the user's browser ($BROWSER) on its one-time
link, and says what to do when its port is taken. No browser engine needed here."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from ophis.cli.main import build_app
from ophis.testing.cli import isolated_user


def test_it_opens_the_users_browser_on_its_one_time_link(tmp_path: Path) -> None:
    env = isolated_user(tmp_path)
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    env["BROWSER"] = f"{browser} %s"  # what webbrowser.open runs
    process = subprocess.Popen(
        [sys.executable, "-m", "ophis", "navigator", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        printed = json.loads(process.stdout.readline() if process.stdout else "")
        deadline = time.monotonic() + 10
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened.read_text().strip() == printed["url"]
        assert printed["url"].startswith(f"http://127.0.0.1:{printed['port']}/?token=")
        first = httpx.get(printed["url"], follow_redirects=False, timeout=10)
        assert first.status_code == 303 and "ophis_navigator" in first.cookies
        assert httpx.get(printed["url"], timeout=10).status_code == 403  # spent
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_taken_port_is_refused_with_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        args = ["navigator", "--port", port, "--no-browser", "--json"]
        result = CliRunner().invoke(build_app(args), args)
    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert f"127.0.0.1:{port}" in error["message"]
    assert "another --port" in error["remedy"]
