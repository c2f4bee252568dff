"""API shapes: what the anaconda-client API sends and answers (reference §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ophis.server.db.models import Account, Token


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class TokenCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    scopes: list[str] | None = None
    note: str | None = None
    note_url: str | None = None
    hostname: str | None = None
    user: str | None = None
    max_age: int | None = Field(default=None, alias="max-age")
    strength: str | None = None
    fail_if_exists: bool = Field(default=False, alias="fail-if-exists")


def user_public(account: Account) -> dict[str, Any]:
    return {
        "login": account.login,
        "name": account.name,
        "user_type": "org" if account.kind == "org" else "user",
        "description": account.description,
        "created_at": iso(account.created_at),
        "url": None,
        "company": "",
        "location": "",
    }


def token_public(token: Token) -> dict[str, Any]:
    return {
        "id": str(token.id),
        "name": token.name,
        "application": token.application or token.name,
        "scopes": token.scopes,
        "created_at": iso(token.created_at),
        "expires": iso(token.expires_at),
        "hostname": token.hostname,
        "remote_addr": token.remote_addr,
        "org": token.org.login if token.org else None,
    }
