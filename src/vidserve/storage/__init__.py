"""File storage behind :class:`FileStorage`: a local folder now, S3-compatible later."""

from vidserve.storage.base import FileStorage, StoredFile, safe_file_name
from vidserve.storage.local import LocalStorage

__all__ = ["FileStorage", "LocalStorage", "StoredFile", "safe_file_name"]
