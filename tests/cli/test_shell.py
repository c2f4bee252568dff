"""``ophis shell hook``, ``ophis activate|deactivate`` and ``ophis run``, driven through real
shells (bash, zsh, fish) the way a user's interactive shell runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ophis.testing.prefixes import make_fake_env

#: the executable, by path: the shells' PATH does not contain the venv
OPHIS = Path(sys.executable).with_name("ophis")
HOOK = {
    "bash": f'eval "$({OPHIS} shell hook --shell bash)"',
    "zsh": f'eval "$({OPHIS} shell hook --shell zsh)"',
    "fish": f"{OPHIS} shell hook --shell fish | source",
}
INVOKE = {
    "bash": ["bash", "--norc", "-c"],
    "zsh": ["zsh", "-f", "-c"],
    "fish": ["fish", "-N", "-c"],
}
#: what a test looks at after each step, "|"-separated
SHOW = 'echo "$CONDA_PREFIX|$CONDA_SHLVL|$CONDA_DEFAULT_ENV|$A_HOOK|$MYV|$PATH"'


@pytest.fixture
def user(tmp_path: Path) -> dict[str, str]:
    """An isolated user: own HOME, .condarc and root prefix; no CONDA_*/OPHIS_* inherited."""
    (tmp_path / "home").mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "OPHIS", "MAMBA", "_CE_"))
    }
    env.update(
        HOME=str(tmp_path / "home"),
        CONDARC=str(tmp_path / "home" / ".condarc"),
        OPHIS_ROOT_PREFIX=str(tmp_path / "root"),
        PATH="/usr/bin:/bin",
    )
    env.pop("PS1", None)
    return env


@pytest.fixture
def envs(tmp_path: Path) -> dict[str, Path]:
    envs_dir = tmp_path / "root" / "envs"
    return {
        "a": make_fake_env(envs_dir / "a", {"MYV": "it's a"}, hook_var="A_HOOK"),
        "b": make_fake_env(envs_dir / "b"),
    }


def starting_path(user: dict[str, str]) -> str:
    """PATH after the hook, as conda's: the root's condabin first."""
    return f"{user['OPHIS_ROOT_PREFIX']}/condabin:{user['PATH']}"


def in_shell(shell: str, user: dict[str, str], *lines: str) -> list[str]:
    """Run ``lines`` after the hook in a fresh ``shell``; its output lines."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (Debian package: {shell})")
    script = "\n".join([HOOK[shell], *lines])
    result = subprocess.run(
        [*INVOKE[shell], script], env=user, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def test_activate_nested_stacked_and_deactivate_in_bash(
    user: dict[str, str], envs: dict[str, Path]
) -> None:
    a, b = envs["a"], envs["b"]
    start = starting_path(user)
    out = in_shell(
        "bash",
        user,
        "PS1='$ '",
        "ophis activate a",
        SHOW,
        'echo "$PS1"',
        "ophis activate nope 2>/dev/null || echo failed=$?",
        SHOW,
        f"ophis activate {b}",
        SHOW,
        "ophis deactivate",
        SHOW,
        "ophis activate --stack b",
        SHOW,
        'echo "$PS1"',
        "ophis deactivate; ophis deactivate",
        SHOW,
        'echo "$PS1"',
    )
    in_a = f"{a}|1|a|from-a|it's a|{a}/bin:{start}"
    assert out == [
        in_a,
        "(a) $ ",
        "failed=1",
        in_a,  # the failed activation changed nothing
        f"{b}|2|b||it's a|{b}/bin:{start}",  # a's deactivate.d ran; a's variables stay
        in_a,
        f"{b}|2|b|from-a|it's a|{b}/bin:{a}/bin:{start}",
        "(b) $ ",
        f"|0||||{start}",
        "$ ",
    ]


def test_zsh(user: dict[str, str], envs: dict[str, Path]) -> None:
    a = envs["a"]
    start = starting_path(user)
    out = in_shell(
        "zsh", user, "PS1='%# '", "ophis activate a", SHOW, 'echo "$PS1"', "ophis deactivate", SHOW
    )
    assert out == [
        f"{a}|1|a|from-a|it's a|{a}/bin:{start}",
        "(a) %# ",
        f"|0||||{start}",
    ]


def test_fish(user: dict[str, str], envs: dict[str, Path]) -> None:
    a, b = envs["a"], envs["b"]
    start = starting_path(user)
    out = in_shell(
        "fish",
        user,
        "ophis activate a",
        SHOW,
        "fish_prompt; echo",
        "ophis activate --stack b",
        SHOW,
        "ophis deactivate",
        SHOW,
        "ophis deactivate",
        SHOW,
    )
    assert out.pop(1).startswith("(a) ")  # the prompt
    assert out == [
        f"{a}|1|a|from-a|it's a|{a}/bin:{start}",
        f"{b}|2|b|from-a|it's a|{b}/bin:{a}/bin:{start}",
        f"{a}|1|a|from-a|it's a|{a}/bin:{start}",
        f"|0||||{start}",
    ]


def ophis(user: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPHIS, *args], env=user, capture_output=True, text=True, timeout=60)


def test_a_missing_environment_gets_condas_message(user: dict[str, str], tmp_path: Path) -> None:
    named = ophis(user, "shell", "activate", "nope", "--shell", "bash")
    assert (named.returncode, named.stdout) == (1, "")
    assert "Could not find conda environment: nope" in named.stderr
    located = ophis(user, "run", "-p", str(tmp_path), "true")
    assert located.returncode == 1
    assert f"Not a conda environment: {tmp_path}" in located.stderr


def test_activate_without_the_hook_says_how_to_set_it_up(user: dict[str, str]) -> None:
    result = ophis({**user, "SHELL": "/bin/zsh"}, "activate", "a")
    assert result.returncode == 1
    assert "has not been properly configured to use 'ophis activate'" in result.stderr
    assert 'eval "$(ophis shell hook --shell zsh)"' in result.stderr


def test_run_passes_the_environment_and_the_exit_status(
    user: dict[str, str], envs: dict[str, Path], tmp_path: Path
) -> None:
    a = envs["a"]
    probe = 'echo "$CONDA_PREFIX|$CONDA_DEFAULT_ENV|$A_HOOK|$MYV|$PWD|${PATH%%:*}"; exit 7'
    result = ophis(user, "run", "-n", "a", "--cwd", str(tmp_path), "sh", "-c", probe)
    assert result.returncode == 7
    assert result.stdout == f"{a}|a|from-a|it's a|{tmp_path}|{a}/bin\n"
    assert "`ophis run sh -c" in result.stderr and "failed" in result.stderr

    python = "import os; print(os.environ['CONDA_PREFIX'])"
    streamed = ophis(user, "run", "-p", str(a), "--live-stream", sys.executable, "-c", python)
    assert (streamed.returncode, streamed.stdout) == (0, f"{a}\n")


def test_condas_hook_spelling_exports_condas_variables(user: dict[str, str]) -> None:
    """``eval "$(conda shell.bash hook)"`` habits: the same spelling, the same variables, and
    a bare ``activate`` activates base."""
    root = user["OPHIS_ROOT_PREFIX"]
    script = "\n".join(
        [
            f'eval "$({OPHIS} shell.bash hook)"',
            'echo "$CONDA_EXE|$_CE_M|$_CE_CONDA|$CONDA_PYTHON_EXE|$_CONDA_ROOT|$CONDA_SHLVL"',
            'echo "$PATH"',
            '"$CONDA_EXE" $_CE_M $_CE_CONDA --version',
            "ophis activate",
            'echo "$CONDA_DEFAULT_ENV|$CONDA_PREFIX|$CONDA_SHLVL"',
        ]
    )
    result = subprocess.run(
        ["bash", "--norc", "-c", script], env=user, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    exports, *rest = result.stdout.splitlines()
    exe, ce_m, ce_conda, python, conda_root, shlvl = exports.split("|")
    assert (exe, ce_m, ce_conda, conda_root, shlvl) == (str(OPHIS), "", "", root, "0")
    assert Path(python).resolve() == Path(sys.executable).resolve()
    assert rest == [
        starting_path(user),
        f"ophis {ophis_version()}",
        f"base|{root}|1",
    ]


def ophis_version() -> str:
    from ophis import __version__

    return __version__


def test_init_sets_up_several_shells_as_condas_init(user: dict[str, str]) -> None:
    result = ophis(user, "init", "bash", "zsh", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    changes = json.loads(result.stdout)["changes"]
    home = Path(user["HOME"])
    assert [Path(c["file"]) for c in changes] == [home / ".bashrc", home / ".zshrc"]
    assert all(c["dry_run"] for c in changes)
    assert not (home / ".bashrc").exists()  # a dry run writes nothing

    done = ophis(user, "init", "--all")
    assert done.returncode == 0, done.stderr
    assert "# >>> ophis initialize >>>" in (home / ".bashrc").read_text()
    assert (home / ".config" / "fish" / "config.fish").exists()


def test_variable_names_that_are_shell_code_never_run(
    user: dict[str, str], envs: dict[str, Path], tmp_path: Path
) -> None:
    """A package's ``env_vars.d`` file names its variables; a name is written into shell code
    unquoted, so a name that is code is skipped with a warning and the rest still apply."""
    planted = tmp_path / "pwned"
    package_vars = envs["b"] / "etc" / "conda" / "env_vars.d"
    package_vars.mkdir(parents=True)
    hostile = {f"X=1; touch {planted}; Y": "v", f"$(touch {planted})": "v", "GOOD": "yes"}
    (package_vars / "pkg.json").write_text(json.dumps(hostile))
    out = in_shell("bash", user, "ophis activate b 2>&1", 'echo "good=$GOOD"')
    assert not planted.exists()
    assert "good=yes" in out
    assert any("skipping invalid environment variable name" in line for line in out)


def test_config_vars_set_refuses_a_name_that_is_not_a_variable(
    user: dict[str, str], envs: dict[str, Path]
) -> None:
    refused = ophis(user, "env", "config", "vars", "set", "A;id=1", "-n", "b", "--json")
    assert refused.returncode == 1
    assert "Invalid environment variable name(s): 'A;id'" in json.loads(refused.stdout)["message"]
    assert (
        not (envs["b"] / "conda-meta" / "state").exists()
        or "A;id" not in (envs["b"] / "conda-meta" / "state").read_text()
    )


def test_an_environment_file_naming_a_variable_that_is_code_is_refused(
    user: dict[str, str], tmp_path: Path
) -> None:
    spec = tmp_path / "environment.yml"
    spec.write_text("name: shared\ndependencies: []\nvariables:\n  'A=1; id; B': x\n")
    refused = ophis(user, "env", "create", "-f", str(spec), "--json")
    assert refused.returncode == 1
    message = json.loads(refused.stdout)["message"]
    assert "line 3: invalid variable name(s) 'A=1; id; B'" in message
    assert not (tmp_path / "root" / "envs" / "shared").exists()
