"""Configuration read as conda reads it, and ``ophis config`` as a user runs it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ophis.cli.commands.config import register
from ophis.core.errors import CondaValueError, ConfigurationError
from ophis.core.platform import MachineFacts
from ophis.manager.config import default_search_path, load_config

LINUX = MachineFacts(sys_platform="linux", machine="x86_64")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def load(env: dict[str, str], files: list[Path] | None = None, **kwargs):
    return load_config(env, files if files is not None else [], machine=LINUX, **kwargs)


# --- precedence and merging -------------------------------------------------------------------


def test_later_file_beats_earlier_and_env_beats_files_and_overrides_beat_env(tmp_path, home):
    first = write(tmp_path / "a" / ".condarc", "channel_priority: disabled\noffline: false\n")
    second = write(tmp_path / "b" / ".condarc", "channel_priority: strict\n")
    env = {"HOME": str(home)}
    assert load(env, [first, second]).channel_priority == "strict"
    env["CONDA_CHANNEL_PRIORITY"] = "flexible"
    config = load(env, [first, second])
    assert config.channel_priority == "flexible"
    assert config.sources["channel_priority"] == (str(first), str(second), "envvars")
    config = load(env, [first, second], overrides={"channel_priority": "strict", "offline": True})
    assert (config.channel_priority, config.offline) == ("strict", True)


def test_channels_merge_later_sources_first_and_cli_channels_lead(tmp_path, home):
    system = write(tmp_path / "sys" / ".condarc", "channels:\n  - defaults\n  - bioconda\n")
    user = write(tmp_path / "user" / ".condarc", "channels:\n  - conda-forge\n  - defaults\n")
    env = {"HOME": str(home), "CONDA_CHANNELS": "pytorch, nvidia"}
    config = load(env, [system, user], overrides={"channels": ["mine"]})
    assert config.channels == (
        "mine", "pytorch", "nvidia", "conda-forge", "defaults", "bioconda",
    )  # fmt: skip


def test_no_channels_configured_means_none(home):
    # conda >= 25.9 no longer adds 'defaults' implicitly
    assert load({"HOME": str(home)}).channels == ()


def test_override_channels_uses_only_command_line_channels(tmp_path, home):
    rc = write(tmp_path / ".condarc", "channels: [conda-forge]\n")
    env = {"HOME": str(home)}
    config = load(env, [rc], overrides={"channels": ["mine"]}, override_channels=True)
    assert config.channels == ("mine",)
    with pytest.raises(CondaValueError, match="At least one -c"):
        load(env, [rc], override_channels=True)


def test_final_marker_stops_later_files(tmp_path, home):
    admin = write(
        tmp_path / "etc" / ".condarc",
        "channels: #!final\n  - internal\nchannel_priority: strict #!final\n",
    )
    user = write(tmp_path / "user" / ".condarc", "channels: [conda-forge]\n"
                 "channel_priority: disabled\n")  # fmt: skip
    env = {"HOME": str(home), "CONDA_CHANNEL_PRIORITY": "flexible"}
    config = load(env, [admin, user])
    assert config.channels == ("internal",)
    assert config.channel_priority == "strict"


def test_top_and_bottom_markers_pin_list_items(tmp_path, home):
    first = write(tmp_path / "1" / ".condarc", "channels:\n  - pinned  #!top\n  - last  #!bottom\n")
    second = write(tmp_path / "2" / ".condarc", "channels:\n  - conda-forge\n")
    config = load({"HOME": str(home)}, [first, second])
    assert config.channels == ("pinned", "conda-forge", "last")


def test_condarc_variable_names_a_file_read_last(tmp_path, home):
    write(home / ".condarc", "channels: [from-home]\nalways_yes: false\n")
    custom = write(tmp_path / "project" / "condarc", "always_yes: true\n")
    env = {"HOME": str(home), "CONDARC": str(custom)}
    paths = default_search_path(env, root_prefix=tmp_path / "root")
    assert paths[-1] == custom
    config = load_config(env, machine=LINUX)
    assert config.always_yes is True
    assert config.channels == ("from-home",)
    assert str(custom) in config.source_values


def test_search_path_order_follows_conda(tmp_path, home):
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
           "CONDA_PREFIX": str(tmp_path / "env"), "CONDARC": str(tmp_path / "x.yml")}  # fmt: skip
    paths = [str(p) for p in default_search_path(env, root_prefix=tmp_path / "root")]
    expected_order = [
        str(tmp_path / "root" / ".condarc"),
        str(tmp_path / "xdg" / "conda" / "condarc.d"),
        str(home / ".config" / "conda" / ".condarc"),
        str(home / ".conda" / "condarc"),
        str(home / ".condarc"),
        str(tmp_path / "env" / "condarc.d"),
        str(tmp_path / "x.yml"),
    ]
    assert [p for p in paths if p in expected_order] == expected_order
    if os.name != "nt":
        assert paths[0] == "/etc/conda/.condarc"


def test_condarc_d_files_are_read_in_name_order(tmp_path, home):
    write(tmp_path / "condarc.d" / "b.yml", "channel_priority: strict\n")
    write(tmp_path / "condarc.d" / "a.yaml", "channel_priority: disabled\n")
    write(tmp_path / "condarc.d" / "ignored.txt", "channel_priority: nonsense\n")
    assert load({"HOME": str(home)}, [tmp_path / "condarc.d"]).channel_priority == "strict"


# --- environment variables --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("strict", "strict"), ("flexible", "flexible"), ("disabled", "disabled"),
     ("true", "flexible"), ("false", "disabled"), ("True", "flexible")],
)  # fmt: skip
def test_conda_channel_priority(home, value, expected):
    env = {"HOME": str(home), "CONDA_CHANNEL_PRIORITY": value}
    assert load(env).channel_priority == expected


def test_yaml_booleans_for_channel_priority(tmp_path, home):
    rc = write(tmp_path / ".condarc", "channel_priority: false\n")
    assert load({"HOME": str(home)}, [rc]).channel_priority == "disabled"


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("0", False), ("yes", True)])
def test_conda_add_pip_as_python_dependency(home, value, expected):
    env = {"HOME": str(home), "CONDA_ADD_PIP_AS_PYTHON_DEPENDENCY": value}
    assert load(env).add_pip_as_python_dependency is expected
    assert load({"HOME": str(home)}).add_pip_as_python_dependency is True


def test_conda_repodata_fns(home):
    assert load({"HOME": str(home)}).repodata_fns == ("current_repodata.json", "repodata.json")
    env = {"HOME": str(home), "CONDA_REPODATA_FNS": "repodata.json"}
    assert load(env).repodata_fns == ("repodata.json",)


def test_conda_pkgs_dirs_and_envs_path(tmp_path, home):
    root = tmp_path / "root"
    env = {"HOME": str(home), "OPHIS_ROOT_PREFIX": str(root)}
    config = load(env)
    assert config.root_prefix == root
    assert config.pkgs_dirs[0] == root / "pkgs"
    assert config.envs_dirs == (root / "envs", home / ".conda" / "envs")
    env["CONDA_PKGS_DIRS"] = f"{tmp_path / 'p1'},~/p2"
    env["CONDA_ENVS_PATH"] = os.pathsep.join([str(tmp_path / "e1"), "$HOME/e2"])
    config = load(env)
    assert config.pkgs_dirs == (tmp_path / "p1", home / "p2")
    assert config.envs_dirs[:2] == (tmp_path / "e1", home / "e2")
    assert config.envs_dirs[2:] == (root / "envs", home / ".conda" / "envs")


def test_root_prefix_falls_back_to_conda_root_prefix_then_home(tmp_path, home):
    assert load({"HOME": str(home)}).root_prefix == home / ".ophis"
    env = {"HOME": str(home), "CONDA_ROOT_PREFIX": str(tmp_path / "base")}
    assert load(env).root_prefix == tmp_path / "base"


def test_conda_subdir(home):
    assert load({"HOME": str(home)}).subdir == "linux-64"
    config = load({"HOME": str(home), "CONDA_SUBDIR": "osx-arm64"})
    assert (config.subdir, config.subdirs) == ("osx-arm64", ("osx-arm64", "noarch"))
    with pytest.raises(ConfigurationError, match="subdir 'nonsense'"):
        load({"HOME": str(home), "CONDA_SUBDIR": "nonsense"})


def test_aliased_keys_twice_in_one_source_is_an_error(tmp_path, home):
    env = {"HOME": str(home), "CONDA_ENVS_DIRS": "/a", "CONDA_ENVS_PATH": "/b"}
    with pytest.raises(ConfigurationError, match="Multiple aliased keys"):
        load(env)


# --- bad input --------------------------------------------------------------------------------


def test_bad_value_names_file_key_value_and_choices(tmp_path, home):
    rc = write(tmp_path / ".condarc", "channel_priority: sometimes\n")
    with pytest.raises(ConfigurationError) as caught:
        load({"HOME": str(home)}, [rc])
    text = str(caught.value)
    for part in (str(rc), "channel_priority", "'sometimes'", "'strict'", "'flexible'"):
        assert part in text


def test_bad_env_value_names_the_variable(home):
    with pytest.raises(ConfigurationError, match="CONDA_REMOTE_MAX_RETRIES = 'lots'"):
        load({"HOME": str(home), "CONDA_REMOTE_MAX_RETRIES": "lots"})


def test_list_key_given_a_scalar_is_an_error(tmp_path, home):
    rc = write(tmp_path / ".condarc", "channels: conda-forge\n")
    with pytest.raises(ConfigurationError, match="expected a list"):
        load({"HOME": str(home)}, [rc])


def test_yaml_syntax_error_names_file_and_line(tmp_path, home):
    rc = write(tmp_path / ".condarc", "channels:\n  - a\n bad: [\n")
    with pytest.raises(ConfigurationError) as caught:
        load({"HOME": str(home)}, [rc])
    assert str(rc) in caught.value.message
    assert "line 3" in caught.value.message


def test_unknown_keys_are_kept_as_warnings(tmp_path, home):
    rc = write(tmp_path / ".condarc", "not_a_setting: 1\nchannels: [a]\n")
    config = load({"HOME": str(home)}, [rc])
    assert config.channels == ("a",)
    assert config.warnings == (f"Unknown key 'not_a_setting' in {rc}",)


def test_channel_context_carries_settings(tmp_path, home):
    rc = write(
        tmp_path / ".condarc",
        "channel_alias: https://mirror.example/conda\n"
        "custom_channels:\n  internal: https://pkgs.example\n",
    )
    context = load({"HOME": str(home)}, [rc]).channel_context()
    assert context.channel_alias == "https://mirror.example/conda"
    assert context.custom_channels["internal"] == "https://pkgs.example"
    # as in conda, a default applies only when no source sets the key
    assert "pkgs/pro" not in context.custom_channels
    assert load({"HOME": str(home)}).custom_channels == {"pkgs/pro": "https://repo.anaconda.com"}


# --- ophis config -----------------------------------------------------------------------------


@pytest.fixture
def run(home, tmp_path):
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Test app."""

    env = {"HOME": str(home), "CONDARC": "", "CONDA_PREFIX": "", "XDG_CONFIG_HOME": "",
           "OPHIS_ROOT_PREFIX": str(tmp_path / "root"), "CONDA_CHANNELS": ""}  # fmt: skip

    def invoke(*args: str):
        return CliRunner().invoke(app, ["config", *args], env=env)

    return invoke


def test_add_then_show_json_round_trip(run, tmp_path):
    rc = tmp_path / "my" / ".condarc"
    assert run("--add", "channels", "conda-forge", "--file", str(rc)).exit_code == 0
    assert run("--add", "channels", "bioconda", "--file", str(rc)).exit_code == 0
    result = run("--show", "channels", "--json", "--file", str(rc))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"channels": ["bioconda", "conda-forge"]}


def test_add_existing_item_moves_it_to_the_top_with_a_warning(run, home):
    run("--add", "channels", "a")
    run("--add", "channels", "b")
    result = run("--add", "channels", "a")
    assert "'a' already in 'channels' list, moving to the top" in result.stderr
    assert (home / ".condarc").read_text() == "channels:\n  - a\n  - b\n"


def test_edits_keep_comments_and_order(run, home):
    write(home / ".condarc", "# my settings\nssl_verify: true  # keep\nchannels:\n  - x\n")
    assert run("--append", "channels", "y", "--set", "always_yes", "yes").exit_code == 0
    assert (home / ".condarc").read_text() == (
        "# my settings\nssl_verify: true  # keep\nchannels:\n  - x\n  - y\nalways_yes: true\n"
    )


def test_get_prints_conda_add_lines(run):
    run("--add", "channels", "conda-forge")
    run("--add", "channels", "bioconda")
    run("--set", "channel_priority", "strict")
    result = run("--get")
    assert result.stdout.splitlines() == [  # keys sorted, as conda prints them
        "--set channel_priority strict",
        "--add channels 'conda-forge'   # lowest priority",
        "--add channels 'bioconda'   # highest priority",
    ]


def test_set_unknown_key_suggests_close_names(run, home):
    result = run("--set", "chanel_priority", "strict")
    assert result.exit_code == 1
    assert "'chanel_priority': unknown parameter" in result.stderr
    assert "channel_priority" in result.stderr.split("unknown parameter", 1)[1]
    assert not (home / ".condarc").exists()


def test_set_bad_value_is_refused(run, home):
    result = run("--set", "channel_priority", "sometimes", "--json")
    assert result.exit_code == 1
    assert "'strict'" in json.loads(result.stdout)["error"]
    assert not (home / ".condarc").exists()


def test_remove_and_remove_key(run, home):
    run("--add", "channels", "a")
    run("--add", "channels", "b")
    run("--set", "offline", "true")
    assert run("--remove", "channels", "a").exit_code == 0
    assert run("--remove-key", "offline").exit_code == 0
    assert (home / ".condarc").read_text() == "channels:\n  - b\n"
    missing = run("--remove-key", "offline")
    assert missing.exit_code == 1
    assert "'offline': undefined in config" in missing.stderr


def test_show_sources_groups_by_source(run, home):
    run("--add", "channels", "conda-forge")
    result = run("--show-sources")
    assert result.stdout.startswith(f"==> {home / '.condarc'} <==\nchannels:\n  - conda-forge\n")


def test_show_all_json_has_every_setting(run):
    shown = json.loads(run("--show", "--json").stdout)
    assert shown["channel_priority"] == "flexible"
    assert shown["add_pip_as_python_dependency"] is True
    assert "pkgs_dirs" in shown
    assert "envs_dirs" in shown


def test_show_unknown_key_is_an_error(run):
    result = run("--show", "chanels")
    assert result.exit_code == 1
    assert "chanels" in result.stderr


def test_show_json_gives_condas_channel_objects(run, home):
    (home / ".condarc").write_text(
        "channel_alias: https://mirror.example/conda\n"
        "custom_channels:\n  mine: https://u:p@host.example:8080/path\n"
        "custom_multichannels:\n  both: [conda-forge, https://other.example/x]\n"
    )
    shown = json.loads(run("--show", "--json").stdout)
    assert shown["channel_alias"] == {
        "auth": None,
        "location": "mirror.example/conda",
        "name": "",
        "package_filename": None,
        "platform": None,
        "scheme": "https",
        "token": None,
    }
    assert [(c["location"], c["name"]) for c in shown["default_channels"]] == [
        ("repo.anaconda.com", "pkgs/main"),
        ("repo.anaconda.com", "pkgs/r"),
    ]
    both = shown["custom_multichannels"]["both"]
    assert [(c["location"], c["name"]) for c in both] == [
        ("mirror.example/conda", "conda-forge"),  # a bare name lives under the alias
        ("other.example", "x"),
    ]
    mine = shown["custom_channels"]["mine"]
    assert (mine["auth"], mine["location"], mine["name"]) == (
        "u:p",
        "host.example:8080/path",
        "mine",
    )
    assert shown["channels"] == []  # strings, as conda's context gives them
    text = run("--show", "channel_alias").stdout
    assert text.strip() == "channel_alias: https://mirror.example/conda"
