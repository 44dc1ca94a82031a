"""``open_storage(location)``: the file storage a configuration string names.

- ``s3://bucket`` or ``s3://bucket/prefix``: an S3-compatible bucket (:class:`S3Storage`);
  endpoint, region and credentials come from the environment (see ``vidserve.storage.s3``).
- ``file:///abs/path`` or a plain folder path: a local folder (:class:`LocalStorage`).
- an empty string: the default folder, ``<data_dir>/files``.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from vidserve.storage.base import FileStorage
from vidserve.storage.local import LocalStorage

__all__ = ["open_storage"]

# S3's rule for bucket names (3-63 lower-case letters, digits, dots and hyphens, starting
# and ending with a letter or digit), plus the underscore some compatible servers allow.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def open_storage(location: str, *, data_dir: Path | None = None) -> FileStorage:
    """The storage ``location`` names; ValueError, saying what is wrong, when it is malformed.

    ``data_dir`` gives the default folder ``<data_dir>/files`` for an empty location.
    boto3 is imported only for ``s3://`` locations.
    """
    location = location.strip()
    if not location:
        if data_dir is None:
            raise ValueError("no storage location given and no data directory to default to")
        return LocalStorage(data_dir / "files")
    scheme = _SCHEME.match(location)
    if scheme is None:
        return LocalStorage(Path(location).expanduser())
    name = scheme.group(1).lower()
    if name == "s3":
        return _open_s3(location)
    if name == "file":
        return LocalStorage(_file_path(location))
    raise ValueError(
        f"storage location {location!r}: unsupported scheme {name}://; "
        "use s3://bucket/prefix, file:///path or a folder path"
    )


def _open_s3(location: str) -> FileStorage:
    parts = urllib.parse.urlsplit(location)
    where = f"storage location {location!r}"
    if parts.query or parts.fragment:
        raise ValueError(
            f"{where}: s3:// URLs take no '?' or '#' parts; configure the "
            "endpoint and region with VIDSERVE_S3_ENDPOINT_URL and AWS_* variables"
        )
    if "@" in parts.netloc:
        raise ValueError(
            f"{where}: put credentials in AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY (or a profile), not in the URL"
        )
    bucket = parts.netloc
    if not bucket:
        raise ValueError(f"{where} names no bucket; write s3://bucket or s3://bucket/prefix")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(
            f"{where}: {bucket!r} is not a valid bucket name (3 to 63 lower-case letters, "
            "digits, dots or hyphens, starting and ending with a letter or digit)"
        )
    # Imported here: boto3 is heavy and only S3 deployments need it.
    from vidserve.storage.s3 import S3Storage

    return S3Storage(bucket, urllib.parse.unquote(parts.path).strip("/"))


def _file_path(location: str) -> Path:
    parts = urllib.parse.urlsplit(location)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(
            f"storage location {location!r}: file:// URLs name local folders "
            f"(file:///path), not host {parts.netloc!r}"
        )
    if not parts.path:
        raise ValueError(f"storage location {location!r} names no folder")
    return Path(urllib.parse.unquote(parts.path))
