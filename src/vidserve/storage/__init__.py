"""File storage behind :class:`FileStorage`: a local folder or an S3-compatible bucket.

``S3Storage`` lives in ``vidserve.storage.s3`` and is not imported here, so that processes
without S3 never load boto3; :func:`open_storage` imports it when a location needs it.
"""

from vidserve.storage.base import FileStorage, StorageFullError, StoredFile, safe_file_name
from vidserve.storage.factory import open_storage
from vidserve.storage.local import LocalStorage

__all__ = [
    "FileStorage",
    "LocalStorage",
    "StorageFullError",
    "StoredFile",
    "open_storage",
    "safe_file_name",
]
