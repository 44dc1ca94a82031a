"""How the API answers a call it refuses or fails, in one place: each exception is read once
as a :class:`Refusal` (an :class:`~vidserve.schema.ErrorType`, whose HTTP status is
:data:`~vidserve.schema.HTTP_STATUS`'s, a message without server paths, field errors and
headers), then written in the caller's dialect: fal's here (:func:`fal_response`), OpenAI's
in :mod:`vidserve.api.openai_videos`.

fal's shape: field errors are ``422 {"detail": [{"loc", "msg", "type"}]}``; anything else is
``{"detail": message, "error_type": type}`` with the type in ``X-Fal-Error-Type`` too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from vidserve.api.auth import AuthError, RateLimitError
from vidserve.api.reads import RETRY_AFTER, StoreHealth
from vidserve.api.wire import ERROR_TYPE_HEADER, PayloadTooLargeError
from vidserve.errors import InputError, NotFoundError, NotServedError
from vidserve.faults import Fault
from vidserve.schema import HTTP_STATUS, ErrorType

logger = logging.getLogger(__name__)

_FULL = "The server's disk is full: nothing more can be stored until space is freed"
_BUSY = "The job store is busy; retry shortly"
_RETRY = {"Retry-After": str(RETRY_AFTER), "X-Fal-Retryable": "true"}


@dataclass(frozen=True)
class Refusal:
    """What the API answers instead of a result."""

    error_type: ErrorType
    message: str
    #: FastAPI-style field errors: a 422 (OpenAI's dialect: a 400 naming the parameter).
    details: list[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return 422 if self.details is not None else HTTP_STATUS[self.error_type]


def store_down(reason: str) -> Refusal:
    """The answer while the job store is unreachable."""
    message = f"The job store is unavailable ({reason}); retry shortly"
    return Refusal(ErrorType.STORE_UNAVAILABLE, message, headers=_RETRY)


def refusal_of(exc: Exception, request: Request) -> Refusal:
    """How to answer ``exc``, raised while serving ``request`` (a store that turns out to be
    down opens the app's breaker: :class:`~vidserve.api.reads.StoreHealth`)."""
    if isinstance(exc, InputError):
        return Refusal(ErrorType.VALIDATION, str(exc), exc.details)
    if isinstance(exc, RequestValidationError):
        details = jsonable_encoder(exc.errors())
        return Refusal(ErrorType.VALIDATION, "Invalid request", details)
    if isinstance(exc, NotServedError):
        return Refusal(ErrorType.NOT_SERVED, str(exc))
    if isinstance(exc, NotFoundError):
        return Refusal(ErrorType.NOT_FOUND, str(exc))
    if isinstance(exc, AuthError):
        return Refusal(ErrorType.UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Key"})
    if isinstance(exc, RateLimitError):
        message = f"{exc}; retry in {exc.retry_after} s"
        headers = {"Retry-After": str(exc.retry_after)}
        return Refusal(ErrorType.RATE_LIMITED, message, headers=headers)
    if isinstance(exc, PayloadTooLargeError):
        return Refusal(ErrorType.PAYLOAD_TOO_LARGE, str(exc))
    health: StoreHealth = request.app.state.ctx.health
    fault = health.note(exc)
    where = f"{request.method} {request.url.path}"
    if fault is Fault.STORAGE_FULL:
        logger.warning("%s: no space left (%s)", where, _kind(exc))
        return Refusal(ErrorType.STORAGE_FULL, _FULL)
    if fault is Fault.STORE_BUSY:
        logger.warning("%s: store busy (%s)", where, _kind(exc))
        return Refusal(ErrorType.STORE_BUSY, _BUSY, headers=_RETRY)
    if fault is Fault.STORE:
        return store_down(health.down.reason if health.down else "the database does not answer")
    logger.error("unhandled error on %s", where, exc_info=exc)
    return Refusal(ErrorType.INTERNAL, "Internal server error")


def fal_response(refusal: Refusal) -> JSONResponse:
    """``refusal`` in fal's shape."""
    if refusal.details is not None:
        return JSONResponse({"detail": refusal.details}, 422, headers=refusal.headers)
    body = {"detail": refusal.message, "error_type": refusal.error_type.value}
    headers = {**refusal.headers, ERROR_TYPE_HEADER: refusal.error_type.value}
    return JSONResponse(body, refusal.status, headers=headers)


def _kind(exc: Exception) -> str:
    """An error's type and SQLSTATE or errno, for a log line (its message may be long)."""
    code = getattr(exc, "sqlstate", None) or getattr(exc, "errno", None)
    return type(exc).__name__ + (f" {code}" if code else "")
