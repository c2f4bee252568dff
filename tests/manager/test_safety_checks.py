"""conda's ``safety_checks`` and ``extra_safety_checks``, run as a user runs ``ophis``.

One package cache is filled by a first install, then files of the extracted packages in it
are changed (as a disk error or a careless hand would), and further installs into new
environments read that cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user, ok_json, ophis
from ophis.testing.packages import make_package

ORIGINAL = b"original\n"
LONGER = b"tampered, and longer\n"
SAME_SIZE = b"TAMPERED\n"  # as long as ORIGINAL: only its sha256 tells it apart
assert len(SAME_SIZE) == len(ORIGINAL)


@pytest.fixture(scope="module")
def tampered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A user whose package cache holds ``longer``, ``samesize`` and ``missing`` with one
    file changed, lengthened or deleted after extraction."""
    root = tmp_path_factory.mktemp("safety")
    channel = root / "channel"
    for name in ("longer", "samesize", "missing"):
        make_package(channel / "noarch", name, files={f"share/{name}.txt": ORIGINAL})
    index_channel(channel)
    home = isolated_user(root)
    args = ["--override-channels", "-c", channel.as_uri()]
    first = root / "first"
    ok_json(
        ophis(
            home, "create", "-p", str(first), *args, "longer", "samesize", "missing", "--json", "-y"
        )
    )
    pkgs = root / "pkgs"
    for name, content in (("longer", LONGER), ("samesize", SAME_SIZE), ("missing", None)):
        path = pkgs / f"{name}-1.0-0" / "share" / f"{name}.txt"
        path.unlink()  # linked into the first environment: break the hard link, keep that
        if content is not None:
            path.write_bytes(content)
    return {"home": home, "args": args, "root": root}


def install(tampered: dict, env: str, *spec: str, **settings: str):
    """``ophis create -p <env> SPEC --json -y`` with ``CONDA_<KEY>`` settings."""
    home = {**tampered["home"], **{f"CONDA_{k.upper()}": v for k, v in settings.items()}}
    prefix = tampered["root"] / env
    return prefix, ophis(
        home, "create", "-p", str(prefix), *tampered["args"], *spec, "--json", "-y"
    )


def test_enabled_refuses_the_transaction_naming_the_file(tampered: dict) -> None:
    prefix, result = install(tampered, "enabled", "longer", safety_checks="enabled")
    assert result.returncode == 1
    error = result.stdout
    assert '"exception_name": "SafetyError"' in error
    assert "share/longer.txt" in error and "longer-1.0-0" in error
    assert f"records {len(ORIGINAL)} bytes" in error and f"has {len(LONGER)} bytes" in error
    assert not prefix.exists()  # refused before the environment was made


def test_enabled_from_condarc(tampered: dict, tmp_path: Path) -> None:
    condarc = tmp_path / ".condarc"
    condarc.write_text("safety_checks: enabled\n")
    home = {**tampered["home"], "CONDARC": str(condarc)}
    prefix = tmp_path / "env"
    result = ophis(home, "create", "-p", str(prefix), *tampered["args"], "longer", "-y")
    assert result.returncode == 1
    assert "share/longer.txt" in result.stderr and "safety_checks: enabled" in result.stderr
    assert not prefix.exists()


def test_warn_is_the_default_it_warns_and_installs(tampered: dict) -> None:
    prefix, result = install(tampered, "warned", "longer")
    document = ok_json(result)
    assert [a["name"] for a in document["actions"]["LINK"]] == ["longer"]
    assert "SafetyError" in result.stderr and "share/longer.txt" in result.stderr
    assert (prefix / "conda-meta" / "longer-1.0-0.json").is_file()


def test_disabled_installs_silently(tampered: dict) -> None:
    prefix, result = install(tampered, "unchecked", "longer", safety_checks="disabled")
    ok_json(result)
    assert "SafetyError" not in result.stderr
    assert (prefix / "share" / "longer.txt").read_bytes() == LONGER


def test_a_missing_file_is_refused_unless_checks_are_disabled(tampered: dict) -> None:
    prefix, result = install(tampered, "incomplete", "missing")  # warn: still refused
    assert result.returncode == 1
    assert '"exception_name": "CondaVerificationError"' in result.stdout
    assert "share/missing.txt" in result.stdout
    assert not prefix.exists()


def test_sha256_is_checked_only_with_extra_safety_checks(tampered: dict) -> None:
    prefix, result = install(tampered, "same-size", "samesize", safety_checks="enabled")
    ok_json(result)  # the sizes agree and hashing is extra, as in conda
    assert (prefix / "share" / "samesize.txt").read_bytes() == SAME_SIZE

    prefix, result = install(
        tampered, "hashed", "samesize", safety_checks="enabled", extra_safety_checks="true"
    )
    assert result.returncode == 1
    assert '"exception_name": "SafetyError"' in result.stdout
    assert "share/samesize.txt" in result.stdout
    assert hashlib.sha256(ORIGINAL).hexdigest() in result.stdout
    assert hashlib.sha256(SAME_SIZE).hexdigest() in result.stdout
    assert not prefix.exists()


def test_the_settings_are_shown_by_config(tampered: dict) -> None:
    home = {
        **tampered["home"],
        "CONDA_SAFETY_CHECKS": "enabled",
        "CONDA_EXTRA_SAFETY_CHECKS": "yes",
    }
    shown = ok_json(
        ophis(home, "config", "--show", "safety_checks", "extra_safety_checks", "--json")
    )
    assert shown == {"safety_checks": "enabled", "extra_safety_checks": True}
    result = ophis({**home, "CONDA_SAFETY_CHECKS": "on"}, "config", "--show", "safety_checks")
    assert result.returncode == 1 and "'enabled'" in result.stderr
