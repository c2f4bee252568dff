"""Choosing the backend from the settings, and how the S3 one fails: each failure a
StorageError that says what is wrong and what to do."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ophis.server.settings import ServerSettings
from ophis.server.storage import LocalStorage, StorageError, open_storage
from ophis.server.storage.interfaces import content_disposition
from ophis.server.storage.s3 import S3Storage, parse_url
from ophis.testing.http import free_port
from ophis.testing.s3 import s3_client


def test_the_settings_choose_the_backend(tmp_path: Path, s3_endpoint: str, bucket: str) -> None:
    local = open_storage(ServerSettings(data_dir=tmp_path))
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "files"
    elsewhere = open_storage(ServerSettings(data_dir=tmp_path, storage_url=f"file://{tmp_path}/x"))
    assert isinstance(elsewhere, LocalStorage) and elsewhere.root == tmp_path / "x"
    settings = ServerSettings(
        data_dir=tmp_path, storage_url=f"s3://{bucket}/a/b/", s3_endpoint_url=s3_endpoint
    )
    remote = open_storage(settings)
    assert isinstance(remote, S3Storage)
    assert (remote.bucket, remote.prefix, remote.endpoint) == (bucket, "a/b", s3_endpoint)
    assert remote.temp_dir() == tmp_path / "staging" and remote.temp_dir().is_dir()


@pytest.mark.parametrize("url", ["ftp://host/files", "gs://bucket/prefix", "bucket/prefix"])
def test_unknown_schemes_are_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(StorageError, match="no known scheme") as refused:
        open_storage(ServerSettings(data_dir=tmp_path, storage_url=url))
    assert "s3://bucket/prefix" in refused.value.remedy


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "s3://b/a/../c", "s3://b/a//c"])
def test_malformed_s3_urls_are_refused(url: str) -> None:
    with pytest.raises(StorageError, match="not"):
        parse_url(url)


def test_s3_urls_name_a_bucket_and_prefix() -> None:
    assert parse_url("s3://bucket") == ("bucket", "")
    assert parse_url("s3://bucket/") == ("bucket", "")
    assert parse_url("s3://bucket/ophis/files/") == ("bucket", "ophis/files")


def test_a_missing_bucket_is_refused_with_a_remedy(tmp_path: Path, s3_endpoint: str) -> None:
    with pytest.raises(StorageError) as refused:
        S3Storage("no-such-bucket", temp_root=tmp_path, endpoint_url=s3_endpoint)
    assert refused.value.message == (
        f"The bucket 'no-such-bucket' does not exist at {s3_endpoint}."
    )
    assert "Create it, or fix --storage" in refused.value.remedy
    buckets = s3_client(s3_endpoint).list_buckets()["Buckets"]
    assert "no-such-bucket" not in {found["Name"] for found in buckets}  # never created


def test_an_unreachable_endpoint_is_refused_with_a_remedy(tmp_path: Path, s3_endpoint: str) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StorageError, match="Cannot reach the bucket 'b'") as refused:
        S3Storage("b", temp_root=tmp_path, endpoint_url=nowhere)
    assert "--s3-endpoint-url" in refused.value.remedy


def test_failures_after_opening_are_storage_errors(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    storage = S3Storage(bucket, temp_root=tmp_path / "staging", endpoint_url=s3_endpoint)
    s3_client(s3_endpoint).delete_bucket(Bucket=bucket)
    staged = storage.temp_dir() / "f"
    staged.write_bytes(b"data")
    with pytest.raises(StorageError) as failed:
        storage.put_file("blobs/f", staged)
    assert failed.value.status == 503 and "Cannot store blobs/f" in failed.value.message
    assert staged.exists()  # not consumed by a failed store: the caller decides
    with pytest.raises(StorageError, match="NoSuchBucket"):  # not a FileNotFoundError
        storage.iter_bytes("blobs/f")


def test_content_disposition_quotes_only_what_it_must() -> None:
    assert content_disposition("demo-1.0-0.conda") == 'attachment; filename="demo-1.0-0.conda"'
    assert content_disposition('we"ird\\é.whl') == (
        "attachment; filename=\"we_ird__.whl\"; filename*=UTF-8''we%22ird%5C%C3%A9.whl"
    )


def test_urls_are_signed_for_the_buckets_own_region(tmp_path: Path, s3_endpoint: str) -> None:
    bucket = f"ophis-test-{uuid.uuid4().hex[:16]}"
    s3_client(s3_endpoint).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    storage = S3Storage(bucket, temp_root=tmp_path, endpoint_url=s3_endpoint)
    assert storage.client.meta.region_name == "eu-west-1"
    url = storage.download_url("blobs/x", "x")
    assert url is not None and "%2Feu-west-1%2Fs3%2F" in url
