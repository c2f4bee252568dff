"""The server's settings: one value passed to :func:`ophis.server.app.create_app`, never
read from a module-level global."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    """``$OPHIS_SERVER_DATA`` or ``~/.ophis/server``."""
    configured = os.environ.get("OPHIS_SERVER_DATA")
    return Path(configured) if configured else Path.home() / ".ophis" / "server"


def _env_seconds(name: str, default: float) -> float:
    """A delay from the environment: how tests shorten the webhook sender's waits in a
    server they start as a subprocess."""
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path = field(default_factory=default_data_dir)
    #: SQLAlchemy URL; SQLite in the data directory when not given
    database_url: str | None = None
    #: the root URL clients reach the server at (behind a proxy); else taken from requests
    public_url: str | None = None
    #: largest accepted upload, bytes
    max_upload_bytes: int = 4 * 1024**3
    #: seconds a staged upload may wait for its file and commit
    stage_seconds: int = 3600
    #: may visitors of the web site create their own accounts?
    allow_signup: bool = True
    #: how long a web sign-in lasts, seconds
    session_seconds: int = 12 * 3600
    #: failed web sign-ins allowed per (client address, login) within ``sign_in_window``
    sign_in_attempts: int = 10
    #: seconds over which failed sign-ins are counted
    sign_in_window: int = 15 * 60
    #: run the webhook sender in this process (off for tests that do not want it)
    webhook_sender: bool = True
    #: seconds between the sender's looks for due deliveries
    webhook_poll_seconds: float = field(
        default_factory=lambda: _env_seconds("OPHIS_WEBHOOK_POLL", 2.0)
    )
    #: a failed delivery is retried after ``backoff * 2**attempts`` seconds
    webhook_backoff_seconds: float = field(
        default_factory=lambda: _env_seconds("OPHIS_WEBHOOK_BACKOFF", 10.0)
    )
    #: attempts before a delivery is given up
    webhook_max_attempts: int = 6
    #: apply the owners' retention policies in this process (off for tests that do not want it)
    retention_runner: bool = True
    #: seconds between two applications of every retention policy
    retention_seconds: float = field(
        default_factory=lambda: _env_seconds("OPHIS_RETENTION_SECONDS", 3600.0)
    )

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ophis.sqlite'}"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"
