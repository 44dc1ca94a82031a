"""The file storage interface.

Keys look like ``<32 hex>/<file name>``: the random part makes URLs unguessable, the name
keeps downloads friendly. Every backend's files are addressed by the API's ``/files/<key>``
URLs, so result URLs do not change when an operator moves files to another backend.
"""

from __future__ import annotations

import abc
import errno
import re
import secrets
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vidserve.errors import NotFoundError

#: Path under the API's base URL where stored files are served (or redirected from).
FILES_PREFIX = "/files/"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
#: Folder (local) or key prefix (S3) of multipart uploads' parts: not a well-formed key.
PARTS_PREFIX = "_parts"
#: Part numbers run from 1 to this, as in S3.
MAX_PARTS = 10_000
#: An upload's parts are abandoned this long after its last part arrived: longer than an
#: upload grant lives (``api.uploads.UPLOAD_TTL``), so it can no longer be completed.
PARTS_LIFETIME = 2 * 3600.0


#: ``errno`` values that mean "no room": a full disk, or a quota reached.
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class StorageFullError(OSError):
    """File storage has no room left (a full disk, a quota, a full bucket): writes fail until
    space is freed. Its message names no server path (the original error is its cause)."""

    def __init__(self, code: int = errno.ENOSPC) -> None:
        super().__init__(code, "file storage is full")

    def __str__(self) -> str:
        return "file storage is full"


def is_full(exc: BaseException) -> bool:
    """Whether ``exc`` is an OS error saying there is no room (ENOSPC, EDQUOT)."""
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


class MissingPartError(NotFoundError):
    """A multipart upload was completed naming a part that was never uploaded."""

    def __init__(self, number: int) -> None:
        super().__init__(f"part {number} was not uploaded")
        self.number = number


def check_part(upload: str, number: int) -> None:
    """Refuse a malformed upload id (32 hex digits) or part number (1 to MAX_PARTS)."""
    if not _UPLOAD_ID.fullmatch(upload):
        raise ValueError(f"malformed upload id {upload!r}")
    if not 1 <= number <= MAX_PARTS:
        raise ValueError(f"part numbers run from 1 to {MAX_PARTS}, not {number}")


def safe_file_name(name: str | None, default: str = "file.bin") -> str:
    """A file name safe in a URL path and on any file system."""
    base = _UNSAFE.sub("_", (name or "").rsplit("/", 1)[-1]).strip("._")[:100]
    return base or default


def new_key(file_name: str | None) -> str:
    """A fresh, unguessable key for a file of that name."""
    return f"{secrets.token_hex(16)}/{safe_file_name(file_name)}"


#: The file name of a video's thumbnail, stored beside it (see :func:`sibling_key`).
THUMBNAIL_NAME = "thumbnail.jpg"


def sibling_key(key: str, file_name: str) -> str:
    """The key of ``file_name`` in the same folder as ``key`` (a video's thumbnail)."""
    return f"{key.split('/', 1)[0]}/{safe_file_name(file_name)}"


def split_key(key: str) -> tuple[str, str] | None:
    """``(random part, file name)`` of a well-formed key, or None.

    Keys are exactly two plain segments: nothing can climb out of a folder or a prefix.
    """
    parts = key.split("/")
    if len(parts) != 2 or not all(parts) or any(p in (".", "..") for p in parts):
        return None
    return parts[0], parts[1]


@dataclass(frozen=True)
class StoredFile:
    """A stored file's metadata."""

    key: str
    content_type: str
    file_name: str
    size: int


class FileStorage(abc.ABC):
    """Where inputs and outputs live."""

    @abc.abstractmethod
    def put_file(
        self, src: Path, *, content_type: str, file_name: str, key: str | None = None
    ) -> StoredFile:
        """Store a copy of ``src`` under ``key`` (one made by :func:`new_key`) or a new key."""

    @abc.abstractmethod
    def put_bytes(
        self, data: bytes, *, content_type: str, file_name: str, key: str | None = None
    ) -> StoredFile:
        """Store ``data`` under ``key`` or a new key."""

    @abc.abstractmethod
    def read_bytes(self, key: str, max_bytes: int) -> bytes:
        """The file's content. Raises NotFoundError if absent, FileTooLargeError past the cap."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the file. Deleting an absent (or malformed) key is not an error."""

    @abc.abstractmethod
    def put_part(self, upload: str, number: int, src: Path) -> None:
        """Keep a copy of ``src`` as part ``number`` of multipart upload ``upload`` (32 hex
        digits), replacing an earlier one. Parts live in the storage itself, so any API
        process of a fleet may take the next part or complete the upload."""

    @abc.abstractmethod
    def join_parts(
        self, upload: str, numbers: Sequence[int], *, key: str, content_type: str, file_name: str
    ) -> StoredFile:
        """Store the upload's parts, in the order of ``numbers``, as one file under ``key``,
        then delete every part of the upload. MissingPartError names the first absent one."""

    @abc.abstractmethod
    def drop_stale_parts(self, before: float) -> int:
        """Delete the parts of every upload whose newest part arrived before ``before`` (unix
        time): uploads that were abandoned. Returns how many uploads."""

    def download_url(self, key: str, method: str = "GET") -> str | None:
        """Where the API should redirect a ``GET``/``HEAD`` of ``/files/<key>``, or None when
        the API serves the bytes itself (the default). Raises NotFoundError if absent."""
        return None

    def url(self, key: str, base_url: str) -> str:
        """An absolute URL a client can download the file from: the API's ``/files/<key>``."""
        return f"{base_url.rstrip('/')}{FILES_PREFIX}{urllib.parse.quote(key)}"

    def key_from_url(self, url: str, base_urls: list[str]) -> str | None:
        """The key, when ``url`` names a file of this storage served at one of ``base_urls``."""
        parsed = urllib.parse.urlsplit(url)
        for base in base_urls:
            b = urllib.parse.urlsplit(base)
            prefix = b.path.rstrip("/") + FILES_PREFIX
            same_origin = (parsed.scheme, parsed.netloc) == (b.scheme, b.netloc)
            if same_origin and parsed.path.startswith(prefix):
                return urllib.parse.unquote(parsed.path[len(prefix) :])
        return None
