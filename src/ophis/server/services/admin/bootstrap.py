"""The first start of an empty server: an administrator whose namespace is the first channel."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ophis.core.atomic_file import write_atomic
from ophis.server.db.models import Account
from ophis.server.services.accounts.accounts import create_user, generate_password

DEFAULT_ADMIN = "admin"
PASSWORD_FILE = "initial-admin-password"


@dataclass(frozen=True)
class FirstAdmin:
    login: str
    #: the generated password, or None when the operator chose it
    generated_password: str | None


def ensure_first_admin(
    session: Session, data_dir: Path, login: str | None, password: str | None
) -> FirstAdmin | None:
    """Create the first administrator when there is no account yet; None otherwise.
    A generated password is also kept in ``<data_dir>/initial-admin-password`` (mode 0600)
    so that it can be found again after the first start's output is gone."""
    if session.scalar(select(func.count()).select_from(Account)):
        return None
    generated = None if password else generate_password()
    admin = create_user(session, login or DEFAULT_ADMIN, password or generated, superuser=True)
    if generated:
        write_atomic(data_dir / PASSWORD_FILE, f"{admin.login}:{generated}\n".encode(), mode=0o600)
    return FirstAdmin(admin.login, generated)


def admin_from_environment() -> tuple[str | None, str | None]:
    return os.environ.get("OPHIS_ADMIN_USER") or None, os.environ.get(
        "OPHIS_ADMIN_PASSWORD"
    ) or None
