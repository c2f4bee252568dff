"""``ophis env list|export`` and ``ophis info``, as a user's script runs them."""

from __future__ import annotations

import json
from pathlib import Path

from ophis.manager.envfile import parse_environment_file
from ophis.testing.cli import ok_json, ophis


def test_env_list_export_and_info_see_a_named_environment(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    channel = ["--override-channels", "-c", recipes.as_uri()]
    ok_json(ophis(home, "create", "-n", "ds", *channel, "dependent=1.0", "--json", "-y"))
    prefix = tmp_path / "root" / "envs" / "ds"

    listed = ok_json(ophis(home, "env", "list", "--json"))
    assert str(prefix) in listed["envs"]
    assert ok_json(ophis(home, "info", "--envs", "--json")) == listed
    table = ophis(home, "env", "list").stdout
    assert any(line.split()[:2] == ["ds", str(prefix)] for line in table.splitlines())

    exported = parse_environment_file(ophis(home, "env", "export", "-n", "ds").stdout)
    assert exported.name == "ds" and exported.prefix == str(prefix)
    assert exported.channels == ("test-recipes",) or exported.channels[0].endswith("test-recipes")
    assert {d.rsplit("=", 1)[0] for d in exported.dependencies} == {
        "dependency=1.0",
        "dependent=1.0",
    }
    no_builds = ok_json(ophis(home, "env", "export", "-n", "ds", "--no-builds", "--json"))
    assert sorted(no_builds["dependencies"]) == ["dependency=1.0", "dependent=1.0"]
    history = ok_json(ophis(home, "env", "export", "-n", "ds", "--from-history", "--json"))
    assert history["dependencies"] == ["dependent=1.0"]

    facts = ok_json(ophis(home, "info", "--json"))
    assert facts["root_prefix"] == str(tmp_path / "root")
    assert facts["envs_dirs"][0] == str(tmp_path / "root" / "envs")
    assert str(prefix) in facts["envs"]
    assert facts["pkgs_dirs"] == [str(tmp_path / "pkgs")]
    assert any(name == "__unix" for name, _, _ in facts["virtual_pkgs"])


def test_exporting_a_missing_environment_fails_with_condas_error(home: dict[str, str]) -> None:
    result = ophis(home, "env", "export", "-n", "nope", "--json")
    assert result.returncode != 0
    assert json.loads(result.stdout)["exception_name"] == "EnvironmentNameNotFound"


#: the keys of conda 26's ``info --json`` (``get_info_dict`` plus ``envs_details``)
CONDA_INFO_KEYS = {
    "platform", "conda_version", "conda_env_version", "conda_build_version", "root_prefix",
    "conda_prefix", "av_data_dir", "av_metadata_url_base", "root_writable", "pkgs_dirs",
    "envs_dirs", "default_prefix", "active_prefix", "active_prefix_name", "conda_shlvl",
    "channels", "user_rc_path", "rc_path", "sys_rc_path", "offline", "envs", "python_version",
    "requests_version", "user_agent", "conda_location", "config_files", "netrc_file",
    "virtual_pkgs", "solver", "tmp_dir", "notices_cache_dir", "UID", "GID", "sys.version",
    "sys.prefix", "sys.executable", "site_dirs", "env_vars", "envs_details",
}  # fmt: skip


def test_a_prefix_environment_is_registered_and_listed_with_condas_details(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    prefix = tmp_path / "elsewhere" / "proj"
    channel = ["--override-channels", "-c", recipes.as_uri()]
    ok_json(ophis(home, "create", "-p", str(prefix), *channel, "dependency=1.0", "--json", "-y"))

    registry = Path(home["HOME"]) / ".conda" / "environments.txt"
    assert registry.read_text().splitlines() == [str(prefix)]
    # conda's conda-meta record fields, which conda and mamba read
    (meta,) = (prefix / "conda-meta").glob("dependency-1.0-*.json")
    record = json.loads(meta.read_text())
    assert record["requested_spec"] == "dependency=1.0"
    assert record["requested_specs"] == ["dependency=1.0"]
    assert record["channel"] == record["url"].rsplit("/", 1)[0]  # with its subdir
    assert record["package_tarball_full_path"] == str(tmp_path / "pkgs" / record["fn"])
    assert record["constrains"] == []
    # and the package cache's record, which conda and mamba read when they share the cache
    cached = tmp_path / "pkgs" / meta.stem / "info" / "repodata_record.json"
    assert json.loads(cached.read_text())["url"] == record["url"]
    ok_json(ophis(home, "install", "-p", str(prefix), *channel, "dependent", "--json", "-y"))
    assert registry.read_text().splitlines() == [str(prefix)]  # listed once
    float((prefix / "conda-meta" / "created_at").read_text())  # conda's creation time

    listed = ok_json(ophis({**home, "CONDA_PREFIX": str(prefix)}, "env", "list", "--json"))
    assert listed["envs"] == [str(prefix)]
    details = listed["envs_details"][str(prefix)]
    assert details["name"] == ""  # outside the envs dirs, as conda names it
    assert (details["active"], details["base"], details["frozen"]) == (True, False, False)
    assert details["writable"] is True
    assert details["created"] <= details["last_modified"]

    table = ophis({**home, "CONDA_PREFIX": str(prefix)}, "env", "list").stdout
    assert "# * -> active\n# + -> frozen\n" in table
    assert f"{'':20} *   {prefix}" in table.splitlines()

    facts = ok_json(ophis(home, "info", "--json"))
    assert set(facts) >= CONDA_INFO_KEYS
    assert facts["envs_details"][str(prefix)]["name"] == ""
    assert ["__conda", facts["conda_version"], "0"] in facts["virtual_pkgs"]
    assert facts["python_version"].count(".") == 4  # 3.11.7.final.0, as conda writes it

    base = ophis(home, "info", "--base")
    assert base.stdout.strip() == str(tmp_path / "root")
    assert ok_json(ophis(home, "info", "--base", "--json")) == {
        "root_prefix": str(tmp_path / "root")
    }


def test_register_envs_false_keeps_the_registry_untouched(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    prefix = tmp_path / "unlisted"
    channel = ["--override-channels", "-c", recipes.as_uri()]
    quiet = {**home, "CONDA_REGISTER_ENVS": "false"}
    ok_json(ophis(quiet, "create", "-p", str(prefix), *channel, "dependency=1.0", "--json", "-y"))
    assert not (Path(home["HOME"]) / ".conda" / "environments.txt").exists()
