"""Which database and storage the test servers use.

By default each test server has SQLite and local files in its data directory. With
``OPHIS_TEST_BACKEND=postgresql-s3`` the server tests start one PostgreSQL cluster and one
S3-compatible server (moto) for the session, and every test server gets a database and a
bucket of its own on them: the same tests, the other back ends. ``postgresql`` alone keeps
local files.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from ophis.server.settings import ServerSettings

BACKEND_ENV = "OPHIS_TEST_BACKEND"
POSTGRES_AND_S3 = "postgresql-s3"
BACKENDS = ("sqlite", "postgresql", POSTGRES_AND_S3)
#: set while the session's services run: the cluster's superuser URL, the S3 endpoint
POSTGRES_ENV = "OPHIS_TEST_POSTGRES_URL"
S3_ENV = "OPHIS_TEST_S3_ENDPOINT"

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Backend:
    """A test server's database and storage (None: the embedded defaults)."""

    database_url: str | None = None
    storage_url: str | None = None
    s3_endpoint_url: str | None = None

    def server_args(self) -> list[str]:
        """The ``ophis server ...`` options that select this backend."""
        args = []
        if self.database_url:
            args += ["--database", self.database_url]
        if self.storage_url:
            args += ["--storage", self.storage_url]
        if self.s3_endpoint_url:
            args += ["--s3-endpoint-url", self.s3_endpoint_url]
        return args

    def settings(self, data_dir: Path) -> ServerSettings:
        return ServerSettings(
            data_dir=data_dir,
            database_url=self.database_url,
            storage_url=self.storage_url,
            s3_endpoint_url=self.s3_endpoint_url,
        )


def fresh_backend() -> Backend:
    """A new, empty database and bucket on the session's services, when they run."""
    postgres, s3 = os.environ.get(POSTGRES_ENV), os.environ.get(S3_ENV)
    name = f"ophis_{os.getpid()}_{next(_numbers)}"
    database = storage = None
    if postgres:
        from ophis.testing.postgres import create_database

        database = create_database(postgres, name)
    if s3:
        from ophis.testing.s3 import create_bucket

        bucket = name.replace("_", "-")
        create_bucket(s3, bucket)
        storage = f"s3://{bucket}/packages"
    return Backend(database, storage, s3)


@contextmanager
def session_services() -> Iterator[str]:
    """Start the services ``$OPHIS_TEST_BACKEND`` asks for (none by default) and publish
    them to :func:`fresh_backend` and to the servers the tests start; yield the backend's
    name."""
    wanted = os.environ.get(BACKEND_ENV, "sqlite")
    if wanted not in BACKENDS:
        raise RuntimeError(f"${BACKEND_ENV} is {wanted!r}: use one of {', '.join(BACKENDS)}.")
    saved = dict(os.environ)
    with ExitStack() as stack:
        if wanted != "sqlite":
            from ophis.testing.postgres import running_postgres

            os.environ[POSTGRES_ENV] = stack.enter_context(running_postgres())
        if wanted == POSTGRES_AND_S3:
            from ophis.testing.s3 import S3_CREDENTIALS, running_s3

            os.environ[S3_ENV] = stack.enter_context(running_s3())
            os.environ.update(S3_CREDENTIALS)
        try:
            yield wanted
        finally:
            os.environ.clear()
            os.environ.update(saved)


def sends_local_files() -> bool:
    """Whether the backend the run asks for keeps package files on this host's disk (so the
    server sends their bytes); with S3 a download is a redirect to the bucket."""
    return os.environ.get(BACKEND_ENV, "sqlite") != POSTGRES_AND_S3
