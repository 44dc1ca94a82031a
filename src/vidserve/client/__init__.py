"""vidserve's Python client: fal_client's surface (``run``, ``submit``, ``subscribe``,
``status``, ``result``, ``cancel``, uploads, request handles), pointed at a vidserve server.

``verify_webhook`` checks a webhook delivery's Ed25519 signature against the server's JWKS.

Importing it pulls in httpx, pydantic and cryptography only: no server, OpenCV or torch.
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
from vidserve.client._webhooks import WebhookVerificationError, verify_webhook

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
    "WebhookVerificationError",
    "encode",
    "encode_file",
    "encode_image",
    "verify_webhook",
]
