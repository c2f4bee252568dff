"""environment.yml files: every real one in the test data reads, bad ones name their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ophis.manager.envfile import (
    EnvironmentFile,
    EnvironmentFileError,
    EnvironmentFileNotFound,
    dumps_environment_file,
    parse_environment_file,
    read_environment_file,
)


def environment_files(testdata: Path) -> list[Path]:
    named = sorted((testdata / "rattler/environments").glob("*.y*ml"))
    return [*named, testdata / "rattler/python/environment.yml"]


def test_every_environment_file_in_the_test_data_reads(testdata: Path) -> None:
    files = environment_files(testdata)
    assert len(files) == 6
    read = {path.name: read_environment_file(path) for path in files}
    vqgan = read["asymmetric_vqgan.environment.yaml"]
    assert vqgan.channels == ("pytorch", "defaults")
    assert vqgan.dependencies[0] == "python=3.8.5" and len(vqgan.dependencies) == 6
    assert "einops==0.3.0" in vqgan.pip and vqgan.pip[-1] == "-e ."
    assert read["variables.environment.yaml"].variables == {"MY_ENV_VAR": "My Value"}
    assert read["conda_lock_dev.environment.yaml"].extra == {"category": "dev"}
    assert "conda-forge::cuda-python" in read["channel_inversion.environment.yaml"].dependencies
    assert read["environment.yml"].platforms[:2] == ("linux-64", "linux-aarch64")


def test_writing_and_reading_back_gives_the_same_environment(testdata: Path) -> None:
    for path in environment_files(testdata):
        original = read_environment_file(path)
        assert parse_environment_file(dumps_environment_file(original)) == original, path.name


def test_written_files_look_like_condas() -> None:
    text = dumps_environment_file(
        EnvironmentFile(
            name="ds", channels=("conda-forge",), dependencies=("numpy=1.26",), pip=("rich",)
        )
    )
    assert text == (
        "name: ds\nchannels:\n  - conda-forge\n"
        "dependencies:\n  - numpy=1.26\n  - pip:\n      - rich\n"
    )


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("name: x\ndependencies:\n  - numpy\n  - 'numpy >>= 1'\n", 4, "not a valid spec"),
        ("name: x\ndependencies:\n  - [unclosed\n", 4, "not valid YAML"),
        ("name: x\nchannels: conda-forge\n", 2, "'channels' must be a list"),
        ("dependencies:\n  - numpy\n  - pip: rich\n", 3, "only a 'pip:' list"),
        ("dependencies:\n  - pip:\n      - rich\n      - {a: 1}\n", 4, "not a pip requirement"),
        ("name: x\nvariables:\n  - A\n", 2, "'variables' must be a mapping"),
        ("- just\n- a list\n", 1, "not a mapping"),
    ],
)
def test_a_malformed_file_gets_an_error_with_its_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(EnvironmentFileError) as caught:
        parse_environment_file(text, "env.yml")
    assert f"env.yml, line {line}:" in caught.value.message
    assert problem in caught.value.message


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentFileNotFound, match="does not exist"):
        read_environment_file(tmp_path / "nope.yml")
