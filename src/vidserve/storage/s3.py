"""Files in an S3-compatible bucket: AWS S3, MinIO, Cloudflare R2, Ceph, moto.

Result URLs still name the API's ``/files/<key>`` (see :meth:`FileStorage.url`), so they stay
stable and ``key_from_url`` works as for a local folder. The API answers them with a 307
redirect to a short-lived presigned URL: the bucket stays private, the bytes flow straight
from it, and S3 answers HTTP Range requests itself.

Credentials and region come from boto3's usual chain (``AWS_ACCESS_KEY_ID``, profiles,
instance roles...) unless given; the endpoint from ``endpoint_url`` or
``VIDSERVE_S3_ENDPOINT_URL`` (AWS itself when neither is set). When clients reach the bucket
at another address than the servers do (MinIO on a private network behind a public proxy),
``public_endpoint_url`` or ``VIDSERVE_S3_PUBLIC_ENDPOINT_URL`` names it: presigned URLs are
signed for that host (the proxy must pass the ``Host`` header through unchanged).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import ClientError

from vidserve.errors import FileTooLargeError, NotFoundError
from vidserve.storage.base import (
    FULL_ERRNOS,
    PARTS_PREFIX,
    FileStorage,
    MissingPartError,
    StorageFullError,
    StoredFile,
    check_part,
    new_key,
    safe_file_name,
    split_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, ObjectIdentifierTypeDef

__all__ = ["DEFAULT_PRESIGN_EXPIRES", "ENDPOINT_ENV", "PUBLIC_ENDPOINT_ENV", "S3Storage"]

#: Environment variable naming the S3 endpoint, for MinIO, R2, moto and friends.
ENDPOINT_ENV = "VIDSERVE_S3_ENDPOINT_URL"
#: Environment variable naming the endpoint presigned URLs point clients at, when it differs.
PUBLIC_ENDPOINT_ENV = "VIDSERVE_S3_PUBLIC_ENDPOINT_URL"
#: Seconds a presigned download URL stays valid unless the storage is told otherwise.
DEFAULT_PRESIGN_EXPIRES = 3600

# HEAD answers a bare 404; GET names the error.
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_PRESIGN_METHODS = {"GET": "get_object", "HEAD": "head_object"}
#: S3's bounds on a part of a multipart upload (except the last, which may be smaller).
MIN_COPY_PART = 5 * 1024 * 1024
MAX_COPY_PART = 5 * 1024 * 1024 * 1024


def _is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in _MISSING_CODES


#: Error codes of a bucket with no room: MinIO's full drives and bucket quotas.
_FULL_CODES = frozenset({"XMinioStorageFull", "XMinioAdminBucketQuotaExceeded", "QuotaExceeded"})


def _is_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):  # the local disk, for a join's temporary file
        return exc.errno in FULL_ERRNOS
    if isinstance(exc, S3UploadFailedError):  # upload_file wraps the ClientError
        return exc.__context__ is not None and _is_full(exc.__context__)
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in _FULL_CODES


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """Raise :class:`StorageFullError` (its cause the original) when a write finds no room."""
    try:
        yield
    except (OSError, ClientError, S3UploadFailedError) as exc:
        if _is_full(exc):
            raise StorageFullError() from exc
        raise


def _build_client(
    endpoint_url: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    session_token: str | None,
) -> S3Client:
    # MinIO, moto and most self-hosted servers have no per-bucket DNS names: path-style
    # addressing works on all of them. AWS itself keeps boto3's default.
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint_url else None,
        retries={"mode": "standard"},
    )
    # A session of its own: boto3's default session is not thread-safe, clients are.
    session = boto3.session.Session(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        region_name=region,
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


class S3Storage(FileStorage):
    """Files as objects ``<prefix><hex>/<name>`` in one bucket.

    ``presign_expires`` is the lifetime in seconds of the URLs downloads are redirected to;
    ``public_endpoint_url`` the address they name, when clients reach the bucket elsewhere
    than ``endpoint_url``. ``client`` replaces the one built from the other settings (an S3
    client is thread-safe, and building one costs a few hundred milliseconds). The bucket
    must exist; vidserve never creates or configures buckets.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        presign_expires: int = DEFAULT_PRESIGN_EXPIRES,
        public_endpoint_url: str | None = None,
        client: S3Client | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("S3 storage needs a bucket name")
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if presign_expires <= 0:
            raise ValueError(f"presign_expires must be positive, not {presign_expires}")
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.presign_expires = presign_expires
        endpoint = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
        self.client: S3Client = client or _build_client(
            endpoint, region, access_key_id, secret_access_key, session_token
        )
        #: Where the bucket is served from (AWS's regional endpoint when none was given).
        self.endpoint_url: str = self.client.meta.endpoint_url
        public = public_endpoint_url or os.environ.get(PUBLIC_ENDPOINT_ENV) or None
        #: The client presigned URLs are made with. Signing is local and covers the host,
        #: so with a public endpoint it is a client of that endpoint, built from the same
        #: settings (credentials, region), never used to connect.
        self.signer: S3Client = self.client
        if public is not None and public.rstrip("/") != self.endpoint_url.rstrip("/"):
            self.signer = _build_client(
                public,
                region or self.client.meta.region_name,
                access_key_id,
                secret_access_key,
                session_token,
            )

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def object_key(self, key: str) -> str:
        """The bucket's object key of a storage key; NotFoundError when ``key`` is malformed."""
        if split_key(key) is None:
            raise NotFoundError(f"no such file: {key}")
        return self.prefix + key

    def _target(self, file_name: str, key: str | None) -> tuple[str, str, str]:
        key = key or new_key(file_name)
        parts = split_key(key)
        if parts is None:
            raise ValueError(f"malformed storage key {key!r}")
        return key, parts[1], self.prefix + key

    @staticmethod
    def _disposition(name: str) -> str:
        # Stored on the object, so presigned downloads play inline under a friendly name.
        return f'inline; filename="{safe_file_name(name)}"'

    def put_file(
        self, src: Path, *, content_type: str, file_name: str, key: str | None = None
    ) -> StoredFile:
        key, name, object_key = self._target(file_name, key)
        size = src.stat().st_size
        # upload_file switches to a parallel multipart upload for big files (8 MiB and up).
        extra = {"ContentType": content_type, "ContentDisposition": self._disposition(name)}
        with _writing():
            self.client.upload_file(str(src), self.bucket, object_key, ExtraArgs=extra)
        return StoredFile(key, content_type, name, size)

    def put_bytes(
        self, data: bytes, *, content_type: str, file_name: str, key: str | None = None
    ) -> StoredFile:
        key, name, object_key = self._target(file_name, key)
        with _writing():
            self.client.put_object(
                Bucket=self.bucket,
                Key=object_key,
                Body=data,
                ContentType=content_type,
                ContentDisposition=self._disposition(name),
            )
        return StoredFile(key, content_type, name, len(data))

    def read_bytes(self, key: str, max_bytes: int) -> bytes:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                raise NotFoundError(f"no such file: {key}") from None
            raise
        too_large = FileTooLargeError(f"file {key} is larger than {max_bytes} bytes")
        # Closing without reading the rest drops the connection instead of downloading a
        # file we are about to refuse.
        with contextlib.closing(obj["Body"]) as body:
            if obj["ContentLength"] > max_bytes:
                raise too_large
            data = body.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise too_large
        return data

    def delete(self, key: str) -> None:
        if split_key(key) is None:
            return
        try:
            # S3 answers 204 for absent keys too; some compatible servers say 404.
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if not _is_missing(exc):
                raise

    # -- multipart uploads: parts are objects under <prefix>_parts/<upload>/ ----------------

    def _part_key(self, upload: str, number: int) -> str:
        check_part(upload, number)
        return f"{self.prefix}{PARTS_PREFIX}/{upload}/{number:05d}"

    def put_part(self, upload: str, number: int, src: Path) -> None:
        with _writing():
            self.client.upload_file(str(src), self.bucket, self._part_key(upload, number))

    def join_parts(
        self, upload: str, numbers: Sequence[int], *, key: str, content_type: str, file_name: str
    ) -> StoredFile:
        """The bucket joins the parts itself (a multipart upload copying each part object)
        when S3 allows it: every part but the last at least 5 MiB, none over 5 GiB. Smaller
        parts pass through this process once."""
        if not numbers:
            raise ValueError("a multipart upload joins at least one part")
        key, name, object_key = self._target(file_name, key)
        sources = [self._part_key(upload, number) for number in numbers]
        sizes = []
        for number, source in zip(numbers, sources, strict=True):
            try:
                sizes.append(
                    self.client.head_object(Bucket=self.bucket, Key=source)["ContentLength"]
                )
            except ClientError as exc:
                if _is_missing(exc):
                    raise MissingPartError(number) from None
                raise
        extra = {"ContentType": content_type, "ContentDisposition": self._disposition(name)}
        with _writing():
            if (
                max(sizes) <= MAX_COPY_PART
                and min(sizes[:-1], default=MIN_COPY_PART) >= MIN_COPY_PART
            ):
                self._copy_parts(sources, object_key, extra)
            else:
                self._join_here(sources, object_key, extra)
        self._drop_parts(upload)
        return StoredFile(key, content_type, name, sum(sizes))

    def _join_here(self, sources: list[str], object_key: str, extra: dict[str, str]) -> None:
        """Join the parts in a local temporary file (removed however this ends), then upload
        it."""
        with tempfile.TemporaryDirectory(prefix="vidserve-join-") as tmp:
            joined = Path(tmp) / "joined"
            with open(joined, "wb") as out:
                for source in sources:
                    # Streamed in order (download_fileobj writes at the object's own offsets,
                    # from the start of the file).
                    obj = self.client.get_object(Bucket=self.bucket, Key=source)
                    with contextlib.closing(obj["Body"]) as body:
                        shutil.copyfileobj(body, out, 1024 * 1024)
            self.client.upload_file(str(joined), self.bucket, object_key, ExtraArgs=extra)

    def _copy_parts(self, sources: list[str], object_key: str, extra: dict[str, str]) -> None:
        started = self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=object_key,
            ContentType=extra["ContentType"],
            ContentDisposition=extra["ContentDisposition"],
        )
        upload_id = started["UploadId"]
        try:
            done: list[CompletedPartTypeDef] = []
            for number, source in enumerate(sources, 1):
                copied = self.client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=object_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": source},
                )
                done.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            )
        except BaseException:
            with contextlib.suppress(ClientError):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=object_key, UploadId=upload_id
                )
            raise

    def drop_stale_parts(self, before: float) -> int:
        root = f"{self.prefix}{PARTS_PREFIX}/"
        newest: dict[str, float] = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=root
        )
        for page in pages:
            for item in page.get("Contents", []):
                upload = item["Key"][len(root) :].split("/", 1)[0]
                modified = item["LastModified"].timestamp()
                newest[upload] = max(newest.get(upload, modified), modified)
        stale = [upload for upload, at in newest.items() if at < before]
        for upload in stale:
            self._drop_parts(upload)
        return len(stale)

    def _drop_parts(self, upload: str) -> None:
        """Delete every part object of the upload, named in the join or not."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}{PARTS_PREFIX}/{upload}/"
        )
        for page in pages:
            objects: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]} for item in page.get("Contents", [])
            ]
            if objects:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})

    def exists(self, key: str) -> bool:
        """Whether the object is there (one HEAD request)."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except NotFoundError:
            return False
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def presigned_url(self, key: str, expires_in: int | None = None, method: str = "GET") -> str:
        """A URL anyone may ``GET`` (or ``HEAD``) the object at for ``expires_in`` seconds
        (default: ``presign_expires``). Does not check that the object exists."""
        client_method = _PRESIGN_METHODS.get(method.upper())
        if client_method is None:
            raise ValueError(f"presigned URLs are for GET or HEAD, not {method}")
        return self.signer.generate_presigned_url(
            client_method,
            Params={"Bucket": self.bucket, "Key": self.object_key(key)},
            ExpiresIn=expires_in or self.presign_expires,
            HttpMethod=method.upper(),
        )

    def download_url(self, key: str, method: str = "GET") -> str | None:
        """A fresh presigned URL for the object; NotFoundError if it is absent."""
        if not self.exists(key):
            raise NotFoundError(f"no such file: {key}")
        return self.presigned_url(key, method=method)
