"""The file storage interface.

Keys look like ``<32 hex>/<file name>``: the random part makes URLs unguessable, the name
keeps downloads friendly. Every backend's files are addressed by the API's ``/files/<key>``
URLs, so result URLs do not change when an operator moves files to another backend.
"""

from __future__ import annotations

import abc
import re
import secrets
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

#: Path under the API's base URL where stored files are served (or redirected from).
FILES_PREFIX = "/files/"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str | None, default: str = "file.bin") -> str:
    """A file name safe in a URL path and on any file system."""
    base = _UNSAFE.sub("_", (name or "").rsplit("/", 1)[-1]).strip("._")[:100]
    return base or default


def new_key(file_name: str | None) -> str:
    """A fresh, unguessable key for a file of that name."""
    return f"{secrets.token_hex(16)}/{safe_file_name(file_name)}"


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
