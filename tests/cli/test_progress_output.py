"""The progress bars the install path draws on stderr."""

from __future__ import annotations

import io
import re

from rich.console import Console

from ophis.cli import output


def test_download_stage_is_drawn_in_bytes_and_other_stages_in_items(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(output, "stderr", Console(file=screen, force_terminal=True, width=120))
    with output.progress_bar("Installing", enabled=True, bytes_stage="download") as progress:
        progress("download", 1_500_000, 3_000_000)
        progress("link", 1, 2)
        with progress.paused():  # a prompt takes the bars off the screen, then they return
            pass
        progress("link", 2, 2)
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert re.search(r"Downloading .* 1\.5/3\.0 MB", drawn)
    assert re.search(r"Installing .* 2/2 .* link", drawn)


def test_nothing_is_drawn_when_disabled(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(output, "stderr", Console(file=screen, force_terminal=True))
    with output.progress_bar("Installing", enabled=False) as progress:
        progress("download", 10, 20)
        with progress.paused():
            pass
    assert screen.getvalue() == ""
