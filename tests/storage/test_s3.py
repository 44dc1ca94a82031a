"""What only S3 storage does: object layout and metadata, multipart, presigned downloads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from vidserve.errors import NotFoundError
from vidserve.storage.base import new_key
from vidserve.storage.s3 import ENDPOINT_ENV, PUBLIC_ENDPOINT_ENV, S3Storage

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

DATA = os.urandom(100_000)


def test_objects_live_under_the_prefix_with_type_and_friendly_name(
    s3_storage: S3Storage, s3_client: S3Client
) -> None:
    stored = s3_storage.put_bytes(DATA, content_type="video/mp4", file_name="My Clip.mp4")
    head = s3_client.head_object(Bucket=s3_storage.bucket, Key=f"vid/out/{stored.key}")
    assert head["ContentLength"] == len(DATA)
    assert head["ContentType"] == "video/mp4"
    assert head["ContentDisposition"] == 'inline; filename="My_Clip.mp4"'


def test_big_files_go_up_in_parts_with_their_metadata(
    s3_storage: S3Storage, s3_client: S3Client, tmp_path: Path
) -> None:
    src = tmp_path / "big.mp4"
    src.write_bytes(os.urandom(9 * 1024 * 1024))  # past boto3's 8 MiB multipart threshold
    stored = s3_storage.put_file(src, content_type="video/mp4", file_name="big.mp4")
    head = s3_client.head_object(Bucket=s3_storage.bucket, Key=s3_storage.object_key(stored.key))
    assert head["ETag"].strip('"').endswith("-2")  # S3's mark of a two-part upload
    assert head["ContentType"] == "video/mp4"
    assert head["ContentDisposition"] == 'inline; filename="big.mp4"'
    assert s3_storage.read_bytes(stored.key, stored.size) == src.read_bytes()


def test_big_parts_are_joined_by_the_bucket_itself(
    s3_storage: S3Storage, s3_client: S3Client, tmp_path: Path
) -> None:
    """Parts of S3's minimum size are copied into a multipart upload server-side: the joined
    object is a three-part one, with the grant's type and name, and the parts are gone."""
    upload = "fedcba9876543210fedcba9876543210"
    chunks = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), b"tail"]
    for number, chunk in enumerate(chunks, 1):
        (tmp_path / "part").write_bytes(chunk)
        s3_storage.put_part(upload, number, tmp_path / "part")
    key = new_key("clip.mp4")
    s3_storage.join_parts(
        upload, [1, 2, 3], key=key, content_type="video/mp4", file_name="clip.mp4"
    )
    head = s3_client.head_object(Bucket=s3_storage.bucket, Key=s3_storage.object_key(key))
    assert head["ETag"].strip('"').endswith("-3")
    assert (head["ContentType"], head["ContentLength"]) == ("video/mp4", 10 * 1024 * 1024 + 4)
    assert head["ContentDisposition"] == 'inline; filename="clip.mp4"'
    assert s3_storage.read_bytes(key, 11 * 1024 * 1024) == b"".join(chunks)
    listed = s3_client.list_objects_v2(Bucket=s3_storage.bucket, Prefix="vid/out/_parts/")
    assert listed.get("KeyCount", 0) == 0


def test_presigned_url_downloads_the_exact_bytes_with_range(s3_storage: S3Storage) -> None:
    key = s3_storage.put_bytes(DATA, content_type="video/mp4", file_name="v.mp4").key
    url = s3_storage.presigned_url(key)
    whole = httpx.get(url)
    assert whole.status_code == 200
    assert whole.content == DATA
    assert whole.headers["content-type"] == "video/mp4"
    part = httpx.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(DATA)}"
    assert part.content == DATA[1000:2000]


def test_presigned_urls_are_signed_for_their_method_and_lifetime(s3_storage: S3Storage) -> None:
    key = s3_storage.put_bytes(DATA, content_type="video/mp4", file_name="v.mp4").key
    assert "X-Amz-Expires=3600" in s3_storage.presigned_url(key)
    assert "X-Amz-Expires=60" in s3_storage.presigned_url(key, expires_in=60)
    short = S3Storage(s3_storage.bucket, "vid/out", presign_expires=300, client=s3_storage.client)
    assert "X-Amz-Expires=300" in short.presigned_url(key)
    head = httpx.head(s3_storage.presigned_url(key, method="HEAD"))
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(DATA))
    with pytest.raises(ValueError, match="GET or HEAD"):
        s3_storage.presigned_url(key, method="PUT")


def test_download_url_checks_the_object_exists(s3_storage: S3Storage) -> None:
    key = s3_storage.put_bytes(DATA, content_type="video/mp4", file_name="v.mp4").key
    url = s3_storage.download_url(key)
    assert url is not None
    assert httpx.get(url).content == DATA
    with pytest.raises(NotFoundError):
        s3_storage.download_url(new_key("absent.mp4"))
    with pytest.raises(NotFoundError):
        s3_storage.download_url("../../etc/passwd")


def test_endpoint_comes_from_the_environment(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, s3_endpoint)
    storage = S3Storage(bucket)
    assert storage.endpoint_url == s3_endpoint
    key = storage.put_bytes(b"hello", content_type="text/plain", file_name="h.txt").key
    assert storage.read_bytes(key, 5) == b"hello"
    assert storage.presigned_url(key).startswith(f"{s3_endpoint}/{bucket}/{key}?")


def test_presigned_urls_name_the_public_endpoint_when_clients_see_another(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The servers write through one address; clients are sent to the one they can reach."""
    public = s3_endpoint.replace("127.0.0.1", "localhost")
    monkeypatch.setenv(PUBLIC_ENDPOINT_ENV, public)
    storage = S3Storage(bucket, endpoint_url=s3_endpoint)
    key = storage.put_bytes(DATA, content_type="video/mp4", file_name="v.mp4").key
    url = storage.download_url(key)
    assert url is not None and url.startswith(f"{public}/{bucket}/{key}?")
    assert httpx.get(url).content == DATA
    monkeypatch.delenv(PUBLIC_ENDPOINT_ENV)
    same = S3Storage(bucket, endpoint_url=s3_endpoint, public_endpoint_url=s3_endpoint + "/")
    assert same.signer is same.client
    assert same.presigned_url(key).startswith(f"{s3_endpoint}/{bucket}/{key}?")


def test_explicit_credentials_are_used(s3_endpoint: str, bucket: str) -> None:
    storage = S3Storage(
        bucket,
        endpoint_url=s3_endpoint,
        region="eu-west-1",
        access_key_id="AKIAEXPLICIT",
        secret_access_key="explicit-secret",  # noqa: S106 - moto accepts any
    )
    assert "AKIAEXPLICIT" in storage.presigned_url(new_key("x.txt"))
    assert "eu-west-1" in storage.presigned_url(new_key("x.txt"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bucket": ""}, "needs a bucket"),
        ({"bucket": "b", "access_key_id": "only-the-id"}, "both access_key_id"),
        ({"bucket": "b", "presign_expires": 0}, "must be positive"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        S3Storage(**kwargs)  # type: ignore[arg-type]


def test_prefix_slashes_are_normalised(s3_client: S3Client) -> None:
    assert S3Storage("b", "/a/b/", client=s3_client).prefix == "a/b/"
    assert S3Storage("b", "", client=s3_client).prefix == ""
    assert repr(S3Storage("b", "x", client=s3_client)) == "S3Storage(bucket='b', prefix='x/')"
