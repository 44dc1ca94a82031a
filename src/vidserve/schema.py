"""Wire types shared by every layer: the request status, log entries and File objects.

These are the shapes fal's clients read (see ``reference/fal-protocol.md``); nothing here
imports anything of vidserve's.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypedDict  # pydantic reads this one, not typing's, before 3.12


class Status(StrEnum):
    """The three wire states of a queued request. There is no FAILED: a failure completes."""

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"

    @property
    def is_terminal(self) -> bool:
        return self is Status.COMPLETED


class LogLevel(StrEnum):
    """Levels a log entry may carry (``RequestLog.level`` in fal's JS client)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    STDOUT = "STDOUT"
    STDERR = "STDERR"


class ErrorType(StrEnum):
    """Every ``error_type`` vidserve reports: in a failed request's status, result and
    webhook, and in ``X-Fal-Error-Type`` of a call the API refused. :data:`HTTP_STATUS` gives
    each its HTTP status."""

    # A request that completed with an error.
    VALIDATION = "validation_error"  # an input that passed the schema but not the media checks
    FILE_DOWNLOAD = "file_download_error"
    IMAGE_LOAD = "image_load_error"
    CANCELLED = "request_cancelled"
    ENGINE = "engine_error"
    ENGINE_CRASHED = "engine_crashed"  # an engine's child process died (it was restarted)
    OUT_OF_MEMORY = "out_of_memory"
    ENCODING = "encoding_error"  # the video could not be encoded
    WORKER_LOST = "runner_disconnected"  # leases expired more often than attempts allow
    REQUEST_TIMEOUT = "request_timeout"  # not started within X-Fal-Request-Timeout
    # Infrastructure, never the engine's: workers hand such requests back to the queue rather
    # than fail them; these name the fault where one must be reported.
    STORE_UNAVAILABLE = "store_unavailable"  # the job store (database) did not answer
    STORE_BUSY = "store_busy"  # it answered, but could not do it now (locked, a deadlock)
    STORAGE_FULL = "storage_full"  # file storage (or a disk) has no room left
    STORAGE_UNAVAILABLE = "storage_unavailable"  # file storage did not answer
    # A call the API refused (no request is made).
    NOT_SERVED = "endpoint_not_served"  # the endpoint exists; no engine here makes its kind
    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate_limited"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INTERNAL = "internal_error"


#: The HTTP status of each error type: a failed request's result call and webhook, and the
#: API's answer to a call it refused. Field errors (a ``detail`` list) are 422 whatever the
#: type. The one table of them.
HTTP_STATUS: dict[ErrorType, int] = {
    ErrorType.VALIDATION: 422,
    ErrorType.FILE_DOWNLOAD: 422,
    ErrorType.IMAGE_LOAD: 422,
    ErrorType.CANCELLED: 400,
    ErrorType.ENGINE: 500,
    ErrorType.ENGINE_CRASHED: 500,
    ErrorType.OUT_OF_MEMORY: 500,
    ErrorType.ENCODING: 500,
    ErrorType.WORKER_LOST: 503,
    ErrorType.REQUEST_TIMEOUT: 504,
    ErrorType.STORE_UNAVAILABLE: 503,
    ErrorType.STORE_BUSY: 503,
    ErrorType.STORAGE_FULL: 507,  # Insufficient Storage
    ErrorType.STORAGE_UNAVAILABLE: 503,
    # Not 404 (the endpoint exists) nor a 5xx (nothing failed; fal's clients retry neither).
    ErrorType.NOT_SERVED: 400,
    ErrorType.NOT_FOUND: 404,
    ErrorType.UNAUTHORIZED: 401,
    ErrorType.RATE_LIMITED: 429,
    ErrorType.PAYLOAD_TOO_LARGE: 413,
    ErrorType.INTERNAL: 500,
}


def error_status_code(error_type: str | None, has_detail: bool) -> int:
    """The HTTP status a failed request's result answers with: 422 when it carries field
    errors, else by its ``error_type``."""
    if has_detail:
        return 422
    try:
        return HTTP_STATUS[ErrorType(error_type or ErrorType.ENGINE)]
    except ValueError:  # a type an operator's engine made up
        return 500


class StatusBody(TypedDict):
    """A request's status as the queue answers it (the status route, its SSE events and the
    submit's answer): fal's shape, plus ``progress`` in [0, 1] while running. The one
    definition: the server writes it, vidserve's client reads it, ``/openapi`` shows it."""

    status: Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    request_id: str
    response_url: str
    status_url: str
    cancel_url: str
    #: The log lines when asked for (``logs=1``), else null; the submit's answer has none.
    logs: NotRequired[list[dict[str, Any]] | None]
    #: IN_QUEUE: how many requests are ahead.
    queue_position: NotRequired[int]
    #: IN_PROGRESS.
    progress: NotRequired[float]
    #: COMPLETED: ``inference_time``, and the error when it failed.
    metrics: NotRequired[dict[str, Any]]
    error: NotRequired[str]
    error_type: NotRequired[str]
    #: The submit's answer: the id fal's gateway gave (the same here).
    gateway_request_id: NotRequired[str]


class LogEntry(BaseModel):
    """One log line as the status call returns it."""

    message: str
    level: LogLevel = LogLevel.INFO
    source: str = "USER"
    timestamp: str

    @staticmethod
    def iso(ts: float) -> str:
        """Format a unix time the way fal does: ISO-8601 in UTC."""
        return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat()


class File(BaseModel):
    """fal's File object: what every ``video`` output is."""

    model_config = ConfigDict(extra="forbid")

    url: str
    content_type: str | None = None
    file_name: str | None = None
    file_size: int | None = None


class Usage(BaseModel):
    """vidserve extension on every result: what the request delivered and cost."""

    video_seconds: float
    #: USD; None where fal publishes no price for the endpoint and none is configured.
    price_per_second: float | None = None
    cost: float | None = None  # USD, video_seconds x price_per_second
