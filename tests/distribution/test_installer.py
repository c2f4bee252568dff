"""``ophis constructor`` end to end, offline: an installer built from a channel made here
(Ophis itself built with the builder, its dependencies, libdemo), run in batch mode into a
fresh prefix with no network and no Ophis on PATH; the prefix's own ``ophis`` then creates
and activates an environment. The installer refuses what it must refuse."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ophis.testing.cli import offline_user, ok_json, ophis

LICENSE = "Demo licence: be nice.\n"


def _construct(folder: Path, channel: Path, **extra: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "LICENSE.txt").write_text(LICENSE)
    (folder / "post_install.sh").write_text('echo "post-install in $PREFIX" > "$PREFIX/post.txt"\n')
    lines = [
        "name: Demo",
        'version: "1.0"',
        f"channels: [{channel.as_uri()}]",
        "specs: [python, ophis, libdemo 1.*]",
        "license_file: LICENSE.txt",
        "post_install: post_install.sh",
        "write_condarc: true",
        *(f"{key}: {json.dumps(value)}" for key, value in extra.items()),
    ]
    (folder / "construct.yaml").write_text("\n".join(lines) + "\n")
    return folder / "construct.yaml"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ophis_channel: Path) -> dict:
    folder = tmp_path_factory.mktemp("construct")
    env = offline_user(folder / "user")
    report = ok_json(
        ophis(
            env, "constructor", str(_construct(folder, ophis_channel)), "-o", str(folder), "--json"
        )
    )
    return report


def _run(installer: str | Path, env: dict[str, str], *args: str, answers: str | None = None):
    return subprocess.run(
        ["sh", str(installer), *args],
        env=_no_ophis_on_path(env),
        capture_output=True,
        text=True,
        input=answers,
        timeout=300,
    )


def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--norc", "-c", script], env=env, capture_output=True, text=True, timeout=300
    )


def _no_ophis_on_path(env: dict[str, str]) -> dict[str, str]:
    """The installer must not lean on the Ophis (or Python) of this machine's PATH."""
    return {**env, "PATH": "/usr/bin:/bin"}


def test_installer_installs_offline_and_its_ophis_creates_and_activates_an_environment(
    tmp_path: Path, built: dict, ophis_channel: Path
) -> None:
    env = {**offline_user(tmp_path / "user"), "SHELL": "/bin/bash"}
    (Path(env["HOME"]) / ".bashrc").write_text("# mine\n")
    prefix = tmp_path / "demo"
    done = _run(built["path"], env, "-b", "-i", "-p", str(prefix))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Demo 1.0 is installed in {prefix}" in done.stdout
    # a base environment: records, history with the requested specs, .condarc, ophis
    records = {json.loads(p.read_text())["name"] for p in (prefix / "conda-meta").glob("*.json")}
    assert {"python", "ophis", "libdemo", "py-rattler", "typer"} <= records
    history = (prefix / "conda-meta" / "history").read_text()
    assert "# update specs: ['python', 'ophis', 'libdemo 1.*']" in history
    assert (prefix / ".condarc").read_text() == f"channels:\n  - {ophis_channel.as_uri()}\n"
    assert (prefix / "lib" / "libdemo.1.txt").is_file()
    assert (prefix / "condabin" / "ophis").resolve() == (prefix / "bin" / "ophis").resolve()
    assert (prefix / "post.txt").read_text() == f"post-install in {prefix}\n"
    assert not (prefix / ".ophis-installer").exists()
    assert not list((prefix / "pkgs").glob("*.conda"))  # archives dropped, extracted kept
    explicit = (prefix / "pkgs" / "explicit.txt").read_text()
    assert "@EXPLICIT\n" in explicit
    assert f"{ophis_channel.as_uri()}/{built['platform']}/libdemo-1.0-0.conda#" in explicit
    # -i ran 'ophis shell init': the block names this Ophis and this base as the root prefix
    bashrc = (Path(env["HOME"]) / ".bashrc").read_text()
    assert bashrc.startswith("# mine\n\n# >>> ophis initialize >>>\n")
    assert f"export OPHIS_ROOT_PREFIX='{prefix}'" in bashrc
    assert str(prefix / "bin" / "ophis") in bashrc

    # the installed Ophis works, with nothing of the test's: its root prefix is the base
    # (from the block), it creates an environment there, and the hook activates it
    user = {k: v for k, v in _no_ophis_on_path(env).items() if k != "OPHIS_ROOT_PREFIX"}
    work = prefix / "envs" / "work"
    script = (
        "source ~/.bashrc\n"
        f"ophis create -y -n work -c {ophis_channel.as_uri()} --override-channels "
        "python 'libdemo 2.*' > /dev/null || exit 1\n"
        "ophis activate work && which python"
    )
    shown = _bash(script, user)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert shown.stdout.strip() == str(work / "bin" / "python")
    assert (work / "lib" / "libdemo.2.txt").is_file()
    hook = f'eval "$({prefix}/bin/ophis shell hook --shell bash)"'
    shown = _bash(f"{hook}; ophis activate {work}; which python; echo $CONDA_PREFIX", user)
    assert shown.stdout.split() == [str(work / "bin" / "python"), str(work)], shown.stderr

    # refused without -u; -u puts back what went missing and keeps the rest
    refused = _run(built["path"], env, "-b", "-p", str(prefix))
    assert refused.returncode == 1
    assert f"'{prefix}' already exists and is not empty." in refused.stderr
    (prefix / "conda-meta" / "libdemo-1.0-0.json").unlink()
    updated = _run(built["path"], env, "-b", "-u", "-p", str(prefix))
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert (prefix / "conda-meta" / "libdemo-1.0-0.json").is_file()
    assert (prefix / "envs" / "work" / "lib" / "libdemo.2.txt").is_file()


def test_installer_refuses_a_non_empty_folder(tmp_path: Path, built: dict) -> None:
    env = offline_user(tmp_path / "user")
    prefix = tmp_path / "taken"
    prefix.mkdir()
    (prefix / "mine.txt").write_text("keep me\n")
    refused = _run(built["path"], env, "-b", "-p", str(prefix))
    assert refused.returncode == 1
    assert f"'{prefix}' already exists and is not empty." in refused.stderr
    assert "pass -u to update" in refused.stderr
    # -u into a folder that is no environment is refused too
    not_env = _run(built["path"], env, "-b", "-u", "-p", str(prefix))
    assert not_env.returncode == 1 and "has no conda-meta folder" in not_env.stderr
    assert sorted(p.name for p in prefix.iterdir()) == ["mine.txt"]


def test_a_tampered_installer_is_refused_before_anything_is_written(
    tmp_path: Path, built: dict
) -> None:
    data = bytearray(Path(built["path"]).read_bytes())
    data[-100] ^= 0xFF  # one byte of the payload
    tampered = tmp_path / "tampered.sh"
    tampered.write_bytes(bytes(data))
    done = _run(tampered, offline_user(tmp_path / "user"), "-b", "-p", str(tmp_path / "p"))
    assert done.returncode == 1
    assert "does not match its checksum" in done.stderr
    assert not (tmp_path / "p").exists()
    truncated = tmp_path / "truncated.sh"
    truncated.write_bytes(bytes(data[:-10]))
    cut = _run(truncated, offline_user(tmp_path / "user"), "-b", "-p", str(tmp_path / "p"))
    assert cut.returncode == 1 and "The installer is damaged" in cut.stderr


def test_interactive_install_shows_the_licence_and_asks(tmp_path: Path, built: dict) -> None:
    env = offline_user(tmp_path / "user")
    declined = _run(built["path"], env, answers="no\n")
    assert "Welcome to Demo 1.0" in declined.stdout
    assert LICENSE in declined.stdout
    assert declined.returncode == 1 and "licence terms were not accepted" in declined.stderr
    # accepted; the prefix typed is checked as -p's is (taken: refused, nothing written)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    asked = _run(built["path"], env, answers=f"yes\n{taken}\nno\n")
    assert "will be installed into this location" in asked.stdout
    assert "Run 'ophis shell init'" in asked.stdout
    assert asked.returncode == 1 and f"'{taken}' already exists" in asked.stderr


def test_help_and_checksum_check(tmp_path: Path, built: dict) -> None:
    env = offline_user(tmp_path / "user")
    shown = _run(built["path"], env, "-h")
    assert shown.returncode == 0 and "-b          batch mode" in shown.stdout
    assert "rm -rf PREFIX" in shown.stdout
    checked = _run(built["path"], env, "-t")
    assert checked.returncode == 0 and "checksum is correct" in checked.stdout


def test_constructor_names_unsupported_keys_and_a_missing_ophis(
    tmp_path: Path, small_channel: Path
) -> None:
    env = offline_user(tmp_path / "user")
    odd = tmp_path / "odd" / "construct.yaml"
    odd.parent.mkdir()
    odd.write_text("name: X\nversion: '1'\nchannels: [c]\nspecs: [a]\nsigning_identity_name: me\n")
    done = ophis(env, "constructor", str(odd), "--json")
    assert done.returncode == 1
    error = json.loads(done.stdout)
    assert error["exception_name"] == "ConstructError"
    assert "'signing_identity_name'" in error["message"]
    no_ophis = tmp_path / "no-ophis" / "construct.yaml"
    no_ophis.parent.mkdir()
    no_ophis.write_text(
        f"name: X\nversion: '1'\nchannels: [{small_channel.as_uri()}]\nspecs: [python]\n"
    )
    missing = ophis(env, "constructor", str(no_ophis), "-o", str(tmp_path))
    assert missing.returncode == 1
    assert "has no 'ophis' package" in missing.stderr
    assert not list(tmp_path.glob("*.sh"))


def test_installed_ophis_is_the_bootstrap_package(built: dict) -> None:
    assert "ophis" in built["bootstrap"] and "python" in built["bootstrap"]
    assert "libdemo" not in built["bootstrap"]
    assert os.access(built["path"], os.X_OK)
    assert Path(built["path"]).name == f"Demo-1.0-{built['platform']}.sh"
