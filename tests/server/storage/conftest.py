"""Storage backends for the contract tests: local files, and S3 on moto (one moto server for
the session, reused when the server tests' S3 backend already runs one; a fresh bucket per
test)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ophis.server.storage.interfaces import Storage
from ophis.server.storage.local import LocalStorage
from ophis.testing.backends import S3_ENV
from ophis.testing.s3 import UNSET, create_bucket, make_s3_storage, running_s3, s3_environment


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3 endpoint, with boto3's environment holding only dummy credentials."""
    with pytest.MonkeyPatch.context() as patch:
        for name in UNSET:
            patch.delenv(name, raising=False)
        for name, value in s3_environment().items():
            patch.setenv(name, value)
        if os.environ.get(S3_ENV):
            yield os.environ[S3_ENV]
            return
        with running_s3() as endpoint:
            yield endpoint


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    return create_bucket(s3_endpoint)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """Each backend in turn, empty."""
    if request.param == "local":
        return LocalStorage(tmp_path / "files")
    endpoint = request.getfixturevalue("s3_endpoint")
    return make_s3_storage(endpoint, request.getfixturevalue("bucket"), tmp_path)
