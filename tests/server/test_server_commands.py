"""``ophis server ...`` as an operator uses it: first start, users, organizations, tokens."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ophis.server.db.engine import MIGRATIONS
from ophis.testing.backends import fresh_backend
from ophis.testing.server import ADMIN, RunningServer, announcement, read_announcement


def ophis_server(
    data_dir: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ophis", "server", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
    )


def test_first_start_announces_the_admin_and_the_admin_can_log_in(server: RunningServer) -> None:
    facts = announcement(server)
    assert facts["admin"] == ADMIN
    assert facts["password"] is None  # chosen through $OPHIS_ADMIN_PASSWORD, not generated
    assert facts["conda_url"] == f"{server.url}/conda"
    token = server.login()
    me = httpx.get(f"{server.api}/user", headers={"Authorization": f"token {token}"})
    assert me.json()["login"] == ADMIN


def test_without_admin_variables_a_password_is_generated_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPHIS_ADMIN_USER", raising=False)
    monkeypatch.delenv("OPHIS_ADMIN_PASSWORD", raising=False)
    fresh = tmp_path / "fresh"
    command = ["ophis", "server", "start", "--json", "--port", "0", "--data-dir", str(fresh)]
    process = subprocess.Popen(
        [sys.executable, "-m", *command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        facts = read_announcement(process.stdout)
    finally:
        process.terminate()
        process.wait(10)
    assert facts["admin"] == "admin" and len(facts["password"]) >= 16
    kept = fresh / "initial-admin-password"
    assert kept.read_text().strip() == f"admin:{facts['password']}"
    assert kept.stat().st_mode & 0o777 == 0o600


def test_users_organizations_and_tokens_from_the_command_line(server: RunningServer) -> None:
    created = server.ophis("user", "create", "alice", "--password", "alice-secret-1", "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout) == {"login": "alice", "superuser": False}
    duplicate = server.ophis("user", "create", "ALICE", "--password", "whatever-123")
    assert duplicate.returncode != 0 and "taken" in duplicate.stderr
    short = server.ophis("user", "create", "bob", "--password", "short")
    assert short.returncode != 0 and "too short" in short.stderr
    assert server.login("alice", "alice-secret-1")

    org = server.ophis("org", "create", "lab", "--owner", "alice", "--json")
    assert json.loads(org.stdout)["login"] == "lab", org.stderr
    orgs = httpx.get(
        f"{server.api}/user/orgs",
        headers={"Authorization": f"token {server.login('alice', 'alice-secret-1')}"},
    )
    assert [o["login"] for o in orgs.json()] == ["lab"]

    token = json.loads(
        server.ophis(
            "token", "create", "alice", "--name", "ci", "-s", "conda:download", "--json"
        ).stdout
    )
    assert token["scopes"] == ["conda:download"] and token["token"].startswith("oph-")

    users = json.loads(server.ophis("user", "list", "--json").stdout)
    assert {u["login"] for u in users} >= {ADMIN, "alice"}

    assert server.ophis("user", "disable", "alice").returncode == 0
    refused = httpx.post(
        f"{server.api}/authentications", auth=("alice", "alice-secret-1"), json={"note": "x"}
    )
    assert refused.status_code == 401
    revoked = httpx.get(f"{server.api}/user", headers={"Authorization": f"token {token['token']}"})
    assert revoked.status_code == 401
    assert server.ophis("user", "enable", "alice").returncode == 0
    assert server.login("alice", "alice-secret-1")


def test_reserved_and_malformed_names_are_refused(tmp_path: Path) -> None:
    for name, reason in (
        ("api", "reserved"),
        ("../x", "not a valid name"),
        ("a b", "not a valid name"),
    ):
        result = ophis_server(tmp_path, "user", "create", name, "--password", "long-enough-1")
        assert result.returncode != 0 and reason in result.stderr, (name, result.stderr)


def test_the_migrations_build_exactly_the_models_schema(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from ophis.server.db.engine import migrate
    from ophis.server.db.models import Base

    url = fresh_backend().database_url or f"sqlite:///{tmp_path / 'schema.sqlite'}"
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == [], f"models.py changed without a migration in {MIGRATIONS}"
