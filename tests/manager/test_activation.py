"""Activation as conda's activator computes it, checked against a simulated shell."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ophis.core.errors import EnvironmentLocationNotFound
from ophis.manager.activation import (
    SHELLS,
    Activator,
    Changes,
    EnvironmentNameNotFound,
    finalize,
    hook,
    render,
    run_script,
)
from ophis.manager.config import Config, load_config
from ophis.manager.env_vars import (
    EnvironmentStateError,
    environment_env_vars,
    read_env_vars,
    write_env_vars,
)
from ophis.testing.prefixes import make_fake_env

BASH = SHELLS["bash"]


def config_for(tmp_path: Path, **settings: object) -> Config:
    env = {"HOME": str(tmp_path / "home"), "OPHIS_ROOT_PREFIX": str(tmp_path / "root")}
    return load_config(env, search_path=[], overrides=settings)


def apply(environ: dict[str, str], changes: Changes) -> dict[str, str]:
    """What a shell's variables become after evaluating ``changes`` (scripts not run)."""
    after = dict(environ)
    for name in changes.unset_vars:
        after.pop(name, None)
    after.update(changes.set_vars)
    after.update(changes.export_vars)
    if changes.path is not None:
        after["PATH"] = os.pathsep.join(changes.path)
    return after


@pytest.fixture
def envs(tmp_path: Path) -> dict[str, Path]:
    envs_dir = tmp_path / "root" / "envs"
    return {
        "a": make_fake_env(envs_dir / "a", {"MYV": "it's a", "SHARED": "a"}, hook_var="A_HOOK"),
        "b": make_fake_env(envs_dir / "b", {"SHARED": "b"}),
    }


SHELL_START = {"PATH": "/usr/bin:/bin", "PS1": "$ "}


def test_env_vars_are_stored_as_conda_stores_them(tmp_path: Path) -> None:
    prefix = make_fake_env(tmp_path / "env")
    state = prefix / "conda-meta" / "state"
    state.write_text(json.dumps({"other": 1, "env_vars": {"OLD": "x"}}))
    write_env_vars(prefix, {"A": "1", "B": "two words"})
    assert json.loads(state.read_text()) == {"other": 1, "env_vars": {"A": "1", "B": "two words"}}
    assert read_env_vars(prefix) == {"A": "1", "B": "two words"}
    assert read_env_vars(tmp_path / "nowhere") == {}
    with pytest.raises(EnvironmentLocationNotFound, match="nowhere"):
        write_env_vars(tmp_path / "nowhere", {"A": "1"})


def test_a_corrupt_state_file_is_named(tmp_path: Path) -> None:
    prefix = make_fake_env(tmp_path / "env")
    (prefix / "conda-meta" / "state").write_text("{not json")
    with pytest.raises(EnvironmentStateError, match="conda-meta/state"):
        read_env_vars(prefix)


def test_package_variables_give_way_to_the_environments(tmp_path: Path) -> None:
    prefix = make_fake_env(tmp_path / "env", {"X": "env", "GONE": "***unset***"})
    package_dir = prefix / "etc" / "conda" / "env_vars.d"
    package_dir.mkdir(parents=True)
    (package_dir / "pkg.json").write_text(json.dumps({"X": "pkg", "Y": "pkg"}))
    merged, warnings = environment_env_vars(prefix)
    assert merged == {"X": "env", "Y": "pkg", "GONE": "***unset***"}
    assert "variable X duplicated" in warnings[0]
    changes = Activator(config_for(tmp_path), SHELL_START, BASH).activate(str(prefix))
    assert "GONE" not in changes.export_vars
    assert changes.export_vars["Y"] == "pkg"


def test_first_activation(tmp_path: Path, envs: dict[str, Path]) -> None:
    changes = Activator(config_for(tmp_path), SHELL_START, BASH).activate("a")
    shell = apply(SHELL_START, changes)
    a = str(envs["a"])
    assert shell["PATH"] == f"{a}/bin:/usr/bin:/bin"
    assert shell["CONDA_PREFIX"] == a
    assert shell["CONDA_SHLVL"] == "1"
    assert shell["CONDA_DEFAULT_ENV"] == "a"
    assert shell["CONDA_PROMPT_MODIFIER"] == "(a) "
    assert shell["PS1"] == "(a) $ "
    assert shell["MYV"] == "it's a"
    assert changes.activate_scripts == (f"{a}/etc/conda/activate.d/x.sh",)
    assert changes.deactivate_scripts == ()
    script = render(changes, BASH)
    assert "export MYV='it'\"'\"'s a'\n" in script
    assert script.endswith(f". '{a}/etc/conda/activate.d/x.sh'\n")


def test_activate_b_over_a_then_deactivate_back_to_a(tmp_path: Path, envs: dict[str, Path]) -> None:
    config = config_for(tmp_path)
    a, b = str(envs["a"]), str(envs["b"])
    start = {**SHELL_START, "PATH": "/opt/x:/usr/bin"}
    in_a = apply(start, Activator(config, start, BASH).activate("a"))

    over = Activator(config, in_a, BASH).activate(b)
    in_b = apply(in_a, over)
    assert in_b["PATH"] == f"{b}/bin:/opt/x:/usr/bin"  # a's bin replaced where it was
    assert (in_b["CONDA_PREFIX"], in_b["CONDA_PREFIX_1"], in_b["CONDA_SHLVL"]) == (b, a, "2")
    assert in_b["PS1"] == "(b) $ "
    assert over.deactivate_scripts == (f"{a}/etc/conda/deactivate.d/x.sh",)
    assert in_b["SHARED"] == "b" and in_b["__CONDA_SHLVL_1_SHARED"] == "a"
    assert in_b["MYV"] == "it's a"  # conda leaves the previous environment's variables

    back = Activator(config, in_b, BASH).deactivate()
    in_a_again = apply(in_b, back)
    assert in_a_again["PATH"] == f"{a}/bin:/opt/x:/usr/bin"
    assert (in_a_again["CONDA_PREFIX"], in_a_again["CONDA_SHLVL"]) == (a, "1")
    assert "CONDA_PREFIX_1" not in in_a_again
    assert in_a_again["SHARED"] == "a" and in_a_again["PS1"] == "(a) $ "
    assert back.activate_scripts == (f"{a}/etc/conda/activate.d/x.sh",)
    assert back.path_first and render(back, BASH).startswith("export PATH=")

    out = apply(in_a_again, Activator(config, in_a_again, BASH).deactivate())
    assert out["PATH"] == "/opt/x:/usr/bin" and out["CONDA_SHLVL"] == "0" and out["PS1"] == "$ "
    for gone in ("CONDA_PREFIX", "CONDA_DEFAULT_ENV", "CONDA_PROMPT_MODIFIER", "MYV"):
        assert gone not in out
    assert render(Activator(config, out, BASH).deactivate(), BASH) == ""


def test_stacking_keeps_both_bins(tmp_path: Path, envs: dict[str, Path]) -> None:
    config = config_for(tmp_path, env_prompt="({stacked_env}) ")
    a, b = str(envs["a"]), str(envs["b"])
    in_a = apply(SHELL_START, Activator(config, SHELL_START, BASH).activate("a"))
    stacked = Activator(config, in_a, BASH).activate("b", stack=True)
    in_ab = apply(in_a, stacked)
    assert in_ab["PATH"] == f"{b}/bin:{a}/bin:/usr/bin:/bin"
    assert in_ab["CONDA_STACKED_2"] == "true"
    assert in_ab["CONDA_PROMPT_MODIFIER"] == "(b,a) "
    assert stacked.deactivate_scripts == ()  # a stays active underneath

    back = apply(in_ab, Activator(config, in_ab, BASH).deactivate())
    assert back["PATH"] == f"{a}/bin:/usr/bin:/bin"
    assert "CONDA_STACKED_2" not in back and back["CONDA_PROMPT_MODIFIER"] == "(a) "


def test_auto_stack_stacks_up_to_its_depth(tmp_path: Path, envs: dict[str, Path]) -> None:
    config = config_for(tmp_path, auto_stack=1)
    in_a = apply(SHELL_START, Activator(config, SHELL_START, BASH).activate("a"))
    assert "CONDA_STACKED_2" in Activator(config, in_a, BASH).activate("b").export_vars


def test_an_overwritten_variable_comes_back(tmp_path: Path, envs: dict[str, Path]) -> None:
    config = config_for(tmp_path)
    start = {**SHELL_START, "MYV": "outer"}
    changes = Activator(config, start, BASH).activate("a")
    assert changes.warnings == (
        "WARNING: overwriting environment variables set in the machine",
        "overwriting variable ['MYV']",
    )
    in_a = apply(start, changes)
    assert in_a["MYV"] == "it's a" and in_a["__CONDA_SHLVL_0_MYV"] == "outer"
    assert apply(in_a, Activator(config, in_a, BASH).deactivate())["MYV"] == "outer"


def test_activating_the_active_environment_reactivates(
    tmp_path: Path, envs: dict[str, Path]
) -> None:
    config = config_for(tmp_path)
    in_a = apply(SHELL_START, Activator(config, SHELL_START, BASH).activate("a"))
    again = Activator(config, in_a, BASH).activate(str(envs["a"]))
    assert again.export_vars["CONDA_SHLVL"] == "1"
    assert again.deactivate_scripts and again.activate_scripts
    assert apply(in_a, again)["PATH"] == in_a["PATH"]


def test_names_and_paths_as_conda_shows_them(tmp_path: Path) -> None:
    elsewhere = make_fake_env(tmp_path / "projects" / "env")
    custom = make_fake_env(tmp_path / "my-envs" / "c")
    root = make_fake_env(tmp_path / "root")
    config = config_for(tmp_path, envs_dirs=[str(tmp_path / "my-envs")])
    activator = Activator(config, SHELL_START, BASH)
    assert activator.activate(str(elsewhere)).export_vars["CONDA_DEFAULT_ENV"] == str(elsewhere)
    assert activator.activate("c").export_vars["CONDA_DEFAULT_ENV"] == "c"
    assert activator.activate("base").export_vars["CONDA_PREFIX"] == str(root)
    assert activator.activate("base").export_vars["CONDA_DEFAULT_ENV"] == "base"
    assert activator.activate(str(custom)).export_vars["CONDA_PROMPT_MODIFIER"] == "(c) "


def test_what_is_not_an_environment_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root" / "envs" / "bare").mkdir(parents=True)  # no conda-meta
    activator = Activator(config_for(tmp_path), SHELL_START, BASH)
    with pytest.raises(EnvironmentNameNotFound, match="Could not find conda environment: bare"):
        activator.activate("bare")
    with pytest.raises(EnvironmentLocationNotFound, match=f"Not a conda environment: {tmp_path}"):
        activator.activate(str(tmp_path))


def test_changeps1_false_leaves_the_prompt_alone(tmp_path: Path, envs: dict[str, Path]) -> None:
    changes = Activator(config_for(tmp_path, changeps1=False), SHELL_START, BASH).activate("a")
    assert changes.set_vars == {}
    assert changes.export_vars["CONDA_PROMPT_MODIFIER"] == ""


def test_each_shell_gets_its_own_syntax(tmp_path: Path, envs: dict[str, Path]) -> None:
    config = config_for(tmp_path)
    a = str(envs["a"])

    def script(shell: str) -> str:
        return render(Activator(config, SHELL_START, SHELLS[shell]).activate("a"), SHELLS[shell])

    fish = script("fish")
    assert f"set -gx PATH '{a}/bin' '/usr/bin' '/bin';\n" in fish
    assert "set -gx MYV 'it\\'s a';\n" in fish and "PS1" not in fish
    assert fish.endswith(f"source '{a}/etc/conda/activate.d/x.fish';\n")
    powershell = script("powershell")
    assert "$Env:MYV = 'it''s a'\n" in powershell and "$Env:CONDA_SHLVL = '1'\n" in powershell
    cmd = script("cmd")
    assert '@SET "CONDA_DEFAULT_ENV=a"\n' in cmd
    printed = finalize(cmd, SHELLS["cmd"])
    written = Path(printed.strip())
    assert written.suffix == ".bat" and written.read_text() == cmd
    written.unlink()


def test_the_hook_calls_the_executable_by_its_path(tmp_path: Path) -> None:
    command = ["/opt/my ophis/bin/ophis"]
    bash = hook(BASH, command, config_for(tmp_path))
    assert "'/opt/my ophis/bin/ophis' \"$@\"" in bash
    assert "--shell bash" in bash and "ophis activate\n" not in bash  # no base to activate
    make_fake_env(tmp_path / "root")
    assert hook(BASH, command, config_for(tmp_path)).endswith("ophis activate\n")
    assert not hook(BASH, command, config_for(tmp_path, auto_activate=False)).endswith(
        "ophis activate\n"
    )
    assert "fish_prompt" in hook(SHELLS["fish"], command, config_for(tmp_path))
    quiet = hook(SHELLS["fish"], command, config_for(tmp_path, changeps1=False))
    assert "fish_prompt" not in quiet


def test_the_run_wrapper_activates_runs_and_deactivates(
    tmp_path: Path, envs: dict[str, Path]
) -> None:
    a = str(envs["a"])
    activator = Activator(config_for(tmp_path), SHELL_START, SHELLS["posix"])
    script = run_script(activator, a, ["python", "-c", "print('hi there')"], ["/bin/ophis"])
    lines = script.splitlines()
    assert lines[0] == "set -e"
    assert f"export CONDA_PREFIX='{a}'" in lines
    assert lines[-4:] == [
        "python -c 'print('\"'\"'hi there'\"'\"')'",
        "_OPHIS_RC=$?",
        f". '{a}/etc/conda/deactivate.d/x.sh'",
        "exit $_OPHIS_RC",
    ]
