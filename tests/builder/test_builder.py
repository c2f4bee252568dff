"""``ophis build`` end to end, offline: recipes built against a local channel, tested in
fresh environments, sorted into an indexed channel (or kept aside as broken), installed with
``ophis create`` and run; hostile recipes refused or contained."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conda_package_streaming.package_streaming import stream_conda_component

from ophis.builder.recipe import host_subdir
from ophis.builder.sandbox import namespaces_available
from ophis.testing.build_channels import PY_SHORT, write_recipe
from ophis.testing.cli import ok_json, ophis

SUBDIR = host_subdir()


def _build(
    env: dict[str, str], recipe: Path, output: Path, channel: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return ophis(env, "build", str(recipe), "-o", str(output), "-c", channel.as_uri(), *extra)


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, user: dict[str, str], build_channel: Path
) -> dict[str, Any]:
    """The four recipes built into one output channel; each one's JSON report."""
    recipes = tmp_path_factory.mktemp("recipes")
    output = tmp_path_factory.mktemp("output")
    reports: dict[str, Any] = {"output": output}
    for name in ("data", "greet", "matrix", "failing"):
        done = _build(user, write_recipe(recipes, name), output, build_channel, "--json")
        reports[name] = json.loads(done.stdout or "{}")
        reports[name]["returncode"] = done.returncode
        reports[name]["stderr"] = done.stderr
    return reports


def _info(package: str | Path) -> dict[str, bytes]:
    """The info/ files of a .conda package."""
    return {
        member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
        for tar, member in stream_conda_component(str(package), component="info")
        if member.isfile()
    }


def _repodata(output: Path, subdir: str) -> dict[str, Any]:
    return json.loads((output / subdir / "repodata.json").read_text())["packages.conda"]


def test_a_noarch_generic_recipe_yaml_builds_tests_and_is_indexed(built: dict[str, Any]) -> None:
    report = built["data"]
    assert report["returncode"] == 0, report
    assert report["contained"] is namespaces_available()
    [package] = report["packages"]
    assert re.fullmatch(r"h[0-9a-f]{7}_3", package["build"])  # conda's hash, build number
    assert Path(package["path"]).name == f"ophis-data-1.2-{package['build']}.conda"
    assert package["subdir"] == "noarch"
    assert [t["success"] for t in package["tests"]] == [True]
    record = _repodata(built["output"], "noarch")[Path(package["path"]).name]
    assert record["noarch"] == "generic"
    assert record["build_number"] == 3
    info = _info(package["path"])
    paths = json.loads(info["info/paths.json"])
    assert [p["_path"] for p in paths["paths"]] == ["share/ophis-data/data.txt"]
    assert paths["paths"][0]["size_in_bytes"] == len("hello data\n")
    assert json.loads(info["info/about.json"])["summary"] == "Data for Ophis's builder tests"
    assert "info/recipe/recipe.yaml" in info


def test_a_meta_yaml_noarch_python_package_has_its_entry_point_and_passed_its_tests(
    built: dict[str, Any],
) -> None:
    report = built["greet"]
    assert report["returncode"] == 0, report
    [package] = report["packages"]
    assert re.fullmatch(r"pyh[0-9a-f]{7}_0", package["build"])
    # the import test and the command test (which runs the entry point) both ran and passed
    assert [t["success"] for t in package["tests"]] == [True, True]
    info = _info(package["path"])
    link = json.loads(info["info/link.json"])
    assert link["noarch"] == {"type": "python", "entry_points": ["greet = greet:main"]}
    index = json.loads(info["info/index.json"])
    assert index["noarch"] == "python" and index["depends"] == ["python"]
    about = json.loads(info["info/about.json"])
    assert about["home"] == "https://example.org/greet"
    # the original meta.yaml travels in info/recipe with the recipe.yaml made from it
    assert b"{% set name" in info["info/recipe/meta.yaml"]
    assert "info/recipe/recipe.yaml" in info


@pytest.mark.parametrize("name", ["greet-yaml", "data-meta"])
def test_the_other_format_of_each_kind_builds_too(
    name: str, tmp_path: Path, user: dict[str, str], build_channel: Path
) -> None:
    """noarch python as recipe.yaml, noarch generic as meta.yaml (with a build.sh)."""
    done = _build(user, write_recipe(tmp_path, name), tmp_path / "out", build_channel, "--json")
    [package] = ok_json(done)["packages"]
    assert package["tests"] and all(t["success"] for t in package["tests"])
    info = _info(package["path"])
    noarch = json.loads(info["info/index.json"])["noarch"]
    assert noarch == ("python" if name == "greet-yaml" else "generic")
    if name == "greet-yaml":
        link = json.loads(info["info/link.json"])
        assert link["noarch"]["entry_points"] == ["greet-yaml = greet_yaml:main"]
    else:
        assert "info/recipe/build.sh" in info and "info/recipe/meta.yaml" in info


def test_a_two_variant_matrix_makes_two_packages_with_the_run_exports_applied(
    built: dict[str, Any],
) -> None:
    report = built["matrix"]
    assert report["returncode"] == 0, report
    packages = sorted(report["packages"], key=lambda p: p["variant"]["libdemo"])
    assert [p["variant"]["libdemo"] for p in packages] == ["1", "2"]
    builds = {p["build"] for p in packages}
    assert len(builds) == 2 and all(re.fullmatch(r"h[0-9a-f]{7}_0", b) for b in builds)
    records = _repodata(built["output"], SUBDIR)
    depends = [records[Path(p["path"]).name]["depends"] for p in packages]
    # libdemo's weak run_exports became run dependencies of each variant
    assert depends == [["libdemo >=1.0,<2.0a0"], ["libdemo >=2.0,<3.0a0"]]
    exports = json.loads(_info(packages[0]["path"])["info/run_exports.json"])
    assert exports == {"weak": ["uses-libdemo >=1.0,<2.0a0"]}


def test_ophis_solves_each_variants_environments_and_the_build_links_only_those(
    built: dict[str, Any], user: dict[str, str]
) -> None:
    environments = built["matrix"]["environments"]
    assert environments["uses-libdemo (libdemo=1) host"] == {
        "specs": ["libdemo 1"],
        "packages": ["libdemo-1.0-0.conda"],
    }
    assert environments["uses-libdemo (libdemo=2) host"]["packages"] == ["libdemo-2.0-0.conda"]
    assert environments["uses-libdemo (libdemo=1) build"] == {"specs": [], "packages": []}
    # what the build linked came through Ophis's package cache
    cache = Path(user["CONDA_PKGS_DIRS"])
    assert (cache / "libdemo-1.0-0" / "info" / "index.json").is_file()
    # the package was built against the library its variant asked for
    [first] = [p for p in built["matrix"]["packages"] if p["variant"]["libdemo"] == "1"]
    assert json.loads(_info(first["path"])["info/index.json"])["depends"] == [
        "libdemo >=1.0,<2.0a0"
    ]


def test_a_host_environment_ophis_cannot_solve_fails_before_building(
    tmp_path: Path, user: dict[str, str], build_channel: Path
) -> None:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(
        "package:\n  name: wants-nothing-real\n  version: '1'\n"
        "build:\n  noarch: generic\n  script:\n    - echo\n"
        "requirements:\n  host:\n    - no-such-library >=9\n"
    )
    done = _build(user, recipe, tmp_path / "out", build_channel)
    assert done.returncode == 1
    assert "The host environment of wants-nothing-real cannot be solved" in done.stderr
    assert "no-such-library" in done.stderr
    assert not list((tmp_path / "out").glob("*/*.conda"))


def test_a_package_whose_test_fails_is_kept_aside(built: dict[str, Any]) -> None:
    report = built["failing"]
    assert report["returncode"] == 1
    assert report["packages"] == []
    [broken] = report["broken"]
    assert Path(broken["path"]).parent == built["output"] / "broken"
    assert Path(broken["path"]).is_file()
    assert "fails-its-test" not in json.dumps(_repodata(built["output"], "noarch"))


def test_the_built_packages_install_with_ophis_create_and_the_entry_point_runs(
    built: dict[str, Any], user: dict[str, str], build_channel: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "env"
    done = ophis(
        user,
        *("create", "-y", "--json", "-p", str(prefix), "--override-channels"),
        *("-c", built["output"].as_uri(), "-c", build_channel.as_uri()),
        *("greet", "ophis-data", "uses-libdemo=1.0", "libdemo=2"),
    )
    ok_json(done)
    assert (prefix / f"lib/python{PY_SHORT}/site-packages/greet/__init__.py").is_file()
    assert (prefix / "share/ophis-data/data.txt").read_text() == "hello data\n"
    run = subprocess.run([str(prefix / "bin/greet")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "hello from greet 0.3.1"


# --- hostile recipes -----------------------------------------------------------------------------


def _recipe(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


GENERIC = "package:\n  name: hostile\n  version: '1.0'\nbuild:\n  noarch: generic\n"


def test_a_source_path_leaving_the_recipe_folder_is_refused(
    tmp_path: Path, user: dict[str, str], build_channel: Path
) -> None:
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key.txt").write_text("secret")
    recipe = _recipe(
        tmp_path / "recipe",
        {"recipe.yaml": GENERIC + "  script: [cp key.txt $PREFIX/]\nsource:\n  path: ../secret\n"},
    )
    done = _build(user, recipe, tmp_path / "out", build_channel)
    assert done.returncode == 1
    assert "source path '../secret' leads outside the recipe folder" in done.stderr
    assert not list((tmp_path / "out").rglob("*.conda"))


def test_a_meta_yaml_test_file_leaving_the_recipe_folder_is_refused_with_its_line(
    tmp_path: Path, user: dict[str, str], build_channel: Path
) -> None:
    meta = (
        "package:\n  name: hostile\n  version: 1.0\n"
        "build:\n  noarch: generic\n  script: echo\n"
        "test:\n  commands:\n    - cat passwd\n  files:\n    - ../../../../etc/passwd\n"
    )
    recipe = _recipe(tmp_path / "recipe", {"meta.yaml": meta})
    done = _build(user, recipe, tmp_path / "out", build_channel)
    assert done.returncode == 1
    assert "line 10: test/files '../../../../etc/passwd' leads outside" in done.stderr


def test_a_symlink_in_the_recipe_folder_leading_out_of_it_is_refused(
    tmp_path: Path, user: dict[str, str], build_channel: Path
) -> None:
    (tmp_path / "secret").mkdir()
    recipe = _recipe(tmp_path / "recipe", {"recipe.yaml": GENERIC + "source:\n  path: src\n"})
    (recipe / "src").symlink_to(tmp_path / "secret")
    done = _build(user, recipe, tmp_path / "out", build_channel)
    assert done.returncode == 1
    assert "the symlink 'src' leads outside the recipe folder" in done.stderr


def test_the_output_channel_inside_the_recipe_folder_is_not_packed_into_info_recipe(
    tmp_path: Path, user: dict[str, str], build_channel: Path
) -> None:
    recipe = write_recipe(tmp_path, "data")
    for _ in range(2):  # the second build sees the first one's output folder
        report = ok_json(_build(user, recipe, recipe / "output", build_channel, "--json"))
    [package] = report["packages"]
    assert not [name for name in _info(package["path"]) if "output" in name]


@pytest.mark.skipif(not namespaces_available(), reason="no user namespaces: no sandbox here")
def test_a_build_script_cannot_write_outside_its_staging_folder(
    tmp_path: Path, user: dict[str, str], build_channel: Path
) -> None:
    target = tmp_path / "escaped.txt"
    home_file = Path(user["HOME"]) / "escaped.txt"
    script = (
        f"  script:\n    - echo pwned > {target} || true\n"
        f"    - echo pwned > {home_file} || true\n"
        "    - echo pwned > $PREFIX/../../../../escaped.txt || true\n"
        "    - mkdir -p $PREFIX/share && echo fine > $PREFIX/share/inside.txt\n"
    )
    recipe = _recipe(tmp_path / "recipe", {"recipe.yaml": GENERIC + script})
    done = _build(user, recipe, tmp_path / "out", build_channel, "--json")
    assert done.returncode == 0, done.stderr
    assert not target.exists() and not home_file.exists()
    assert not (tmp_path / "escaped.txt").exists()
    [package] = json.loads(done.stdout)["packages"]
    paths = json.loads(_info(package["path"])["info/paths.json"])["paths"]
    assert [p["_path"] for p in paths] == ["share/inside.txt"]


# --- skips, formats ------------------------------------------------------------------------------


def test_skip_conditions_are_applied_per_variant(
    tmp_path: Path, user: dict[str, str], build_channel: Path
) -> None:
    recipe = write_recipe(tmp_path, "matrix")
    text = (recipe / "recipe.yaml").read_text()
    (recipe / "recipe.yaml").write_text(
        text.replace("  number: 0\n", '  number: 0\n  skip:\n    - libdemo == "1"\n')
    )
    report = ok_json(_build(user, recipe, tmp_path / "out", build_channel, "--json"))
    assert [p["variant"]["libdemo"] for p in report["packages"]] == ["2"]


def test_a_recipe_skipped_on_this_platform_builds_nothing(
    tmp_path: Path, user: dict[str, str], build_channel: Path
) -> None:
    yaml_recipe = _recipe(
        tmp_path / "yaml",
        {"recipe.yaml": GENERIC.replace("  noarch: generic\n", "  skip: [unix]\n")},
    )
    meta_recipe = _recipe(
        tmp_path / "meta",
        {"meta.yaml": "package:\n  name: a\n  version: 1\nbuild:\n  skip: true  # [unix]\n"},
    )
    for recipe in (yaml_recipe, meta_recipe):
        report = ok_json(_build(user, recipe, tmp_path / "out", build_channel, "--json"))
        assert report["skipped"] is True and report["packages"] == []


def test_tar_bz2_packages_on_request_and_a_readable_report(
    tmp_path: Path, user: dict[str, str], build_channel: Path
) -> None:
    recipe = write_recipe(tmp_path, "data")
    done = _build(user, recipe, tmp_path / "out", build_channel, "--package-format", ".tar.bz2")
    assert done.returncode == 0, done.stderr
    [package] = (tmp_path / "out" / "noarch").glob("ophis-data-1.2-*.tar.bz2")
    assert f"Built and tested {package}" in done.stdout
    repodata = json.loads((tmp_path / "out" / "noarch" / "repodata.json").read_text())
    assert list(repodata["packages"]) == [package.name]


def test_a_failing_test_is_shown_with_its_output_and_the_exit_code_is_1(
    tmp_path: Path, user: dict[str, str], build_channel: Path
) -> None:
    done = _build(user, write_recipe(tmp_path, "failing"), tmp_path / "out", build_channel)
    assert done.returncode == 1
    assert "Tests failed: kept aside as" in done.stderr
    assert "broken/fails-its-test-1.0-" in done.stderr.replace("\n", "")
