"""``ophis render``, ``ophis skeleton pypi`` and ``ophis build --upload``, as a user runs
them: offline, against a channel made here and a test server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ruamel.yaml import YAML

from ophis.builder.recipe import host_subdir
from ophis.testing.build_channels import make_build_channel, write_recipe
from ophis.testing.cli import offline_user, ok_json, ophis
from ophis.testing.python_dists import make_project_sdist, make_sdist
from ophis.testing.server import RunningServer, run_server


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_build_channel(tmp_path_factory.mktemp("channel"), host_subdir())


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return offline_user(tmp_path_factory.mktemp("user"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("server") / "data") as running:
        yield running


def test_render_prints_a_meta_yaml_converted_and_rendered(
    tmp_path: Path, user: dict[str, str]
) -> None:
    done = ophis(user, "render", str(write_recipe(tmp_path, "greet")))
    assert done.returncode == 0, done.stderr
    header, body = done.stdout.split("\n", 1)
    assert header == "# variant: target_platform=noarch"
    rendered = YAML(typ="safe").load(body)
    assert rendered["package"] == {"name": "greet", "version": "0.3.1"}
    assert rendered["build"]["string"].startswith("pyh")
    assert rendered["build"]["python"]["entry_points"] == ["greet = greet:main"]
    assert rendered["tests"][1] == {"script": 'greet | grep "hello from greet 0.3.1"'}


def test_render_shows_one_recipe_per_variant(tmp_path: Path, user: dict[str, str]) -> None:
    documents = ok_json(ophis(user, "render", "--json", str(write_recipe(tmp_path, "matrix"))))
    assert [d["variant"]["libdemo"] for d in documents] == ["1", "2"]
    strings = {d["recipe"]["build"]["string"] for d in documents}
    assert len(strings) == 2
    # a --variant-config given replaces the recipe folder's values for its keys
    (tmp_path / "only-2.yaml").write_text('libdemo:\n  - "2"\n')
    only = ok_json(
        ophis(
            user,
            *("render", "--json", str(tmp_path / "matrix")),
            *("--variant-config", str(tmp_path / "only-2.yaml")),
        )
    )
    assert [d["variant"]["libdemo"] for d in only] == ["2"]


def test_render_reads_a_conda_build_config_with_selectors_next_to_a_meta_yaml(
    tmp_path: Path, user: dict[str, str]
) -> None:
    (tmp_path / "meta.yaml").write_text(
        "package:\n  name: m\n  version: 1\nrequirements:\n  host:\n    - libdemo\n"
    )
    (tmp_path / "conda_build_config.yaml").write_text(
        "libdemo:\n  - 1  # [unix]\n  - 2  # [unix]\n  - 3  # [win]\n"
    )
    documents = ok_json(ophis(user, "render", "--json", str(tmp_path)))
    assert sorted(str(d["variant"]["libdemo"]) for d in documents) == ["1", "2"]
    assert all(d["recipe"]["requirements"]["host"] == ["libdemo"] for d in documents)


def test_render_a_meta_yaml_over_two_pythons_with_py_selectors(
    tmp_path: Path, user: dict[str, str]
) -> None:
    (tmp_path / "meta.yaml").write_text(
        "package:\n  name: m\n  version: 1\n"
        "build:\n  skip: true  # [py<310]\n"
        "requirements:\n  host:\n    - python\n  run:\n    - python\n"
        "    - tomli  # [py<311]\n"
    )
    (tmp_path / "conda_build_config.yaml").write_text(
        'python:\n  - "3.9"\n  - "3.10"\n  - "3.11"\n'
    )
    documents = ok_json(ophis(user, "render", "--json", str(tmp_path)))
    by_python = {d["variant"]["python"]: d for d in documents}
    assert sorted(by_python) == ["3.10", "3.11", "3.9"]
    assert [by_python[v]["skipped"] for v in ("3.9", "3.10", "3.11")] == [True, False, False]
    assert by_python["3.10"]["recipe"]["requirements"]["run"] == ["python", "tomli"]
    assert by_python["3.11"]["recipe"]["requirements"]["run"] == ["python"]
    assert (
        by_python["3.10"]["recipe"]["build"]["string"]
        != by_python["3.11"]["recipe"]["build"]["string"]
    )


def test_render_names_the_line_of_what_is_not_supported(
    tmp_path: Path, user: dict[str, str]
) -> None:
    (tmp_path / "meta.yaml").write_text(
        "package:\n  name: a\n  version: 1\nbuild:\n  number: 0\n  binary_relocation: false\n"
    )
    done = ophis(user, "render", str(tmp_path))
    assert done.returncode == 1
    assert "meta.yaml line 6: `build/binary_relocation` is not supported" in done.stderr


def test_skeleton_pypi_writes_a_recipe_from_a_local_sdist_with_grayskull(
    tmp_path: Path, user: dict[str, str]
) -> None:
    sdist = make_project_sdist(
        tmp_path,
        "tool-kit",
        "2.1",
        ["PyYAML>=6", "msgpack", "packaging; python_version>'3.0'"],
        {"tool-kit": "tool_kit.cli:main"},
    )
    out = tmp_path / "recipes"
    done = ophis(user, "skeleton", "pypi", "--json", str(sdist), "-o", str(out))
    report = ok_json(done)
    assert report["recipe"] == str(out / "tool-kit" / "recipe.yaml")
    assert report["notes"] == [
        "about/license: not found in the package; add it.",
        "about/license_file: not found in the package; add it.",
    ]
    recipe = YAML(typ="safe").load((out / "tool-kit" / "recipe.yaml").read_text())
    assert recipe["context"] == {"version": "2.1"}
    assert recipe["package"] == {"name": "tool-kit", "version": "${{ version }}"}
    assert recipe["source"] == [
        {"url": sdist.resolve().as_uri(), "sha256": hashlib.sha256(sdist.read_bytes()).hexdigest()}
    ]
    assert recipe["build"]["python"] == {"entry_points": ["tool-kit = tool_kit.cli:main"]}
    assert recipe["build"]["script"] == ["${{ PYTHON }} -m pip install . -vv"]
    # grayskull's PyPI -> conda-forge name map, and the marker as a per-variant condition
    run = recipe["requirements"]["run"]
    assert run[:3] == ["python >=3.9", "pyyaml >=6", "msgpack-python"]
    assert run[3] == {"if": 'match(python, ">3.0")', "then": "packaging"}
    assert recipe["tests"][0] == {"python": {"imports": ["tool_kit"], "pip_check": False}}
    assert "tool-kit --help" in recipe["tests"][1]["script"]
    # and it renders
    rendered = ok_json(ophis(user, "render", "--json", str(out / "tool-kit")))
    assert rendered[0]["recipe"]["package"]["version"] == "2.1"


def test_skeleton_pypi_can_write_conda_builds_meta_yaml(
    tmp_path: Path, user: dict[str, str]
) -> None:
    sdist = make_sdist(tmp_path, "demo-py", "1.4")  # setup.py only: grayskull runs it
    done = ophis(
        user,
        "skeleton",
        "pypi",
        "demo-py",
        "--sdist",
        str(sdist),
        "-o",
        str(tmp_path),
        "--format",
        "meta.yaml",
    )
    assert done.returncode == 0, done.stderr
    assert "To do: license_file" in done.stderr
    text = (tmp_path / "demo-py" / "meta.yaml").read_text()
    assert '{% set version = "1.4" %}' in text
    assert "{{ PYTHON }} -m pip install . -vv" in text
    rendered = ok_json(ophis(user, "render", "--json", str(tmp_path / "demo-py")))
    assert rendered[0]["recipe"]["package"] == {"name": "demo-py", "version": "1.4"}
    assert rendered[0]["recipe"]["build"]["script"] == "${{ PYTHON }} -m pip install . -vv"


def test_skeleton_names_what_is_wrong_with_a_bad_sdist(
    tmp_path: Path, user: dict[str, str]
) -> None:
    bad = tmp_path / "broken-1.0.tar.gz"
    bad.write_bytes(b"not a tar file")
    done = ophis(user, "skeleton", "pypi", "broken", "--sdist", str(bad), "-o", str(tmp_path))
    assert done.returncode == 1
    assert "grayskull could not make a recipe from the sdist" in done.stderr
    assert not (tmp_path / "broken").exists()


def test_build_upload_puts_the_tested_packages_on_a_server_label_and_they_install(
    tmp_path: Path, user: dict[str, str], channel: Path, server: RunningServer
) -> None:
    token = server.login()
    report = ok_json(
        ophis(
            user,
            *("build", str(write_recipe(tmp_path, "greet")), "-o", str(tmp_path / "out")),
            *("-c", channel.as_uri(), "--json"),
            *("--upload", f"{server.url}/{server.admin}", "--label", "dev", "--token", token),
        )
    )
    [package] = report["packages"]
    assert report["uploaded"] == [
        {
            "basename": f"noarch/{Path(package['path']).name}",
            "owner": server.admin,
            "status": "uploaded",
            "labels": ["dev"],
        }
    ]
    prefix = tmp_path / "env"
    created = ophis(
        user,
        *("create", "-y", "--json", "-p", str(prefix), "--override-channels"),
        *("-c", server.conda(server.admin, "dev"), "-c", channel.as_uri(), "greet"),
    )
    ok_json(created)
    run = subprocess.run([str(prefix / "bin" / "greet")], capture_output=True, text=True)
    assert run.stdout.strip() == "hello from greet 0.3.1", run.stderr

    # the server's repodata lists it under the label only
    def names(channel: str) -> set[str]:
        repodata = httpx.get(f"{channel}/noarch/repodata.json").json()
        return {r["name"] for r in repodata["packages.conda"].values()}

    assert "greet" in names(server.conda(server.admin, "dev"))
    assert "greet" not in names(server.conda(server.admin))
