"""The SQLite job store: one file, WAL mode, safe across threads and processes.

Every write that reads before it writes runs inside ``BEGIN IMMEDIATE``, which takes the
database's write lock up front, so two claimers (threads or processes) can never pick the
same row. Each thread gets its own connection; SQLite connections must not be shared
between threads while in use.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vidserve.schema import ErrorType, LogLevel, Status
from vidserve.store.base import (
    IDEMPOTENCY_SECONDS,
    ApiKey,
    CancelOutcome,
    Dialect,
    Heartbeat,
    IdempotentRequest,
    Job,
    JobStore,
    LogRecord,
    NewJob,
    Priority,
    StatusRead,
    StatusView,
    SubmitLimits,
    UsageRow,
    WebhookState,
    WorkStats,
    limit_exceeded,
    new_key_material,
    secret_hash,
    timeout_message,
    webhook_state_after,
)

__all__ = ["MIGRATIONS", "SQLiteJobStore"]

#: Schema migrations, applied in order; step ``i`` moves the schema to version ``i + 1``.
#: Append new steps, never edit old ones: databases in the field are at older versions.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """
        CREATE TABLE requests (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT UNIQUE NOT NULL,
            endpoint_id TEXT NOT NULL,
            input TEXT NOT NULL,
            base_url TEXT NOT NULL,
            status TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            started_at REAL,
            completed_at REAL,
            worker_id TEXT,
            lease_expires_at REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            progress REAL,
            result TEXT,
            error TEXT,
            error_type TEXT,
            error_detail TEXT,
            metrics TEXT,
            webhook_url TEXT
        )
        """,
        "CREATE INDEX requests_claim ON requests (status, priority, seq)",
        "CREATE INDEX requests_lease ON requests (status, lease_expires_at)",
        """
        CREATE TABLE logs (
            request_id TEXT NOT NULL
                REFERENCES requests (request_id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            timestamp REAL NOT NULL,
            level TEXT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (request_id, seq)
        )
        """,
    ),
    (
        # Start deadlines, output lifetimes, the webhook outbox (on the request row: a
        # request is in the outbox from the moment it completes), expiring files, and the
        # deployment's secret.
        "ALTER TABLE requests ADD COLUMN start_deadline REAL",
        "ALTER TABLE requests ADD COLUMN output_lifetime REAL",
        "ALTER TABLE requests ADD COLUMN webhook_state TEXT",
        "ALTER TABLE requests ADD COLUMN webhook_attempts INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE requests ADD COLUMN webhook_next_at REAL",
        "ALTER TABLE requests ADD COLUMN webhook_error TEXT",
        """
        CREATE INDEX requests_webhooks ON requests (completed_at)
            WHERE webhook_state = 'PENDING' AND status = 'COMPLETED'
        """,
        "CREATE TABLE expiring_files (key TEXT PRIMARY KEY, expires_at REAL NOT NULL)",
        "CREATE INDEX expiring_files_at ON expiring_files (expires_at)",
        "CREATE TABLE deployment (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    (
        # API keys, each request's owner (its key) and usage.
        """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            secret_hash TEXT UNIQUE NOT NULL,
            created_at REAL NOT NULL,
            revoked_at REAL,
            rate_per_minute INTEGER,
            max_concurrent INTEGER
        )
        """,
        "ALTER TABLE requests ADD COLUMN owner TEXT",
        "ALTER TABLE requests ADD COLUMN video_seconds REAL",
        "ALTER TABLE requests ADD COLUMN cost REAL",
        "CREATE INDEX requests_owner ON requests (owner, created_at)",
        "CREATE INDEX requests_completed ON requests (completed_at)",
    ),
    (
        # Dialects (OpenAI's /v1/videos lists, retrieves and deletes its own), and
        # idempotency keys per owner ('' on a server without keys).
        "ALTER TABLE requests ADD COLUMN dialect TEXT NOT NULL DEFAULT 'fal'",
        "ALTER TABLE requests ADD COLUMN dialect_fields TEXT",
        "ALTER TABLE requests ADD COLUMN deleted_at REAL",
        "CREATE INDEX requests_listing ON requests (owner, dialect, seq)",
        """
        CREATE TABLE idempotency_keys (
            owner TEXT NOT NULL,
            key TEXT NOT NULL,
            request_id TEXT NOT NULL,
            body_hash TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (owner, key)
        )
        """,
        "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)",
    ),
]

_CANCELLED_MESSAGE = "Request was cancelled"

# Queued, or running on a lost lease; never a request that missed its start deadline.
_CLAIMABLE = """
    SELECT * FROM requests
    WHERE (status = 'IN_QUEUE' OR (status = 'IN_PROGRESS' AND lease_expires_at < :now))
      AND (start_deadline IS NULL OR started_at IS NOT NULL OR start_deadline >= :now)
"""


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


#: A status poll's columns and, while queued, the position: two counts, each a range of the
#: (status, priority, seq) index (an OR of the two would scan every queued row).
_STATUS_VIEW = """
SELECT request_id, endpoint_id, owner, status, progress, error, error_type, dialect,
       deleted_at, json_extract(metrics, '$.inference_time') AS inference_time,
       CASE WHEN r.status = :queued THEN (
           SELECT COUNT(*) FROM requests AS o
           WHERE o.status = :queued AND o.priority < r.priority
       ) + (
           SELECT COUNT(*) FROM requests AS o
           WHERE o.status = :queued AND o.priority = r.priority AND o.seq < r.seq
       ) END AS position
FROM requests AS r
WHERE r.request_id = :id
"""


#: A page of an owner's requests in one dialect, after a cursor request (if any).
_LIST = """
SELECT * FROM requests
WHERE owner IS :owner AND dialect = :dialect AND deleted_at IS NULL
  AND (:after IS NULL OR seq {} (SELECT seq FROM requests WHERE request_id = :after))
ORDER BY seq {} LIMIT :limit
"""
_LIST_NEWEST_FIRST = _LIST.format("<", "DESC")
_LIST_OLDEST_FIRST = _LIST.format(">", "ASC")


def _row_to_job(row: sqlite3.Row) -> Job:
    return Job(
        request_id=row["request_id"],
        endpoint_id=row["endpoint_id"],
        input=json.loads(row["input"]),
        base_url=row["base_url"],
        status=Status(row["status"]),
        priority=Priority(row["priority"]),
        created_at=row["created_at"],
        webhook_url=row["webhook_url"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        attempts=row["attempts"],
        cancel_requested=bool(row["cancel_requested"]),
        progress=row["progress"],
        result=_loads(row["result"]),
        error=row["error"],
        error_type=row["error_type"],
        error_detail=_loads(row["error_detail"]),
        metrics=_loads(row["metrics"]) or {},
        start_deadline=row["start_deadline"],
        output_lifetime=row["output_lifetime"],
        webhook_state=None if row["webhook_state"] is None else WebhookState(row["webhook_state"]),
        webhook_attempts=row["webhook_attempts"],
        webhook_error=row["webhook_error"],
        owner=row["owner"],
        video_seconds=row["video_seconds"],
        cost=row["cost"],
        dialect=Dialect(row["dialect"]),
        dialect_fields=_loads(row["dialect_fields"]) or {},
        deleted_at=row["deleted_at"],
    )


class SQLiteJobStore(JobStore):
    """:class:`JobStore` on a SQLite file.

    ``max_attempts`` bounds how often a request may be started before a lost worker counts
    as a failure; ``clock`` gives the current unix time (tests pass a fake one).
    """

    quick_reads = True

    def __init__(
        self,
        path: Path | str,
        *,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.path = Path(path)
        self.max_attempts = max_attempts
        self._clock = clock
        self._local = threading.local()
        # Every connection opened, whichever thread opened it, so close() can reach them all.
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    # -- connections and transactions -------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._lock:
            if self._closed:
                raise RuntimeError("the job store is closed")
            # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread=False
            # only so close() may close it from another thread; each thread uses its own.
            conn = sqlite3.connect(
                self.path, timeout=5.0, isolation_level=None, check_same_thread=False
            )
            self._connections.append(conn)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database's write lock from its first statement."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # SQLite may already have rolled back on its own
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
                version = 0
            else:
                version = int(row["version"])
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"{self.path} has schema version {version}; this vidserve knows "
                    f"only up to {len(MIGRATIONS)}"
                )
            for step in MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))

    def close(self) -> None:
        """Close every connection this store opened; the store is unusable afterwards."""
        with self._lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # -- reads --------------------------------------------------------------------------

    def get(self, request_id: str) -> Job | None:
        """The request, or None if unknown."""
        row = (
            self._conn()
            .execute("SELECT * FROM requests WHERE request_id = ?", (request_id,))
            .fetchone()
        )
        return None if row is None else _row_to_job(row)

    def status_views(self, reads: Sequence[StatusRead]) -> list[StatusView | None]:
        """For each read, its :class:`StatusView` (None if unknown): one statement for the
        row and its position, then one for the log lines if asked."""
        conn = self._conn()
        views: list[StatusView | None] = []
        for request_id, logs_after in reads:
            row = conn.execute(
                _STATUS_VIEW, {"queued": Status.IN_QUEUE.value, "id": request_id}
            ).fetchone()
            if row is None:
                views.append(None)
                continue
            records = None if logs_after is None else self.logs(request_id, logs_after)
            views.append(StatusView.from_row(row, records))
        return views

    def work_stats(self) -> list[WorkStats]:
        """Per endpoint, the requests queued and running (see :meth:`JobStore.work_stats`)."""
        rows = (
            self._conn()
            .execute(
                """
                SELECT endpoint_id, status, COUNT(*) AS n, MIN(created_at) AS oldest
                FROM requests WHERE status IN ('IN_QUEUE', 'IN_PROGRESS')
                GROUP BY endpoint_id, status ORDER BY endpoint_id, status
                """
            )
            .fetchall()
        )
        return [WorkStats(r["endpoint_id"], Status(r["status"]), r["n"], r["oldest"]) for r in rows]

    def pending_webhooks(self) -> int:
        """Webhooks still to deliver (see :meth:`JobStore.pending_webhooks`)."""
        row = (
            self._conn()
            .execute(
                "SELECT COUNT(*) FROM requests"
                " WHERE webhook_state = 'PENDING' AND status = 'COMPLETED'"
            )
            .fetchone()
        )
        return int(row[0])

    def logs(self, request_id: str, after_seq: int = 0) -> list[LogRecord]:
        """Log lines with ``seq > after_seq``, oldest first."""
        rows = (
            self._conn()
            .execute(
                "SELECT seq, timestamp, level, message FROM logs"
                " WHERE request_id = ? AND seq > ? ORDER BY seq",
                (request_id, after_seq),
            )
            .fetchall()
        )
        return [LogRecord(r["seq"], r["timestamp"], r["level"], r["message"]) for r in rows]

    # -- writes -------------------------------------------------------------------------

    def create(self, job: NewJob) -> Job:
        """Record a new IN_QUEUE request, or find the one its idempotency key names (see
        :meth:`JobStore.create`); a duplicate ``request_id`` raises
        :class:`sqlite3.IntegrityError`."""
        now = self._clock()
        with self._write() as conn:
            if job.idempotency is not None:
                earlier = self._claim_idempotency_key(conn, job, now)
                if earlier is not None:
                    return self._get(conn, earlier)
            if job.limits is not None:
                self._check_limits(conn, job.owner, job.limits, now)
            conn.execute(
                """
                INSERT INTO requests
                    (request_id, endpoint_id, input, base_url, status, priority, created_at,
                     webhook_url, webhook_state, start_deadline, output_lifetime, owner,
                     dialect, dialect_fields)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    job.request_id,
                    job.endpoint_id,
                    json.dumps(job.input),
                    job.base_url,
                    Status.IN_QUEUE.value,
                    int(job.priority),
                    now,
                    job.webhook_url,
                    None if job.webhook_url is None else WebhookState.PENDING.value,
                    None if job.start_timeout is None else now + job.start_timeout,
                    job.output_lifetime,
                    job.owner,
                    job.dialect.value,
                    _dumps(job.dialect_fields or None),
                ),
            )
            return self._get(conn, job.request_id)

    @staticmethod
    def _get(conn: sqlite3.Connection, request_id: str) -> Job:
        row = conn.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        return _row_to_job(row)

    def _claim_idempotency_key(
        self, conn: sqlite3.Connection, job: NewJob, now: float
    ) -> str | None:
        """Inside a write: the id of the request ``job``'s key already names (checking the
        body hash), or None after recording the key for ``job``."""
        assert job.idempotency is not None  # noqa: S101 - callers check
        conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?", (now - IDEMPOTENCY_SECONDS,)
        )
        owner, key = job.owner or "", job.idempotency.key
        row = conn.execute(
            "SELECT request_id, body_hash FROM idempotency_keys WHERE owner = ? AND key = ?",
            (owner, key),
        ).fetchone()
        if row is not None:
            earlier = IdempotentRequest(row["request_id"], row["body_hash"])
            return earlier.check(job.idempotency.body_hash)
        conn.execute(
            "INSERT INTO idempotency_keys (owner, key, request_id, body_hash, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (owner, key, job.request_id, job.idempotency.body_hash, now),
        )
        return None

    @staticmethod
    def _check_limits(
        conn: sqlite3.Connection, owner: str | None, limits: SubmitLimits, now: float
    ) -> None:
        """Inside the write that records a request: LimitExceededError if it breaks
        ``limits`` (the write lock makes the count and the insert one step)."""
        row = conn.execute(
            """
            SELECT (SELECT COUNT(*) FROM requests WHERE owner IS :owner AND created_at > :since)
                       AS recent,
                   (SELECT MIN(created_at) FROM requests
                    WHERE owner IS :owner AND created_at > :since) AS oldest,
                   (SELECT COUNT(*) FROM requests
                    WHERE owner IS :owner AND status IN ('IN_QUEUE', 'IN_PROGRESS')) AS active
            """,
            {"owner": owner, "since": now - limits.window},
        ).fetchone()
        exceeded = limit_exceeded(limits, now, row["recent"], row["oldest"], row["active"])
        if exceeded is not None:
            raise exceeded

    def idempotent(self, owner: str | None, key: str) -> IdempotentRequest | None:
        """The request ``owner``'s key names, if used within the last day."""
        row = (
            self._conn()
            .execute(
                "SELECT request_id, body_hash FROM idempotency_keys"
                " WHERE owner = ? AND key = ? AND created_at >= ?",
                (owner or "", key, self._clock() - IDEMPOTENCY_SECONDS),
            )
            .fetchone()
        )
        return None if row is None else IdempotentRequest(row["request_id"], row["body_hash"])

    def list_requests(
        self,
        owner: str | None,
        dialect: Dialect,
        *,
        after: str | None = None,
        limit: int = 20,
        newest_first: bool = True,
    ) -> list[Job]:
        """``owner``'s requests in ``dialect`` (see :meth:`JobStore.list_requests`)."""
        rows = (
            self._conn()
            .execute(
                _LIST_NEWEST_FIRST if newest_first else _LIST_OLDEST_FIRST,
                {"owner": owner, "dialect": dialect.value, "after": after, "limit": limit},
            )
            .fetchall()
        )
        return [_row_to_job(row) for row in rows]

    def delete(self, request_id: str) -> bool:
        """Mark it deleted and drop its log lines."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE requests SET deleted_at = ? WHERE request_id = ? AND deleted_at IS NULL",
                (self._clock(), request_id),
            )
            conn.execute("DELETE FROM logs WHERE request_id = ?", (request_id,))
            return cur.rowcount > 0

    def claim(
        self, worker_id: str, lease_seconds: float, endpoint_ids: Collection[str] | None = None
    ) -> Job | None:
        """Take the next claimable request (see :meth:`JobStore.claim`).

        Rows found cancelled or out of attempts on the way are completed and skipped within
        the same call."""
        if endpoint_ids is not None and not endpoint_ids:
            return None
        sql = _CLAIMABLE
        endpoints = {f"e{i}": e for i, e in enumerate(endpoint_ids or ())}
        if endpoints:
            # Only placeholder names are interpolated; the ids themselves are bound.
            sql += f" AND endpoint_id IN ({', '.join(':' + k for k in endpoints)})"  # noqa: S608
        sql += " ORDER BY priority, seq LIMIT 1"
        # Idle workers poll often: look without the write lock first, lock only to take.
        if self._conn().execute(sql, {"now": self._clock(), **endpoints}).fetchone() is None:
            return None
        with self._write() as conn:
            while True:
                now = self._clock()
                params = {"now": now, **endpoints}
                row = conn.execute(sql, params).fetchone()
                if row is None:
                    return None
                request_id: str = row["request_id"]
                if row["cancel_requested"]:
                    # Cancelled while its worker was gone (or after a release): finish it now.
                    self._finish_locked(
                        conn, request_id, now, _CANCELLED_MESSAGE, ErrorType.CANCELLED
                    )
                    continue
                if row["attempts"] >= self.max_attempts:
                    message = (
                        f"The request was started {row['attempts']} times and its worker "
                        "was lost each time"
                    )
                    self._finish_locked(conn, request_id, now, message, ErrorType.WORKER_LOST)
                    self._add_log_locked(conn, request_id, message, LogLevel.ERROR.value, now)
                    continue
                conn.execute(
                    """
                    UPDATE requests SET
                        status = ?, worker_id = ?, lease_expires_at = ?,
                        attempts = attempts + 1, started_at = COALESCE(started_at, ?),
                        progress = NULL
                    WHERE request_id = ?
                    """,
                    (Status.IN_PROGRESS.value, worker_id, now + lease_seconds, now, request_id),
                )
                claimed = conn.execute(
                    "SELECT * FROM requests WHERE request_id = ?", (request_id,)
                ).fetchone()
                return _row_to_job(claimed)

    @staticmethod
    def _finish_locked(
        conn: sqlite3.Connection, request_id: str, now: float, error: str, error_type: ErrorType
    ) -> None:
        """Complete a request with an error on the store's behalf (no worker involved)."""
        conn.execute(
            """
            UPDATE requests SET
                status = ?, completed_at = ?, error = ?, error_type = ?,
                worker_id = NULL, lease_expires_at = NULL
            WHERE request_id = ?
            """,
            (Status.COMPLETED.value, now, error, error_type.value, request_id),
        )

    @staticmethod
    def _add_log_locked(
        conn: sqlite3.Connection, request_id: str, message: str, level: str, timestamp: float
    ) -> None:
        # One INSERT ... SELECT: the next seq is computed and used under the same write lock.
        # Lines for an unknown request select no row and are dropped.
        conn.execute(
            """
            INSERT INTO logs (request_id, seq, timestamp, level, message)
            SELECT r.request_id,
                   COALESCE((SELECT MAX(seq) FROM logs WHERE request_id = r.request_id), 0) + 1,
                   ?, ?, ?
            FROM requests AS r WHERE r.request_id = ?
            """,
            (timestamp, level, message, request_id),
        )

    def heartbeat(self, request_id: str, worker_id: str, lease_seconds: float) -> Heartbeat:
        """Extend the lease if ``worker_id`` holds it; always report ``cancel_requested``."""
        with self._write() as conn:
            row = conn.execute(
                """
                UPDATE requests SET lease_expires_at = ?
                WHERE request_id = ? AND status = ? AND worker_id = ?
                RETURNING cancel_requested
                """,
                (self._clock() + lease_seconds, request_id, Status.IN_PROGRESS.value, worker_id),
            ).fetchone()
            if row is not None:
                return Heartbeat(owned=True, cancel_requested=bool(row["cancel_requested"]))
            row = conn.execute(
                "SELECT cancel_requested FROM requests WHERE request_id = ?", (request_id,)
            ).fetchone()
        return Heartbeat(owned=False, cancel_requested=bool(row and row["cancel_requested"]))

    def set_progress(self, request_id: str, worker_id: str, progress: float) -> bool:
        """Record progress, clamped to [0, 1]; False if the lease is not ours."""
        progress = min(1.0, max(0.0, float(progress)))
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE requests SET progress = ?"
                " WHERE request_id = ? AND status = ? AND worker_id = ?",
                (progress, request_id, Status.IN_PROGRESS.value, worker_id),
            )
            return cur.rowcount > 0

    def add_log(
        self, request_id: str, message: str, level: str = "INFO", timestamp: float | None = None
    ) -> None:
        """Append a log line (dropped silently if the request is unknown)."""
        ts = self._clock() if timestamp is None else timestamp
        with self._write() as conn:
            self._add_log_locked(conn, request_id, message, level, ts)

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
        """Mark COMPLETED; only the lease holder may. False (and no change) otherwise."""
        with self._write() as conn:
            # Ownership is checked in the UPDATE's WHERE, so it cannot race a reclaim.
            cur = conn.execute(
                """
                UPDATE requests SET
                    status = ?, completed_at = ?, result = ?, error = ?, error_type = ?,
                    error_detail = ?, metrics = ?, video_seconds = ?, cost = ?,
                    worker_id = NULL, lease_expires_at = NULL
                WHERE request_id = ? AND status = ? AND worker_id = ?
                """,
                (
                    Status.COMPLETED.value,
                    self._clock(),
                    _dumps(result),
                    error,
                    error_type,
                    _dumps(error_detail),
                    _dumps(metrics),
                    video_seconds,
                    cost,
                    request_id,
                    Status.IN_PROGRESS.value,
                    worker_id,
                ),
            )
            return cur.rowcount > 0

    def release(self, request_id: str, worker_id: str) -> bool:
        """Put a running request back in the queue at its old place, attempt not counted."""
        with self._write() as conn:
            cur = conn.execute(
                """
                UPDATE requests SET
                    status = ?, worker_id = NULL, lease_expires_at = NULL,
                    attempts = MAX(attempts - 1, 0), progress = NULL
                WHERE request_id = ? AND status = ? AND worker_id = ?
                """,
                (Status.IN_QUEUE.value, request_id, Status.IN_PROGRESS.value, worker_id),
            )
            return cur.rowcount > 0

    def cancel(self, request_id: str) -> CancelOutcome:
        """Queued: complete it as cancelled now. Running: flag it for its worker."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT status FROM requests WHERE request_id = ?", (request_id,)
            ).fetchone()
            if row is None:
                return CancelOutcome.NOT_FOUND
            status = Status(row["status"])
            if status is Status.COMPLETED:
                return CancelOutcome.ALREADY_COMPLETED
            if status is Status.IN_QUEUE:
                now = self._clock()
                self._finish_locked(conn, request_id, now, _CANCELLED_MESSAGE, ErrorType.CANCELLED)
                self._add_log_locked(
                    conn, request_id, "Request cancelled while queued", LogLevel.INFO.value, now
                )
                return CancelOutcome.CANCELLED
            conn.execute(
                "UPDATE requests SET cancel_requested = 1 WHERE request_id = ?", (request_id,)
            )
            return CancelOutcome.REQUESTED

    def expire_overdue(self) -> int:
        """Time out queued requests that never started before their deadline."""
        with self._write() as conn:
            now = self._clock()
            rows = conn.execute(
                "SELECT request_id, start_deadline - created_at AS timeout FROM requests"
                " WHERE status = 'IN_QUEUE' AND started_at IS NULL AND start_deadline < ?",
                (now,),
            ).fetchall()
            for row in rows:
                request_id, message = row["request_id"], timeout_message(row["timeout"])
                self._finish_locked(conn, request_id, now, message, ErrorType.REQUEST_TIMEOUT)
                self._add_log_locked(conn, request_id, message, LogLevel.ERROR.value, now)
        return len(rows)

    def claim_webhooks(self, limit: int, lease_seconds: float) -> list[Job]:
        """Due webhook deliveries, leased (see :meth:`JobStore.claim_webhooks`)."""
        with self._write() as conn:
            now = self._clock()
            rows = conn.execute(
                """
                SELECT * FROM requests
                WHERE webhook_state = 'PENDING' AND status = 'COMPLETED'
                  AND COALESCE(webhook_next_at, 0) <= ?
                ORDER BY completed_at LIMIT ?
                """,
                (now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE requests SET webhook_next_at = ? WHERE request_id = ?",
                [(now + lease_seconds, row["request_id"]) for row in rows],
            )
        return [_row_to_job(row) for row in rows]

    def record_webhook_attempt(
        self, request_id: str, *, delivered: bool, error: str | None, retry_at: float | None
    ) -> None:
        """Count a delivery attempt (see :meth:`JobStore.record_webhook_attempt`)."""
        state = webhook_state_after(delivered, retry_at)
        with self._write() as conn:
            conn.execute(
                """
                UPDATE requests SET webhook_attempts = webhook_attempts + 1,
                    webhook_state = ?, webhook_error = ?, webhook_next_at = ?
                WHERE request_id = ? AND webhook_state = 'PENDING'
                """,
                (state.value, error, retry_at, request_id),
            )

    def add_expiring_file(self, key: str, expires_at: float) -> None:
        """Remember a file to delete after ``expires_at``."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO expiring_files (key, expires_at) VALUES (?, ?)",
                (key, expires_at),
            )

    def expired_files(self, limit: int) -> list[str]:
        """Keys of files past their expiry, oldest first."""
        rows = (
            self._conn()
            .execute(
                "SELECT key FROM expiring_files WHERE expires_at < ? ORDER BY expires_at LIMIT ?",
                (self._clock(), limit),
            )
            .fetchall()
        )
        return [row["key"] for row in rows]

    def forget_files(self, keys: Collection[str]) -> None:
        """Drop deleted files from the expiry list."""
        with self._write() as conn:
            conn.executemany("DELETE FROM expiring_files WHERE key = ?", [(k,) for k in keys])

    def deployment_secret(self) -> str:
        """The store's secret, made on first use."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO deployment (name, value) VALUES ('secret', ?)",
                (secrets.token_hex(32),),
            )
            row = conn.execute("SELECT value FROM deployment WHERE name = 'secret'").fetchone()
        return str(row["value"])

    def create_key(
        self, name: str, *, rate_per_minute: int | None = None, max_concurrent: int | None = None
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (kept only as a hash)."""
        key_id, secret = new_key_material()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, name, secret_hash, created_at, rate_per_minute,"
                " max_concurrent) VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, name, secret_hash(secret), self._clock(), rate_per_minute, max_concurrent),
            )
            row = conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return ApiKey.from_row(row), secret

    def keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        rows = self._conn().execute("SELECT * FROM api_keys ORDER BY created_at, id").fetchall()
        return [ApiKey.from_row(row) for row in rows]

    def revoke_key(self, key_id: str) -> bool:
        """Revoke an active key."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (self._clock(), key_id),
            )
            return cur.rowcount > 0

    def find_key(self, secret: str) -> ApiKey | None:
        """The active key with this secret."""
        row = (
            self._conn()
            .execute(
                "SELECT * FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL",
                (secret_hash(secret),),
            )
            .fetchone()
        )
        return None if row is None else ApiKey.from_row(row)

    def get_key(self, key_id: str) -> ApiKey | None:
        """The key with this id, revoked or not."""
        row = self._conn().execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return None if row is None else ApiKey.from_row(row)

    def has_keys(self) -> bool:
        """Whether any key was ever created."""
        query = "SELECT 1 FROM api_keys LIMIT 1"
        return self._conn().execute(query).fetchone() is not None

    def usage(
        self, owner: str | None, since: float, until: float, *, all_owners: bool = False
    ) -> list[UsageRow]:
        """Completed requests with a result, summed per owner and endpoint."""
        rows = (
            self._conn()
            .execute(
                """
                SELECT owner, endpoint_id, COUNT(*) AS n, SUM(video_seconds) AS seconds,
                       SUM(cost) AS cost
                FROM requests
                WHERE completed_at >= :since AND completed_at < :until
                  AND video_seconds IS NOT NULL AND (:all OR owner IS :owner)
                GROUP BY owner, endpoint_id ORDER BY owner, endpoint_id
                """,
                {"since": since, "until": until, "all": all_owners, "owner": owner},
            )
            .fetchall()
        )
        return [
            UsageRow(r["owner"], r["endpoint_id"], r["n"], r["seconds"] or 0.0, r["cost"] or 0.0)
            for r in rows
        ]

    def expire_leases(self) -> int:
        """Make every running request claimable at once; returns how many there were."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE requests SET lease_expires_at = ? WHERE status = ?",
                (self._clock() - 1, Status.IN_PROGRESS.value),
            )
            return cur.rowcount
