"""Package files in an S3-compatible bucket (AWS S3, MinIO, Ceph, moto), under an optional
key prefix: ``s3://bucket/prefix``.

Credentials come from boto3's standard chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, instance roles...); the endpoint from ``s3_endpoint_url`` or boto3's own
resolution (``AWS_ENDPOINT_URL``). Uploads in progress are staged in a local directory and
stored with one PUT, or a multipart upload for large files: either way S3 makes the object
visible whole or not at all, and a failed multipart upload is aborted by boto3 (a bucket
lifecycle rule for incomplete multipart uploads catches a process killed midway).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ophis.server.privacy import private_dir
from ophis.server.storage.interfaces import (
    StorageError,
    check_key,
    check_prefix,
    content_disposition,
)

MiB = 1024 * 1024
#: files larger than this are sent as a multipart upload ...
MULTIPART_THRESHOLD = 64 * MiB
#: ... in parts of this size (S3 wants at least 5 MiB per part but the last)
MULTIPART_CHUNKSIZE = 16 * MiB
#: connections kept to the endpoint; streamed downloads each hold one while they last
MAX_POOL_CONNECTIONS = 50
_MISSING = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}
_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_FIX_STORAGE = "Create it, or fix --storage (s3://bucket/prefix) and --s3-endpoint-url."
_FIX_CREDENTIALS = (
    "Check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and"
    " that they may get, put, delete and list objects in the bucket."
)


def make_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """An S3 client from boto3's standard configuration chain. Other S3-compatible services
    get path-style addressing (``host/bucket/key``: their buckets seldom have DNS names) and
    checksums only where S3 requires them (older MinIO and Ceph refuse the newer ones)."""
    options: dict[str, Any] = {
        "signature_version": "s3v4",
        "max_pool_connections": MAX_POOL_CONNECTIONS,
        "connect_timeout": 10,
        "retries": {"mode": "standard", "total_max_attempts": 3},
    }
    if endpoint_url:
        options |= {
            "s3": {"addressing_style": "path"},
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=Config(**options)
    )


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix without surrounding slashes)."""
    parts = urlsplit(url)
    prefix = parts.path.strip("/")
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise StorageError(f"{url!r} is not an S3 storage URL.", "Give s3://bucket[/prefix].")
    if prefix:
        try:
            check_key(prefix)
        except ValueError:
            raise StorageError(
                f"The key prefix of {url!r} is not valid.",
                "Give s3://bucket/prefix with a prefix like ophis/files (no '..', no '//').",
            ) from None
    return parts.netloc, prefix


class S3Storage:
    """The storage protocol over one bucket (and key prefix). The bucket must exist: it is
    never created here, because a mistyped --storage would then silently start an empty
    store, production credentials seldom may create buckets, and a bucket's region,
    encryption, versioning and lifecycle rules are the operator's choice
    (:func:`ophis.testing.s3.create_bucket` makes one for tests)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        temp_root: Path,
        endpoint_url: str | None = None,
        client: Any = None,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        multipart_chunksize: int = MULTIPART_CHUNKSIZE,
        check_bucket: bool = True,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.client = client if client is not None else make_client(endpoint_url)
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunksize
        )
        self.temp_root = private_dir(Path(temp_root))
        if check_bucket:
            self.check_bucket()

    @classmethod
    def from_url(cls, url: str, *, temp_root: Path, **options: Any) -> S3Storage:
        bucket, prefix = parse_url(url)
        return cls(bucket, prefix, temp_root=temp_root, **options)

    @property
    def endpoint(self) -> str:
        return str(self.client.meta.endpoint_url)

    def check_bucket(self) -> None:
        """Fail now, with a remedy, rather than at the first upload."""
        bucket, endpoint = self.bucket, self.endpoint
        try:
            answer = self.client.head_bucket(Bucket=bucket)
        except ClientError as error:
            code = _code(error)
            if code in _MISSING | _NO_BUCKET:
                raise StorageError(
                    f"The bucket {bucket!r} does not exist at {endpoint}.", _FIX_STORAGE
                ) from None
            if code in _DENIED:
                raise StorageError(
                    f"Access to the bucket {bucket!r} at {endpoint} was refused ({code}).",
                    _FIX_CREDENTIALS,
                ) from None
            raise StorageError(
                f"Cannot use the bucket {bucket!r} at {endpoint}: {error}", _FIX_STORAGE
            ) from error
        except BotoCoreError as error:  # an unreachable endpoint, no credentials at all
            raise StorageError(
                f"Cannot reach the bucket {bucket!r} at {endpoint}: {error}",
                "Check --s3-endpoint-url (or AWS_ENDPOINT_URL) and that the service is up."
                f" {_FIX_CREDENTIALS}",
            ) from error
        self._follow_region(answer)

    def _follow_region(self, answer: dict[str, Any]) -> None:
        """Sign for the bucket's own region: requests are redirected there by botocore, but
        a presigned URL signed for another region is refused by S3."""
        headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        region = headers.get("x-amz-bucket-region")
        if region and region != self.client.meta.region_name:
            self.client = make_client(self.endpoint_url, region)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(self, key: str, source: Path) -> None:
        # Returns once S3 has the whole object (PutObject, or CompleteMultipartUpload):
        # durable, and atomic for readers. Then ``source`` goes, as a local store's rename
        # takes it away: callers rely on neither backend leaving it behind.
        target = self._key(key)
        with self._failures("store", key):
            self.client.upload_file(str(source), self.bucket, target, Config=self.transfer)
        Path(source).unlink(missing_ok=True)

    def open(self, key: str) -> BinaryIO:
        return cast(BinaryIO, self._get(key))

    def iter_bytes(self, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        return _chunks(self._get(key), chunk_size)  # the GET is sent now, not at first chunk

    def _get(self, key: str) -> Any:
        target = self._key(key)
        with self._failures("read", key):
            return self.client.get_object(Bucket=self.bucket, Key=target)["Body"]

    def delete(self, key: str) -> None:
        target = self._key(key)
        with self._failures("delete", key):  # S3 answers 204 for an absent key too
            self.client.delete_object(Bucket=self.bucket, Key=target)

    def exists(self, key: str) -> bool:
        target = self._key(key)
        try:
            with self._failures("look up", key):
                self.client.head_object(Bucket=self.bucket, Key=target)
        except FileNotFoundError:
            return False
        return True

    def keys(self, prefix: str = "") -> Iterator[str]:
        check_prefix(prefix)
        root = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2")
        with self._failures("list", prefix or "the keys"):
            for page in pages.paginate(Bucket=self.bucket, Prefix=root + prefix):
                for item in page.get("Contents", []):
                    yield item["Key"].removeprefix(root)

    def local_path(self, key: str) -> Path | None:
        self._key(key)
        return None

    def temp_dir(self) -> Path:
        return self.temp_root

    def download_url(self, key: str, filename: str, expires: int = 600) -> str | None:
        """A presigned GET (it honours Range) that saves as ``filename``. Signing is local:
        no request is sent, and an absent key is a 404 from S3 when fetched."""
        target = self._key(key)
        params = {
            "Bucket": self.bucket,
            "Key": target,
            "ResponseContentDisposition": content_disposition(filename),
            "ResponseContentType": "application/octet-stream",
        }
        with self._failures("sign a URL for", key):
            return str(
                self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
            )

    @contextmanager
    def _failures(self, action: str, key: str) -> Iterator[None]:
        """Absent keys as FileNotFoundError, every other failure as a StorageError (503)."""
        try:
            yield
        except ClientError as error:
            code = _code(error)
            if code in _MISSING:
                raise FileNotFoundError(f"{key} is not in {self._where()}") from None
            remedy = _FIX_CREDENTIALS if code in _DENIED else _FIX_STORAGE
            if code in _DENIED and action == "look up":
                remedy += " (S3 answers 403, not 404, for absent keys without s3:ListBucket.)"
            raise StorageError(
                f"Cannot {action} {key} in {self._where()}: {error}", remedy
            ) from error
        except (BotoCoreError, Boto3Error) as error:
            raise StorageError(
                f"Cannot {action} {key} in {self._where()}: {error}",
                "Check that the S3 endpoint is reachable; the request may succeed when retried.",
            ) from error

    def _where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} at {self.endpoint}"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _chunks(body: Any, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()  # also when the client went away: frees the pooled connection
