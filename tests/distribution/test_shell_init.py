"""``ophis shell init``, as a user runs it: the block goes into the shell's start-up file
between markers, writing it again changes nothing, ``--reverse`` gives back the file byte
for byte; a new interactive shell then has ``ophis activate`` without starting Ophis."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ophis.testing.cli import ok_json, ophis
from ophis.testing.prefixes import make_fake_env

OPHIS = Path(sys.executable).with_name("ophis")
#: a file without a final line break, with bytes that are not UTF-8
ORIGINAL = b"# my settings\nexport EDITOR=vi\n\xff\xfe odd bytes\nalias ll='ls -l'"


def _ophis_exe(user: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The ``ophis`` executable (not ``python -m ophis``): the block names it by path."""
    return subprocess.run(
        [str(OPHIS), *args], env=user, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("shell", "relative"),
    [
        ("bash", ".bashrc"),
        ("zsh", ".zshrc"),
        ("fish", ".config/fish/config.fish"),
        ("powershell", ".config/powershell/profile.ps1"),
    ],
)
def test_init_writes_once_and_reverse_restores_the_file_byte_for_byte(
    user: dict[str, str], shell: str, relative: str
) -> None:
    rc = Path(user["HOME"]) / relative
    rc.parent.mkdir(parents=True, exist_ok=True)
    rc.write_bytes(ORIGINAL)
    dry = ok_json(ophis(user, "shell", "init", shell, "--dry-run", "--json"))
    assert dry == {
        "shell": shell, "file": str(rc), "action": "added", "changed": True, "dry_run": True
    }  # fmt: skip
    assert rc.read_bytes() == ORIGINAL

    added = ok_json(_ophis_exe(user, "shell", "init", shell, "--json"))
    assert added["action"] == "added"
    text = rc.read_bytes()
    assert text.startswith(ORIGINAL + b"\n# >>> ophis initialize >>>\n")
    assert text.endswith(b"# <<< ophis initialize <<<\n")
    assert str(OPHIS).encode() in text
    assert b"shell hook" not in text  # static: nothing runs Ophis when the shell starts
    if shell in ("fish", "powershell"):  # they draw the prompt themselves
        assert b"CONDA_PROMPT_MODIFIER" in text

    again = ok_json(_ophis_exe(user, "shell", "init", shell, "--json"))
    assert again["action"] == "unchanged" and rc.read_bytes() == text
    # the user writes after the block: reversing keeps that too
    rc.write_bytes(text + b"export LATER=1\n")
    removed = ok_json(ophis(user, "shell", "init", shell, "--reverse", "--json"))
    assert removed["action"] == "removed"
    assert rc.read_bytes() == ORIGINAL + b"\nexport LATER=1\n"
    rc.write_bytes(ORIGINAL)
    _ophis_exe(user, "shell", "init", shell)
    ok_json(ophis(user, "shell", "init", shell, "--reverse", "--json"))
    assert rc.read_bytes() == ORIGINAL
    nothing = ok_json(ophis(user, "shell", "init", shell, "--reverse", "--json"))
    assert nothing["action"] == "unchanged"


def test_init_defaults_to_the_login_shell_and_creates_the_file(user: dict[str, str]) -> None:
    done = ophis({**user, "SHELL": "/usr/bin/zsh"}, "shell", "init")
    assert done.returncode == 0, done.stderr
    zshrc = Path(user["HOME"]) / ".zshrc"
    assert f"Added Ophis's block in {zshrc}" in done.stdout
    assert zshrc.read_text().startswith("\n# >>> ophis initialize >>>\n")


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_new_interactive_shell_activates_with_the_block(
    tmp_path: Path, user: dict[str, str], shell: str
) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    env = make_fake_env(Path(user["OPHIS_ROOT_PREFIX"]) / "envs" / "demo")
    ok_json(_ophis_exe(user, "shell", "init", shell, "--json"))
    script = "ophis activate demo && echo $CONDA_PREFIX && type ophis | head -1"
    done = subprocess.run(
        [shell, "-i", "-c", script], env=user, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == str(env)
    assert "function" in lines[1]


def test_an_unknown_shell_is_refused(user: dict[str, str]) -> None:
    done = ophis(user, "shell", "init", "tcsh")
    assert done.returncode != 0
    assert "tcsh" in done.stderr


@pytest.fixture
def user(tmp_path: Path) -> dict[str, str]:
    from ophis.testing.cli import isolated_user

    env = isolated_user(tmp_path)
    env.update(PATH="/usr/bin:/bin", SHELL="/bin/bash")
    return env


def test_json_of_a_refused_write(tmp_path: Path, user: dict[str, str]) -> None:
    rc = Path(user["HOME"]) / ".bashrc"
    rc.mkdir()  # a folder where the file should be
    done = ophis(user, "shell", "init", "bash", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["exception_name"] == "ShellInitError"
