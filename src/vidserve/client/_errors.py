"""The client's errors, named and shaped as fal_client's."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


class FalClientError(Exception):
    """Base of the client's errors."""


@dataclass
class FalClientHTTPError(FalClientError):
    """A non-2xx answer. ``message`` is the body's ``detail`` (a string or, for a 422, the
    FastAPI-style list); ``error_type`` comes from the body or ``X-Fal-Error-Type``."""

    message: str
    status_code: int
    response_headers: dict[str, str]
    response: httpx.Response
    error_type: str | None = None

    def __str__(self) -> str:
        return f"{self.message}"


@dataclass
class FalClientTimeoutError(FalClientError, TimeoutError):
    """``subscribe(client_timeout=...)`` ran out of time (the request was cancelled)."""

    timeout: float
    request_id: str | None = None

    def __str__(self) -> str:
        if self.request_id is None:
            return f"Request timed out after {self.timeout} seconds"
        return f"Request {self.request_id} timed out after {self.timeout} seconds"


def raise_for_status(response: httpx.Response) -> None:
    """Raise :class:`FalClientHTTPError` for a 4xx/5xx answer."""
    if response.is_success:
        return
    message: object = response.text
    error_type = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("detail", response.text)
        error_type = body.get("error_type")
    raise FalClientHTTPError(
        message if isinstance(message, str) else str(message),
        response.status_code,
        dict(response.headers),
        response=response,
        error_type=error_type or response.headers.get("x-fal-error-type"),
    )
