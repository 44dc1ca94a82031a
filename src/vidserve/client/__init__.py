"""vidserve's Python client: fal_client's surface (``run``, ``submit``, ``subscribe``,
``status``, ``result``, ``cancel``, uploads, request handles), pointed at a vidserve server.

Importing it pulls in httpx and pydantic only: no server, OpenCV or torch.
"""

from vidserve.client._client import (
    AsyncClient,
    AsyncRequestHandle,
    SyncClient,
    SyncRequestHandle,
)
from vidserve.client._encode import encode, encode_file, encode_image
from vidserve.client._errors import FalClientError, FalClientHTTPError, FalClientTimeoutError
from vidserve.client._status import Completed, InProgress, Queued, Status

__all__ = [
    "AsyncClient",
    "AsyncRequestHandle",
    "Completed",
    "FalClientError",
    "FalClientHTTPError",
    "FalClientTimeoutError",
    "InProgress",
    "Queued",
    "Status",
    "SyncClient",
    "SyncRequestHandle",
    "encode",
    "encode_file",
    "encode_image",
]
