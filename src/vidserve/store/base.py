"""The job store interface, implemented on SQLite and on PostgreSQL; one test suite
(``tests/store/``) runs against both.

Life of a request::

    create ──> IN_QUEUE ──claim──> IN_PROGRESS ──complete──> COMPLETED
                  │  ^                 │   │
                  │  └──── release ────┘   └─ lease expired: claimable again (attempts+1);
                  └─ cancel: COMPLETED        past max_attempts: COMPLETED with an error

Only the worker holding the lease (``worker_id``) may heartbeat, report progress or complete
a running request; a worker that lost its lease gets ``False`` back and must drop the job.

Besides the queue, the store keeps what must survive any one process:

* the webhook outbox: a request submitted with a webhook is PENDING delivery from the moment
  it completes (whichever way it completes), until a dispatcher records it DELIVERED or, out
  of attempts, FAILED. Claims of deliveries are leased, so a dispatcher that dies mid-way
  only delays one;
* start deadlines (``X-Fal-Request-Timeout``): a request still unstarted past its deadline
  is never claimed; :meth:`JobStore.expire_overdue` completes it with ``request_timeout``;
* expiring files (output lifetimes), which a sweeper deletes from file storage;
* the deployment's signing secret, shared by every process on the store;
* API keys (only a hash of each secret), and per request its owner (the key that submitted
  it) and usage (seconds of video, cost), for isolation, rate limits and ``/usage``;
* idempotency keys: a submit with an ``Idempotency-Key`` its owner already used within
  :data:`IDEMPOTENCY_SECONDS` gets the first request back instead of a new one;
* the dialect a request was made in (fal's queue or OpenAI's ``/v1/videos``), that
  dialect's own fields, and whether it was deleted (OpenAI's ``DELETE``).
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from vidserve.schema import Status

#: How long an ``Idempotency-Key`` names its first request.
IDEMPOTENCY_SECONDS = 24 * 3600.0


class Dialect(StrEnum):
    """The API a request was made through; each sees only its own requests."""

    FAL = "fal"
    OPENAI = "openai"


class IdempotencyConflictError(Exception):
    """An ``Idempotency-Key`` already names a request made with a different body."""

    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"This Idempotency-Key was used within the last 24 hours with a different body "
            f"(request {request_id}); use a new key for a new request"
        )
        self.request_id = request_id


@dataclass(frozen=True)
class SubmitLimits:
    """What an owner may have: submissions per ``window`` seconds, and requests queued or
    running at once (None: no limit)."""

    per_minute: int | None = None
    concurrent: int | None = None
    window: float = 60.0


#: What a caller over its concurrent limit is told to wait, in seconds.
BUSY_RETRY_SECONDS = 5.0


class LimitExceededError(Exception):
    """A submit over its owner's limits: ``which`` limit, and when to try again."""

    def __init__(self, which: str, limit: int, retry_after: float) -> None:
        super().__init__(f"{which} limit of {limit} reached")
        self.which = which
        self.limit = limit
        self.retry_after = retry_after


@dataclass(frozen=True)
class Idempotency:
    """A submit's ``Idempotency-Key`` and a digest of what it asked for."""

    key: str
    body_hash: str


@dataclass(frozen=True)
class IdempotentRequest:
    """The request an ``Idempotency-Key`` names, and the digest of its body."""

    request_id: str
    body_hash: str

    def check(self, body_hash: str) -> str:
        """The request id if ``body_hash`` is the same; IdempotencyConflictError if not."""
        if body_hash != self.body_hash:
            raise IdempotencyConflictError(self.request_id)
        return self.request_id


class Priority(IntEnum):
    """Claim order: lower first, then oldest first (``x-fal-queue-priority``)."""

    NORMAL = 0
    LOW = 1


class WebhookState(StrEnum):
    """Where a request's webhook delivery stands."""

    PENDING = "PENDING"  # waiting for the request to complete, or for a (re)try
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"  # every attempt failed


class CancelOutcome(StrEnum):
    """What a cancel did; the values are fal's cancel-response ``status`` strings."""

    CANCELLED = "OK"  # it was queued: completed as cancelled at once
    REQUESTED = "CANCELLATION_REQUESTED"  # it is running: the worker will stop it
    ALREADY_COMPLETED = "ALREADY_COMPLETED"
    NOT_FOUND = "NOT_FOUND"


@dataclass(frozen=True)
class NewJob:
    """A request as the API submits it."""

    request_id: str
    endpoint_id: str
    input: dict[str, Any]
    #: The address the client used (``http://host:port``); output URLs are built on it.
    base_url: str
    priority: Priority = Priority.NORMAL
    webhook_url: str | None = None
    #: Seconds the request may wait to start (``X-Fal-Request-Timeout``); None: no limit.
    start_timeout: float | None = None
    #: Seconds its outputs are kept once stored; None: for good.
    output_lifetime: float | None = None
    #: The id of the API key that submitted it; None on a server without keys.
    owner: str | None = None
    dialect: Dialect = Dialect.FAL
    #: The dialect's own fields (OpenAI's ``model``, ``size``, ``remixed_from_video_id``).
    dialect_fields: dict[str, Any] = field(default_factory=dict)
    idempotency: Idempotency | None = None
    #: Checked and recorded in one step with the request (exact under concurrency).
    limits: SubmitLimits | None = None


@dataclass(frozen=True)
class Job:
    """A request as the store holds it."""

    request_id: str
    endpoint_id: str
    input: dict[str, Any]
    base_url: str
    status: Status
    priority: Priority
    created_at: float
    webhook_url: str | None = None
    started_at: float | None = None
    completed_at: float | None = None
    worker_id: str | None = None
    lease_expires_at: float | None = None
    attempts: int = 0
    cancel_requested: bool = False
    progress: float | None = None
    #: Output JSON of a successful request.
    result: dict[str, Any] | None = None
    #: Set when the request completed with an error.
    error: str | None = None
    error_type: str | None = None
    #: FastAPI-style detail list for input errors found while running.
    error_detail: list[dict[str, Any]] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    #: Unix time after which an unstarted request times out.
    start_deadline: float | None = None
    output_lifetime: float | None = None
    #: None for requests without a webhook.
    webhook_state: WebhookState | None = None
    webhook_attempts: int = 0
    webhook_error: str | None = None
    owner: str | None = None
    #: Seconds of video delivered and what they cost; None unless completed with a result.
    video_seconds: float | None = None
    cost: float | None = None
    dialect: Dialect = Dialect.FAL
    dialect_fields: dict[str, Any] = field(default_factory=dict)
    #: When it was deleted (its outputs gone); deleted requests are found by no dialect.
    deleted_at: float | None = None

    @property
    def failed(self) -> bool:
        return self.status.is_terminal and self.error is not None


@dataclass(frozen=True)
class ApiKey:
    """An API key as the store keeps it: never the secret itself."""

    id: str
    name: str
    created_at: float
    revoked_at: float | None = None
    #: Submissions per minute and requests queued or running at once; None: the defaults.
    rate_per_minute: int | None = None
    max_concurrent: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def from_row(cls, row: Any) -> ApiKey:
        """From a backend's row of its keys table (columns by name)."""
        return cls(
            id=row["id"],
            name=row["name"],
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
            rate_per_minute=row["rate_per_minute"],
            max_concurrent=row["max_concurrent"],
        )


@dataclass(frozen=True)
class UsageRow:
    """Completed requests of one owner on one endpoint within a period."""

    owner: str | None
    endpoint_id: str
    requests: int
    video_seconds: float
    cost: float


def secret_hash(secret: str) -> str:
    """How a key's secret is stored: secrets are 256 random bits, so one SHA-256 suffices
    (no password stretching is needed against guessing)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key_material() -> tuple[str, str]:
    """A fresh key id and secret."""
    return f"key_{secrets.token_hex(6)}", secrets.token_urlsafe(32)


@dataclass(frozen=True)
class LogRecord:
    """One stored log line; ``seq`` increases per request from 1."""

    seq: int
    timestamp: float
    level: str
    message: str


@dataclass(frozen=True)
class StatusView:
    """What a status poll shows of a request, read in one go: the few columns it needs (not
    the input or the result), its queue position while queued and, when asked, log lines."""

    request_id: str
    endpoint_id: str
    owner: str | None
    status: Status
    progress: float | None
    inference_time: float | None
    error: str | None
    error_type: str | None
    #: Requests ahead of it in claim order; None unless IN_QUEUE.
    position: int | None
    #: Log lines after the asked-for number; None when not asked for.
    logs: list[LogRecord] | None
    dialect: Dialect = Dialect.FAL
    deleted: bool = False

    @classmethod
    def from_row(cls, row: Any, logs: list[LogRecord] | None) -> StatusView:
        """From a backend's row holding the view's columns by name (``inference_time`` and
        ``position`` as the status query computes them)."""
        return cls(
            request_id=row["request_id"],
            endpoint_id=row["endpoint_id"],
            owner=row["owner"],
            status=Status(row["status"]),
            progress=row["progress"],
            inference_time=row["inference_time"],
            error=row["error"],
            error_type=row["error_type"],
            position=row["position"],
            logs=logs,
            dialect=Dialect(row["dialect"]),
            deleted=row["deleted_at"] is not None,
        )


#: One status read: a request id, and the log number after which to include its log lines
#: (None: no logs).
StatusRead = tuple[str, int | None]


@dataclass(frozen=True)
class WorkStats:
    """Requests of one endpoint in one active status: how many, and since when the oldest
    (its ``created_at``). What ``/metrics`` shows and autoscalers watch."""

    endpoint_id: str
    status: Status
    count: int
    oldest_created_at: float


@dataclass(frozen=True)
class RenderFigures:
    """How one endpoint's renders went over a recent window (requests completed with a
    result): how many, their mean time, and, where engines measured them, mean seconds per
    denoising step and the highest peak GPU memory. What ``/metrics`` shows."""

    endpoint_id: str
    count: int
    inference_seconds: float | None
    seconds_per_step: float | None
    peak_gpu_memory_mb: float | None


@dataclass(frozen=True)
class Heartbeat:
    """Answer to a heartbeat: whether the lease is still ours, and whether to stop."""

    owned: bool
    cancel_requested: bool


def limit_exceeded(
    limits: SubmitLimits, now: float, recent: int, oldest: float | None, active: int
) -> LimitExceededError | None:
    """Whether a new submission breaks ``limits``, given the owner's submissions within the
    window (how many, the oldest one's time) and its requests queued or running."""
    if limits.per_minute is not None and recent >= limits.per_minute:
        wait = (oldest if oldest is not None else now) + limits.window - now
        return LimitExceededError("per_minute", limits.per_minute, max(wait, 0.0))
    if limits.concurrent is not None and active >= limits.concurrent:
        return LimitExceededError("concurrent", limits.concurrent, BUSY_RETRY_SECONDS)
    return None


def timeout_message(timeout: float) -> str:
    """The error of a request that missed its start deadline."""
    return f"The request did not start within its {timeout:g} s start timeout"


def webhook_state_after(delivered: bool, retry_at: float | None) -> WebhookState:
    """A webhook's state after one attempt."""
    if delivered:
        return WebhookState.DELIVERED
    return WebhookState.FAILED if retry_at is None else WebhookState.PENDING


#: One log line to add: (timestamp, level, message).
LogLine = tuple[float, str, str]


class Queue(abc.ABC):
    """Requests and their logs: submitting, claiming, leases, completing, cancelling and
    reading them. Every method is safe to call from several threads."""

    #: Whether reads are local and take microseconds (SQLite): the API then makes status
    #: reads inline on its event loop, one by one, instead of through :meth:`read_status`.
    quick_reads: bool = False

    @abc.abstractmethod
    def create(self, job: NewJob) -> Job:
        """Record a new IN_QUEUE request. In the same atomic step: with
        ``job.idempotency``, when its owner used the key within :data:`IDEMPOTENCY_SECONDS`,
        the request it names is returned instead (nothing is created) if the body hash
        matches, and :class:`IdempotencyConflictError` raised if not; with ``job.limits``,
        :class:`LimitExceededError` when the owner already has as many submissions in the
        window, or requests queued and running, as the limits allow."""

    @abc.abstractmethod
    def idempotent(self, owner: str | None, key: str) -> IdempotentRequest | None:
        """The request ``owner``'s ``Idempotency-Key`` named within
        :data:`IDEMPOTENCY_SECONDS`, if any."""

    @abc.abstractmethod
    def list_requests(
        self,
        owner: str | None,
        dialect: Dialect,
        *,
        after: str | None = None,
        limit: int = 20,
        newest_first: bool = True,
    ) -> list[Job]:
        """Up to ``limit`` of ``owner``'s requests made in ``dialect`` and not deleted, in
        submission order (newest first unless told otherwise), after the request ``after``
        in that order (a cursor: paging holds while new requests arrive)."""

    @abc.abstractmethod
    def delete(self, request_id: str) -> bool:
        """Mark the request deleted and drop its log lines; False if it was already. Its
        files are the caller's to delete; its usage stays counted."""

    @abc.abstractmethod
    def get(self, request_id: str) -> Job | None:
        """The request, or None if unknown."""

    @abc.abstractmethod
    def status_views(self, reads: Sequence[StatusRead]) -> list[StatusView | None]:
        """For each read, in order, the request's :class:`StatusView` (None if unknown).
        Many reads in one call cost about one: the API gathers concurrent polls into one.
        Each request's row is read before its log lines, so a COMPLETED request's lines
        are all there."""

    async def read_status(self, reads: Sequence[StatusRead]) -> list[StatusView | None]:
        """:meth:`status_views` for code on an event loop, which it must not block: here on
        a worker thread. PostgreSQL reads over an async connection of its own instead (a
        thread hand-off waits for the GIL, up to milliseconds on a busy event loop)."""
        return await asyncio.to_thread(self.status_views, reads)

    @abc.abstractmethod
    def work_stats(self) -> list[WorkStats]:
        """Per endpoint, the requests IN_QUEUE and IN_PROGRESS (none where there are none)."""

    @abc.abstractmethod
    def render_figures(self, since: float) -> list[RenderFigures]:
        """Per endpoint with requests completed with a result since ``since``, their
        :class:`RenderFigures` (from the metrics workers stored with each)."""

    def queue_position(self, request_id: str) -> int | None:
        """How many IN_QUEUE requests would be claimed before this one; None unless queued."""
        (view,) = self.status_views([(request_id, None)])
        return None if view is None else view.position

    @abc.abstractmethod
    def claim(
        self, worker_id: str, lease_seconds: float, endpoint_ids: Collection[str] | None = None
    ) -> Job | None:
        """Take the next request: IN_QUEUE by (priority, age), or IN_PROGRESS whose lease
        expired. Sets IN_PROGRESS, the lease and ``attempts + 1``. A request whose attempts
        would exceed the store's ``max_attempts`` is completed with ``error_type``
        ``runner_disconnected`` instead and skipped. None when nothing is claimable."""

    @abc.abstractmethod
    def heartbeat(self, request_id: str, worker_id: str, lease_seconds: float) -> Heartbeat:
        """Extend the lease if ``worker_id`` holds it."""

    @abc.abstractmethod
    def set_progress(self, request_id: str, worker_id: str, progress: float) -> bool:
        """Record progress in [0, 1]; False if the lease is not ours."""

    @abc.abstractmethod
    def add_log(
        self, request_id: str, message: str, level: str = "INFO", timestamp: float | None = None
    ) -> None:
        """Append a log line."""

    def add_logs(self, request_id: str, lines: Sequence[LogLine]) -> None:
        """Append ``lines`` (timestamp, level, message) in order, numbered consecutively."""
        for timestamp, level, message in lines:
            self.add_log(request_id, message, level, timestamp)

    @abc.abstractmethod
    def logs(self, request_id: str, after_seq: int = 0) -> list[LogRecord]:
        """Log lines with ``seq > after_seq``, oldest first."""

    @abc.abstractmethod
    def complete(
        self,
        request_id: str,
        worker_id: str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        error_type: str | None = None,
        error_detail: list[dict[str, Any]] | None = None,
        metrics: dict[str, Any] | None = None,
        video_seconds: float | None = None,
        cost: float | None = None,
    ) -> bool:
        """Mark COMPLETED with a result (and its usage) or an error. Only the lease holder
        may; False (and no change) otherwise, so a request never completes twice."""

    @abc.abstractmethod
    def release(self, request_id: str, worker_id: str) -> bool:
        """Hand a running request back to the queue without counting the attempt."""

    @abc.abstractmethod
    def cancel(self, request_id: str) -> CancelOutcome:
        """Queued: complete it as cancelled now. Running: flag it for its worker."""

    @abc.abstractmethod
    def expire_leases(self) -> int:
        """Expire every running lease now (the embedded server does this at start, when it
        knows no other process holds one). Returns how many were expired."""

    @abc.abstractmethod
    def expire_overdue(self) -> int:
        """Complete every queued, never-started request past its start deadline with
        ``error_type`` ``request_timeout``. Returns how many."""


class WebhookOutbox(abc.ABC):
    """Webhooks to deliver: a completed request with a webhook is PENDING until delivered
    or, out of attempts, FAILED."""

    @abc.abstractmethod
    def claim_webhooks(self, limit: int, lease_seconds: float) -> list[Job]:
        """Up to ``limit`` completed requests whose webhook is due (PENDING, and its next
        attempt time reached), oldest first, each leased for ``lease_seconds``: no other
        claimer gets it back before the lease ends or an attempt is recorded."""

    @abc.abstractmethod
    def record_webhook_attempt(
        self, request_id: str, *, delivered: bool, error: str | None, retry_at: float | None
    ) -> None:
        """Count one delivery attempt: DELIVERED; or PENDING again from ``retry_at``; or,
        with no ``retry_at``, FAILED for good. ``error`` says what went wrong."""

    @abc.abstractmethod
    def pending_webhooks(self) -> int:
        """Completed requests whose webhook is still to be delivered (due or retrying)."""


class FileLedger(abc.ABC):
    """Stored files to delete once their lifetime ends."""

    @abc.abstractmethod
    def add_expiring_file(self, key: str, expires_at: float) -> None:
        """Remember that the stored file ``key`` is to be deleted after ``expires_at``."""

    @abc.abstractmethod
    def expired_files(self, limit: int) -> list[str]:
        """Keys of up to ``limit`` files past their expiry, oldest first."""

    @abc.abstractmethod
    def forget_files(self, keys: Collection[str]) -> None:
        """Drop expired files from the list once storage has deleted them."""


class KeyStore(abc.ABC):
    """The deployment's secret and its API keys."""

    @abc.abstractmethod
    def deployment_secret(self) -> str:
        """A random secret made on first use and the same for every process on this
        store: it signs upload URLs and derives the webhook signing key."""

    @abc.abstractmethod
    def create_key(
        self, name: str, *, rate_per_minute: int | None = None, max_concurrent: int | None = None
    ) -> tuple[ApiKey, str]:
        """A new key and its secret; only the secret's hash is kept, so this is the one time
        the secret is known."""

    @abc.abstractmethod
    def keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""

    @abc.abstractmethod
    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; False if there is no such active key."""

    @abc.abstractmethod
    def find_key(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None."""

    @abc.abstractmethod
    def has_keys(self) -> bool:
        """Whether keys are in use: any was ever created, revoked ones included (then every
        caller must present an active one; revoking the last key must not open the server)."""

    @abc.abstractmethod
    def get_key(self, key_id: str) -> ApiKey | None:
        """The key with this id, revoked or not; None if there is none."""


class UsageLedger(abc.ABC):
    """Seconds of video delivered and their cost, per owner and endpoint."""

    @abc.abstractmethod
    def usage(
        self, owner: str | None, since: float, until: float, *, all_owners: bool = False
    ) -> list[UsageRow]:
        """Requests completed with a result in ``[since, until)``, summed per owner and
        endpoint: ``owner``'s, or everyone's with ``all_owners``."""


class JobStore(Queue, WebhookOutbox, FileLedger, KeyStore, UsageLedger):
    """Everything the service keeps: each concern an interface of its own, so a backend
    implements (and the shared suite in ``tests/store/`` checks) each separately."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
