"""The file storage interface.

Keys look like ``<32 hex>/<file name>``: the random part makes URLs unguessable, the name
keeps downloads friendly.
"""

from __future__ import annotations

import abc
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str | None, default: str = "file.bin") -> str:
    """A file name safe in a URL path and on any file system."""
    base = _UNSAFE.sub("_", (name or "").rsplit("/", 1)[-1]).strip("._")[:100]
    return base or default


def new_key(file_name: str | None) -> str:
    """A fresh, unguessable key for a file of that name."""
    return f"{secrets.token_hex(16)}/{safe_file_name(file_name)}"


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
    def url(self, key: str, base_url: str) -> str:
        """An absolute URL a client can download the file from."""

    @abc.abstractmethod
    def key_from_url(self, url: str, base_urls: list[str]) -> str | None:
        """The key, when ``url`` names a file of this storage served at one of ``base_urls``."""
