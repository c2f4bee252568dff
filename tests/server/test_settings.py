"""Where the server's settings come from: the command line over ``OPHIS_*`` variables over
the config file over the defaults; and ``ophis server migrate`` as an operator runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ophis.core.errors import OphisError
from ophis.server.settings import load_settings


def test_command_line_then_environment_then_file_then_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "server.toml").write_text(
        'database_url = "postgresql+psycopg://file/db"\n'
        'storage_url = "s3://from-file/prefix"\n'
        "download_redirect = false\n"
        "session_seconds = 60\n"
    )
    monkeypatch.setenv("OPHIS_STORAGE_URL", "s3://from-env/prefix")
    monkeypatch.setenv("OPHIS_ALLOW_SIGNUP", "no")
    settings = load_settings(data_dir=tmp_path, database_url="sqlite:///given.db")
    assert settings.database_url == "sqlite:///given.db"  # command line
    assert settings.storage_url == "s3://from-env/prefix"  # environment
    assert settings.allow_signup is False  # environment, as a boolean
    assert settings.download_redirect is False and settings.session_seconds == 60  # file
    assert settings.max_upload_bytes == 4 * 1024**3  # default


def test_a_named_config_file_must_exist_and_make_sense(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(OphisError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", data_dir=tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("storage = 's3://x'\n")
    with pytest.raises(OphisError, match="unknown settings: storage"):
        load_settings(bad, data_dir=tmp_path)
    bad.write_text("session_seconds = 'an hour'\n")
    with pytest.raises(OphisError, match=r"session_seconds = 'an hour'.*not a valid int"):
        load_settings(bad, data_dir=tmp_path)
    monkeypatch.setenv("OPHIS_DOWNLOAD_REDIRECT", "maybe")
    with pytest.raises(OphisError, match=r"from \$OPHIS_DOWNLOAD_REDIRECT"):
        load_settings(data_dir=tmp_path)


def test_migrate_status_then_upgrade(tmp_path: Path) -> None:
    def migrate(*args: str) -> dict[str, object]:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "ophis",
                "server",
                "migrate",
                *args,
                "--data-dir",
                str(tmp_path),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    before = migrate("status")
    assert before["current"] is None and before["pending"] and before["applied"] == []
    upgraded = migrate()
    assert upgraded["applied"] == before["pending"] and upgraded["current"] == before["head"]
    assert migrate("status")["pending"] == []
    assert migrate()["applied"] == []  # nothing left to do


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://ophis:hunter2-secret@127.0.0.1:1/ophis"
    result = subprocess.run(
        [sys.executable, "-m", "ophis", "server", "migrate", "status", "--database", url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Cannot use the database postgresql+psycopg://ophis:***@127.0.0.1:1" in result.stderr
    assert "hunter2-secret" not in result.stderr + result.stdout
