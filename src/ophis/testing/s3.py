"""An S3 service for tests: moto's standalone server in a subprocess on 127.0.0.1, and
helpers to make a fresh bucket in it and list what it holds.

moto keeps everything in memory and accepts any credentials; the dummy ones below are set
for the moto process and should be set (``s3_environment``) for the clients too, so that
boto3's standard chain never reaches for a real account.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ophis.testing.http import free_port

if TYPE_CHECKING:
    from ophis.server.storage.interfaces import Storage

REGION = "us-east-1"
#: small enough that a test file of a few MiB takes the multipart path (S3's least part)
PART = 5 * 1024 * 1024
#: credentials moto accepts (never valid anywhere else), as environment variables
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ophis-testing",
    "AWS_SECRET_ACCESS_KEY": "ophis-testing-secret",
    "AWS_DEFAULT_REGION": REGION,
}


#: variables that could point boto3 at a real account; tests unset them
UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def s3_environment(endpoint_url: str | None = None) -> dict[str, str]:
    """Variables that give boto3 (in this process, or an ``ophis server`` it starts) the
    dummy credentials and no configuration files of the machine (unset :data:`UNSET` too);
    with ``endpoint_url``, also boto3's default endpoint."""
    environment = {
        **S3_CREDENTIALS,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    if endpoint_url:
        environment["AWS_ENDPOINT_URL"] = endpoint_url
    return environment


@contextmanager
def running_s3(timeout: float = 30.0) -> Iterator[str]:
    """Run ``python -m moto.server`` on a free port; yield its endpoint URL once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **S3_CREDENTIALS}
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    # moto logs every request: to a file, as a pipe nobody reads would fill and block it
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        try:
            _wait_answering(process, url, timeout, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_answering(process: subprocess.Popen[bytes], url: str, timeout: float, log: Any) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")
            raise RuntimeError(f"moto exited ({process.returncode}):\n{output}")
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"moto at {url} did not answer in {timeout} s")


def s3_client(endpoint_url: str) -> Any:
    """A boto3 S3 client for ``endpoint_url`` with the dummy credentials, whatever the
    environment holds."""
    import boto3  # imported here: ophis.testing must not need boto3 for other tests

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def create_bucket(endpoint_url: str, name: str | None = None) -> str:
    """A new empty bucket (a unique name unless given); its name."""
    bucket = name or f"ophis-test-{uuid.uuid4().hex[:16]}"
    s3_client(endpoint_url).create_bucket(Bucket=bucket)
    return bucket


def list_keys(endpoint_url: str, bucket: str, prefix: str = "") -> list[str]:
    """Every key in ``bucket`` under ``prefix``, sorted."""
    pages = s3_client(endpoint_url).get_paginator("list_objects_v2")
    return sorted(
        item["Key"]
        for page in pages.paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    )


def make_s3_storage(endpoint: str, bucket: str, root: Path) -> Storage:
    """Ophis's S3 storage on ``bucket`` under a prefix, staging under ``root``, with parts
    of :data:`PART` bytes."""
    from ophis.server.storage.s3 import S3Storage

    return S3Storage(
        bucket,
        "some/prefix",
        temp_root=root / "staging",
        endpoint_url=endpoint,
        multipart_threshold=PART,
        multipart_chunksize=PART,
    )
