"""The PostgreSQL job store: several API and worker processes share one database.

Behaves exactly like :class:`vidserve.store.sqlite.SQLiteJobStore`; the differences are in
how it keeps concurrent writers apart:

* ``claim`` takes its row with ``SELECT ... FOR NO KEY UPDATE SKIP LOCKED`` inside one
  transaction, so concurrent claimers (threads or processes) each lock a different row and
  never wait on one another (``NO KEY UPDATE``: the lock the ``UPDATE`` that follows takes
  anyway; ``FOR UPDATE`` would also block foreign-key checks, for no gain).
* Log ``seq`` numbers come from a ``log_seq`` counter on the request row, bumped by
  ``UPDATE ... RETURNING`` in the same statement that inserts the line: the row lock
  serializes writers per request and the statement is atomic, so numbers are gap-free.
* Schema migrations run in one transaction under ``pg_advisory_xact_lock``, so processes
  starting together migrate once and the others wait for it.

Connections come from a :class:`psycopg_pool.ConnectionPool` in autocommit mode; statements
that must see each other's effects run in explicit transactions. Timestamps are the store's
``clock()`` floats (unix seconds, ``double precision``), so a fake clock drives leases in
tests exactly as with SQLite.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection, Connection
from psycopg.rows import DictRow, dict_row, tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from psycopg_pool.base import AttemptWithBackoff

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

__all__ = ["MIGRATIONS", "PostgresJobStore"]

#: Schema migrations, applied in order; step ``i`` moves the schema to version ``i + 1``.
#: Append new steps, never edit old ones: databases in the field are at older versions.
#: Status values appear as literals (they are fixed wire strings) so that the planner can
#: match the partial index's predicate.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """
        CREATE TABLE vidserve_requests (
            seq bigserial PRIMARY KEY,
            request_id text UNIQUE NOT NULL,
            endpoint_id text NOT NULL,
            input jsonb NOT NULL,
            base_url text NOT NULL,
            status text NOT NULL,
            priority integer NOT NULL DEFAULT 0,
            created_at double precision NOT NULL,
            started_at double precision,
            completed_at double precision,
            worker_id text,
            lease_expires_at double precision,
            attempts integer NOT NULL DEFAULT 0,
            cancel_requested boolean NOT NULL DEFAULT false,
            progress double precision,
            result jsonb,
            error text,
            error_type text,
            error_detail jsonb,
            metrics jsonb,
            webhook_url text,
            log_seq integer NOT NULL DEFAULT 0
        )
        """,
        # Claim order over the rows that can still be claimed; completed rows (the bulk of
        # the table over time) stay out of it. Also serves queue_position and expire_leases.
        """
        CREATE INDEX vidserve_requests_active ON vidserve_requests (priority, seq)
            WHERE status IN ('IN_QUEUE', 'IN_PROGRESS')
        """,
        """
        CREATE TABLE vidserve_logs (
            request_id text NOT NULL
                REFERENCES vidserve_requests (request_id) ON DELETE CASCADE,
            seq integer NOT NULL,
            timestamp double precision NOT NULL,
            level text NOT NULL,
            message text NOT NULL,
            PRIMARY KEY (request_id, seq)
        )
        """,
    ),
    (
        # Start deadlines, output lifetimes, the webhook outbox (on the request row: a
        # request is in the outbox from the moment it completes), expiring files, and the
        # deployment's secret.
        """
        ALTER TABLE vidserve_requests
            ADD COLUMN start_deadline double precision,
            ADD COLUMN output_lifetime double precision,
            ADD COLUMN webhook_state text,
            ADD COLUMN webhook_attempts integer NOT NULL DEFAULT 0,
            ADD COLUMN webhook_next_at double precision,
            ADD COLUMN webhook_error text
        """,
        """
        CREATE INDEX vidserve_requests_webhooks ON vidserve_requests (completed_at)
            WHERE webhook_state = 'PENDING' AND status = 'COMPLETED'
        """,
        """
        CREATE TABLE vidserve_expiring_files (
            key text PRIMARY KEY,
            expires_at double precision NOT NULL
        )
        """,
        "CREATE INDEX vidserve_expiring_files_at ON vidserve_expiring_files (expires_at)",
        "CREATE TABLE vidserve_deployment (name text PRIMARY KEY, value text NOT NULL)",
    ),
    (
        # API keys, each request's owner (its key) and usage.
        """
        CREATE TABLE vidserve_api_keys (
            id text PRIMARY KEY,
            name text NOT NULL,
            secret_hash text UNIQUE NOT NULL,
            created_at double precision NOT NULL,
            revoked_at double precision,
            rate_per_minute integer,
            max_concurrent integer
        )
        """,
        """
        ALTER TABLE vidserve_requests
            ADD COLUMN owner text,
            ADD COLUMN video_seconds double precision,
            ADD COLUMN cost double precision
        """,
        "CREATE INDEX vidserve_requests_owner ON vidserve_requests (owner, created_at)",
        "CREATE INDEX vidserve_requests_completed ON vidserve_requests (completed_at)",
    ),
    (
        # Queue positions count the queued rows ahead from the index alone.
        """
        CREATE INDEX vidserve_requests_queued ON vidserve_requests (priority, seq)
            WHERE status = 'IN_QUEUE'
        """,
    ),
    (
        # Dialects (OpenAI's /v1/videos lists, retrieves and deletes its own), and
        # idempotency keys per owner ('' on a server without keys).
        """
        ALTER TABLE vidserve_requests
            ADD COLUMN dialect text NOT NULL DEFAULT 'fal',
            ADD COLUMN dialect_fields jsonb,
            ADD COLUMN deleted_at double precision
        """,
        "CREATE INDEX vidserve_requests_listing ON vidserve_requests (owner, dialect, seq)",
        """
        CREATE TABLE vidserve_idempotency_keys (
            owner text NOT NULL,
            key text NOT NULL,
            request_id text NOT NULL,
            body_hash text NOT NULL,
            created_at double precision NOT NULL,
            PRIMARY KEY (owner, key)
        )
        """,
        "CREATE INDEX vidserve_idempotency_keys_created ON vidserve_idempotency_keys (created_at)",
    ),
]

#: Status polls' reads, many in one statement (the API gathers concurrent polls): per read its
#: ordinal, the columns a poll shows, the position while queued (an index-only count over
#: the queued rows ahead) and the log lines after ``after`` unless that is NULL.
_STATUS_VIEWS = """
SELECT x.i, r.request_id, r.endpoint_id, r.owner, r.status, r.progress, r.error,
       r.error_type, r.dialect, r.deleted_at,
       (r.metrics ->> 'inference_time')::double precision AS inference_time,
       CASE WHEN r.status = 'IN_QUEUE' THEN (
           SELECT COUNT(*) FROM vidserve_requests AS o
           WHERE o.status = 'IN_QUEUE' AND (o.priority, o.seq) < (r.priority, r.seq)
       ) END AS position,
       CASE WHEN x.after IS NOT NULL THEN (
           SELECT COALESCE(json_agg(json_build_array(l.seq, l.timestamp, l.level, l.message)
                                    ORDER BY l.seq), '[]')
           FROM vidserve_logs AS l WHERE l.request_id = r.request_id AND l.seq > x.after
       ) END AS logs
FROM unnest(%s::text[], %s::integer[]) WITH ORDINALITY AS x (id, after, i)
-- LIMIT 1 (request_id is unique) keeps this a lookup per read: as a plain join the planner
-- may hash-join a scan of the whole table.
JOIN LATERAL (
    SELECT * FROM vidserve_requests WHERE request_id = x.id LIMIT 1
) AS r ON true
"""

#: The first key of the advisory locks that serialize one owner's submits (rate limits).
LIMITS_LOCK_SPACE = 0x76696473  # "vids"

#: Key of the advisory lock that serializes migrations across processes ("vidserve").
MIGRATION_LOCK_KEY = 0x76696473_65727665

#: How long opening the store waits for its first connection.
CONNECT_TIMEOUT = 30.0
#: The longest wait between two attempts to replace a lost connection, and how long a call
#: waits for a connection from the pool: service returns within a fraction of a second of
#: the database, and while it is away calls fail in seconds, not half a minute.
RECONNECT_MAX_DELAY = 0.5
POOL_TIMEOUT = 5.0
#: How long a status read on the event loop waits for its answer.
STATUS_READ_TIMEOUT = 10.0

_CANCELLED_MESSAGE = "Request was cancelled"

# -- SQL ------------------------------------------------------------------------------
# Fixed strings only: every value is a bound parameter.

# Queued, or running on a lost lease; never a request that missed its start deadline.
_SELECT_CLAIMABLE = """
    SELECT request_id, attempts, cancel_requested FROM vidserve_requests
    WHERE (status = 'IN_QUEUE' OR (status = 'IN_PROGRESS' AND lease_expires_at < %(now)s))
      AND (start_deadline IS NULL OR started_at IS NOT NULL OR start_deadline >= %(now)s)
"""
_ENDPOINT_FILTER = " AND endpoint_id = ANY(%(endpoints)s)"
_CLAIM_ORDER = " ORDER BY priority, seq LIMIT 1"
_LOCK = " FOR NO KEY UPDATE SKIP LOCKED"

#: (probe, locking select) for claims without and with an endpoint filter.
_CLAIM_SQL: dict[bool, tuple[str, str]] = {
    False: (
        _SELECT_CLAIMABLE + _CLAIM_ORDER,
        _SELECT_CLAIMABLE + _CLAIM_ORDER + _LOCK,
    ),
    True: (
        _SELECT_CLAIMABLE + _ENDPOINT_FILTER + _CLAIM_ORDER,
        _SELECT_CLAIMABLE + _ENDPOINT_FILTER + _CLAIM_ORDER + _LOCK,
    ),
}

_TAKE = """
    UPDATE vidserve_requests SET
        status = 'IN_PROGRESS', worker_id = %(worker)s, lease_expires_at = %(lease)s,
        attempts = attempts + 1, started_at = COALESCE(started_at, %(now)s), progress = NULL
    WHERE request_id = %(id)s
    RETURNING *
"""

_FINISH = """
    UPDATE vidserve_requests SET
        status = 'COMPLETED', completed_at = %(now)s, error = %(error)s,
        error_type = %(error_type)s, worker_id = NULL, lease_expires_at = NULL
    WHERE request_id = %(id)s
"""

# One statement: bump the request's counter (locking its row until commit) and insert the
# line with the new number. An unknown request updates no row, so the line is dropped.
_ADD_LOG = """
    WITH r AS (
        UPDATE vidserve_requests SET log_seq = log_seq + 1
        WHERE request_id = %(id)s
        RETURNING request_id, log_seq
    )
    INSERT INTO vidserve_logs (request_id, seq, timestamp, level, message)
    SELECT r.request_id, r.log_seq, %(ts)s, %(level)s, %(message)s FROM r
"""


#: A page of an owner's requests in one dialect, after a cursor request (if any).
_LIST = """
SELECT * FROM vidserve_requests
WHERE owner IS NOT DISTINCT FROM %(owner)s AND dialect = %(dialect)s AND deleted_at IS NULL
  AND (%(after)s::text IS NULL
       OR seq {} (SELECT seq FROM vidserve_requests WHERE request_id = %(after)s))
ORDER BY seq {} LIMIT %(limit)s
"""
_LIST_NEWEST_FIRST = _LIST.format("<", "DESC")
_LIST_OLDEST_FIRST = _LIST.format(">", "ASC")


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def _status_params(reads: Sequence[StatusRead]) -> tuple[list[str], list[int | None]]:
    return [request_id for request_id, _ in reads], [logs_after for _, logs_after in reads]


def _status_views(rows: list[DictRow], count: int) -> list[StatusView | None]:
    """:data:`_STATUS_VIEWS`' rows as views, in the order of the reads."""
    views: list[StatusView | None] = [None] * count
    for row in rows:
        logs = row["logs"]
        records = None if logs is None else [LogRecord(*line) for line in logs]
        views[row["i"] - 1] = StatusView.from_row(row, records)
    return views


def _row_to_job(row: DictRow) -> Job:
    return Job(
        request_id=row["request_id"],
        endpoint_id=row["endpoint_id"],
        input=row["input"],
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
        cancel_requested=row["cancel_requested"],
        progress=row["progress"],
        result=row["result"],
        error=row["error"],
        error_type=row["error_type"],
        error_detail=row["error_detail"],
        metrics=row["metrics"] or {},
        start_deadline=row["start_deadline"],
        output_lifetime=row["output_lifetime"],
        webhook_state=None if row["webhook_state"] is None else WebhookState(row["webhook_state"]),
        webhook_attempts=row["webhook_attempts"],
        webhook_error=row["webhook_error"],
        owner=row["owner"],
        video_seconds=row["video_seconds"],
        cost=row["cost"],
        dialect=Dialect(row["dialect"]),
        dialect_fields=row["dialect_fields"] or {},
        deleted_at=row["deleted_at"],
    )


class _PromptReconnect(AttemptWithBackoff):
    """psycopg_pool's reconnection schedule (1, 2, 4, 8, 16 s ...: 6 to 20 s of silence
    after an outage), started sooner and capped at :data:`RECONNECT_MAX_DELAY`."""

    INITIAL_DELAY = 0.1

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_MAX_DELAY)


class _Pool(ConnectionPool[Connection[DictRow]]):
    """A pool that replaces lost connections on :class:`_PromptReconnect`'s schedule. It
    overrides psycopg_pool's private ``_add_connection`` (psycopg-pool is pinned below 3.4
    for it; tests/faults/test_postgres_outage.py measures the recovery)."""

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        super()._add_connection(
            attempt or _PromptReconnect(timeout=self.reconnect_timeout), growing
        )


def migrate(conn: Connection[Any], steps: list[tuple[str, ...]] | None = None) -> int:
    """Bring the schema on ``conn`` (an autocommit connection) up to date with ``steps``
    (default :data:`MIGRATIONS`), in one transaction under an advisory lock. Returns the
    version reached. Raises :class:`RuntimeError` if the database is newer than ``steps``."""
    steps = MIGRATIONS if steps is None else steps
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        # Taken before anything else, so a concurrent opener waits here and then finds the
        # schema already up to date (its statements run on a fresh snapshot afterwards).
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        cur.execute(
            """
            CREATE TABLE IF NOT EXISTS vidserve_schema_version (
                singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                version integer NOT NULL
            )
            """
        )
        row = cur.execute("SELECT version FROM vidserve_schema_version").fetchone()
        if row is None:
            cur.execute("INSERT INTO vidserve_schema_version (version) VALUES (0)")
            version = 0
        else:
            version = int(row[0])
        if version > len(steps):
            raise RuntimeError(
                f"the database has vidserve schema version {version}; this vidserve knows "
                f"only up to {len(steps)}"
            )
        for step in steps[version:]:
            for statement in step:
                cur.execute(statement)
        cur.execute("UPDATE vidserve_schema_version SET version = %s", (len(steps),))
    return len(steps)


class PostgresJobStore(JobStore):
    """:class:`JobStore` on a PostgreSQL database (``dsn``: a libpq URL or key=value string).

    ``max_attempts`` bounds how often a request may be started before a lost worker counts
    as a failure; ``clock`` gives the current unix time (tests pass a fake one);
    ``pool_size`` caps the connections this store holds open.
    """

    def __init__(
        self,
        dsn: str,
        *,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.time,
        pool_size: int = 8,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.max_attempts = max_attempts
        self._clock = clock
        self._dsn = dsn
        # Status reads from an event loop: its loop and connection (see read_status).
        self._async: tuple[asyncio.AbstractEventLoop, AsyncConnection[DictRow]] | None = None
        self._async_lock = threading.Lock()
        self._pool: ConnectionPool[Connection[DictRow]] = _Pool(
            dsn,
            connection_class=Connection[DictRow],
            kwargs={"autocommit": True, "row_factory": dict_row},
            min_size=1,
            max_size=pool_size,
            open=False,
            name="vidserve-store",
            timeout=POOL_TIMEOUT,
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            with self._pool.connection() as conn:
                migrate(conn)
        except BaseException:
            self._pool.close()
            raise

    def close(self) -> None:
        """Close the connection pool; the store is unusable afterwards."""
        with self._async_lock:
            held, self._async = self._async, None
        if held is not None:
            held[1].pgconn.finish()  # its event loop may be gone: closed without awaiting
        self._pool.close()

    # -- reads --------------------------------------------------------------------------

    def get(self, request_id: str) -> Job | None:
        """The request, or None if unknown."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT * FROM vidserve_requests WHERE request_id = %s", (request_id,)
            ).fetchone()
        return None if row is None else _row_to_job(row)

    def status_views(self, reads: Sequence[StatusRead]) -> list[StatusView | None]:
        """For each read, its :class:`StatusView` (None if unknown): one statement, so one
        round trip and one snapshot for all of them."""
        if not reads:
            return []
        with self._pool.connection() as conn:
            rows = conn.execute(_STATUS_VIEWS, _status_params(reads)).fetchall()
        return _status_views(rows, len(reads))

    async def read_status(self, reads: Sequence[StatusRead]) -> list[StatusView | None]:
        """:meth:`status_views` on the caller's event loop, over one async connection kept
        for it (opened on first use, and again after a failure)."""
        if not reads:
            return []
        conn = await self._async_connection()
        try:
            async with asyncio.timeout(STATUS_READ_TIMEOUT):
                cur = await conn.execute(_STATUS_VIEWS, _status_params(reads))
                rows = await cur.fetchall()
        except TimeoutError:
            # A database or network that stopped answering: the polls fail (and are
            # retried by their clients) instead of waiting for ever, and the connection,
            # in an unknown state, is not used again.
            self._drop_async_connection(conn)
            raise
        except psycopg.Error:
            if conn.broken or conn.closed:
                self._drop_async_connection(conn)
            raise
        return _status_views(rows, len(reads))

    async def _async_connection(self) -> AsyncConnection[DictRow]:
        loop = asyncio.get_running_loop()
        held = self._async
        if held is not None and held[0] is loop and not held[1].closed:
            return held[1]
        conn = await AsyncConnection.connect(
            self._dsn, autocommit=True, row_factory=dict_row, connect_timeout=int(CONNECT_TIMEOUT)
        )
        with self._async_lock:
            previous, self._async = self._async, (loop, conn)
        if previous is not None:
            # Its event loop is gone (test clients start one per client), or it broke.
            previous[1].pgconn.finish()
        return conn

    def _drop_async_connection(self, conn: AsyncConnection[DictRow]) -> None:
        with self._async_lock:
            if self._async is not None and self._async[1] is conn:
                self._async = None
        conn.pgconn.finish()

    def work_stats(self) -> list[WorkStats]:
        """Per endpoint, the requests queued and running (see :meth:`JobStore.work_stats`)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                """
                SELECT endpoint_id, status, COUNT(*) AS n, MIN(created_at) AS oldest
                FROM vidserve_requests WHERE status IN ('IN_QUEUE', 'IN_PROGRESS')
                GROUP BY endpoint_id, status ORDER BY endpoint_id, status
                """
            ).fetchall()
        return [WorkStats(r["endpoint_id"], Status(r["status"]), r["n"], r["oldest"]) for r in rows]

    def pending_webhooks(self) -> int:
        """Webhooks still to deliver (see :meth:`JobStore.pending_webhooks`)."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT COUNT(*) AS n FROM vidserve_requests"
                " WHERE webhook_state = 'PENDING' AND status = 'COMPLETED'"
            ).fetchone()
        return 0 if row is None else int(row["n"])

    def logs(self, request_id: str, after_seq: int = 0) -> list[LogRecord]:
        """Log lines with ``seq > after_seq``, oldest first."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT seq, timestamp, level, message FROM vidserve_logs"
                " WHERE request_id = %s AND seq > %s ORDER BY seq",
                (request_id, after_seq),
            ).fetchall()
        return [LogRecord(r["seq"], r["timestamp"], r["level"], r["message"]) for r in rows]

    # -- writes -------------------------------------------------------------------------

    def create(self, job: NewJob) -> Job:
        """Record a new IN_QUEUE request, or find the one its idempotency key names (see
        :meth:`JobStore.create`); a duplicate ``request_id`` raises
        :class:`psycopg.errors.UniqueViolation`."""
        now = self._clock()
        with self._pool.connection() as conn, conn.transaction():
            if job.idempotency is not None:
                earlier = self._claim_idempotency_key(conn, job, now)
                if earlier is not None:
                    found = conn.execute(
                        "SELECT * FROM vidserve_requests WHERE request_id = %s", (earlier,)
                    ).fetchone()
                    assert found is not None  # noqa: S101 - keys name requests never removed
                    return _row_to_job(found)
            if job.limits is not None:
                self._check_limits(conn, job.owner, job.limits, now)
            row = conn.execute(
                """
                INSERT INTO vidserve_requests
                    (request_id, endpoint_id, input, base_url, status, priority, created_at,
                     webhook_url, webhook_state, start_deadline, output_lifetime, owner,
                     dialect, dialect_fields)
                VALUES (%s, %s, %s, %s, 'IN_QUEUE', %s, %s, %s, %s, %s, %s, %s, %s, %s)
                RETURNING *
                """,
                (
                    job.request_id,
                    job.endpoint_id,
                    Jsonb(job.input),
                    job.base_url,
                    int(job.priority),
                    now,
                    job.webhook_url,
                    None if job.webhook_url is None else WebhookState.PENDING.value,
                    None if job.start_timeout is None else now + job.start_timeout,
                    job.output_lifetime,
                    job.owner,
                    job.dialect.value,
                    _json(job.dialect_fields or None),
                ),
            ).fetchone()
        assert row is not None  # noqa: S101 - INSERT ... RETURNING always returns the row
        return _row_to_job(row)

    @staticmethod
    def _claim_idempotency_key(conn: Connection[DictRow], job: NewJob, now: float) -> str | None:
        """Inside a transaction: the id of the request ``job``'s key already names (checking
        the body hash), or None after recording the key for ``job``. A concurrent submit
        with the same key waits on the key's row until the other commits, then sees it."""
        assert job.idempotency is not None  # noqa: S101 - callers check
        owner, key = job.owner or "", job.idempotency.key
        conn.execute(
            "DELETE FROM vidserve_idempotency_keys WHERE created_at < %s",
            (now - IDEMPOTENCY_SECONDS,),
        )
        inserted = conn.execute(
            """
            INSERT INTO vidserve_idempotency_keys (owner, key, request_id, body_hash, created_at)
            VALUES (%s, %s, %s, %s, %s) ON CONFLICT (owner, key) DO NOTHING RETURNING 1
            """,
            (owner, key, job.request_id, job.idempotency.body_hash, now),
        ).fetchone()
        if inserted is not None:
            return None
        row = conn.execute(
            "SELECT request_id, body_hash FROM vidserve_idempotency_keys"
            " WHERE owner = %s AND key = %s",
            (owner, key),
        ).fetchone()
        assert row is not None  # noqa: S101 - the conflict was with a committed row
        return IdempotentRequest(row["request_id"], row["body_hash"]).check(
            job.idempotency.body_hash
        )

    @staticmethod
    def _check_limits(
        conn: Connection[DictRow], owner: str | None, limits: SubmitLimits, now: float
    ) -> None:
        """Inside the transaction that records a request: LimitExceededError if it breaks
        ``limits``. A transaction lock on the owner makes the count and the insert one step
        for every process (other owners do not wait)."""
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LIMITS_LOCK_SPACE, owner or "")
        )
        row = conn.execute(
            """
            SELECT COUNT(*) FILTER (WHERE created_at > %(since)s) AS recent,
                   MIN(created_at) FILTER (WHERE created_at > %(since)s) AS oldest,
                   COUNT(*) FILTER (WHERE status IN ('IN_QUEUE', 'IN_PROGRESS')) AS active
            FROM vidserve_requests
            WHERE owner IS NOT DISTINCT FROM %(owner)s
              AND (created_at > %(since)s OR status IN ('IN_QUEUE', 'IN_PROGRESS'))
            """,
            {"owner": owner, "since": now - limits.window},
        ).fetchone()
        assert row is not None  # noqa: S101 - an aggregate always returns a row
        exceeded = limit_exceeded(limits, now, row["recent"], row["oldest"], row["active"])
        if exceeded is not None:
            raise exceeded

    def idempotent(self, owner: str | None, key: str) -> IdempotentRequest | None:
        """The request ``owner``'s key names, if used within the last day."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT request_id, body_hash FROM vidserve_idempotency_keys"
                " WHERE owner = %s AND key = %s AND created_at >= %s",
                (owner or "", key, self._clock() - IDEMPOTENCY_SECONDS),
            ).fetchone()
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
        with self._pool.connection() as conn:
            rows = conn.execute(
                _LIST_NEWEST_FIRST if newest_first else _LIST_OLDEST_FIRST,
                {"owner": owner, "dialect": dialect.value, "after": after, "limit": limit},
            ).fetchall()
        return [_row_to_job(row) for row in rows]

    def delete(self, request_id: str) -> bool:
        """Mark it deleted and drop its log lines."""
        with self._pool.connection() as conn, conn.transaction():
            cur = conn.execute(
                "UPDATE vidserve_requests SET deleted_at = %s"
                " WHERE request_id = %s AND deleted_at IS NULL",
                (self._clock(), request_id),
            )
            conn.execute("DELETE FROM vidserve_logs WHERE request_id = %s", (request_id,))
            return cur.rowcount > 0

    def claim(
        self, worker_id: str, lease_seconds: float, endpoint_ids: Collection[str] | None = None
    ) -> Job | None:
        """Take the next claimable request (see :meth:`JobStore.claim`).

        Rows found cancelled or out of attempts on the way are completed and skipped within
        the same call. Rows another claimer holds locked are skipped, not waited for."""
        if endpoint_ids is not None and not endpoint_ids:
            return None
        endpoints = None if endpoint_ids is None else list(endpoint_ids)
        probe_sql, lock_sql = _CLAIM_SQL[endpoints is not None]
        with self._pool.connection() as conn:
            # Idle workers poll often: one plain statement first, a transaction only to take.
            probe = conn.execute(
                probe_sql,
                {"now": self._clock(), "endpoints": endpoints},
            ).fetchone()
            if probe is None:
                return None
            with conn.transaction():
                while True:
                    now = self._clock()
                    row = conn.execute(
                        lock_sql,
                        {"now": now, "endpoints": endpoints},
                    ).fetchone()
                    if row is None:
                        return None
                    request_id: str = row["request_id"]
                    if row["cancel_requested"]:
                        # Cancelled while its worker was gone (or after a release): finish it.
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
                    claimed = conn.execute(
                        _TAKE,
                        {
                            "worker": worker_id,
                            "lease": now + lease_seconds,
                            "now": now,
                            "id": request_id,
                        },
                    ).fetchone()
                    assert claimed is not None  # noqa: S101 - the row is locked by us
                    return _row_to_job(claimed)

    @staticmethod
    def _finish_locked(
        conn: Connection[DictRow],
        request_id: str,
        now: float,
        error: str,
        error_type: ErrorType,
    ) -> None:
        """Complete a request with an error on the store's behalf (no worker involved)."""
        conn.execute(
            _FINISH,
            {"now": now, "error": error, "error_type": error_type.value, "id": request_id},
        )

    @staticmethod
    def _add_log_locked(
        conn: Connection[DictRow], request_id: str, message: str, level: str, timestamp: float
    ) -> None:
        conn.execute(
            _ADD_LOG,
            {"id": request_id, "ts": timestamp, "level": str(level), "message": message},
        )

    def heartbeat(self, request_id: str, worker_id: str, lease_seconds: float) -> Heartbeat:
        """Extend the lease if ``worker_id`` holds it; always report ``cancel_requested``."""
        with self._pool.connection() as conn:
            row = conn.execute(
                """
                UPDATE vidserve_requests SET lease_expires_at = %s
                WHERE request_id = %s AND status = 'IN_PROGRESS' AND worker_id = %s
                RETURNING cancel_requested
                """,
                (self._clock() + lease_seconds, request_id, worker_id),
            ).fetchone()
            if row is not None:
                return Heartbeat(owned=True, cancel_requested=row["cancel_requested"])
            row = conn.execute(
                "SELECT cancel_requested FROM vidserve_requests WHERE request_id = %s",
                (request_id,),
            ).fetchone()
        return Heartbeat(owned=False, cancel_requested=bool(row and row["cancel_requested"]))

    def set_progress(self, request_id: str, worker_id: str, progress: float) -> bool:
        """Record progress, clamped to [0, 1]; False if the lease is not ours."""
        progress = min(1.0, max(0.0, float(progress)))
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE vidserve_requests SET progress = %s"
                " WHERE request_id = %s AND status = 'IN_PROGRESS' AND worker_id = %s",
                (progress, request_id, worker_id),
            )
            return cur.rowcount > 0

    def add_log(
        self, request_id: str, message: str, level: str = "INFO", timestamp: float | None = None
    ) -> None:
        """Append a log line (dropped silently if the request is unknown)."""
        ts = self._clock() if timestamp is None else timestamp
        with self._pool.connection() as conn:
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
        with self._pool.connection() as conn:
            # Ownership is checked in the UPDATE's WHERE, so it cannot race a reclaim.
            cur = conn.execute(
                """
                UPDATE vidserve_requests SET
                    status = 'COMPLETED', completed_at = %(now)s, result = %(result)s,
                    error = %(error)s, error_type = %(error_type)s,
                    error_detail = %(error_detail)s, metrics = %(metrics)s,
                    video_seconds = %(video_seconds)s, cost = %(cost)s,
                    worker_id = NULL, lease_expires_at = NULL
                WHERE request_id = %(id)s AND status = 'IN_PROGRESS' AND worker_id = %(worker)s
                """,
                {
                    "now": self._clock(),
                    "result": _json(result),
                    "error": error,
                    "error_type": None if error_type is None else str(error_type),
                    "error_detail": _json(error_detail),
                    "metrics": _json(metrics),
                    "video_seconds": video_seconds,
                    "cost": cost,
                    "id": request_id,
                    "worker": worker_id,
                },
            )
            return cur.rowcount > 0

    def release(self, request_id: str, worker_id: str) -> bool:
        """Put a running request back in the queue at its old place, attempt not counted."""
        with self._pool.connection() as conn:
            cur = conn.execute(
                """
                UPDATE vidserve_requests SET
                    status = 'IN_QUEUE', worker_id = NULL, lease_expires_at = NULL,
                    attempts = GREATEST(attempts - 1, 0), progress = NULL
                WHERE request_id = %s AND status = 'IN_PROGRESS' AND worker_id = %s
                """,
                (request_id, worker_id),
            )
            return cur.rowcount > 0

    def cancel(self, request_id: str) -> CancelOutcome:
        """Queued: complete it as cancelled now. Running: flag it for its worker."""
        with self._pool.connection() as conn, conn.transaction():
            # Locking the row waits out a claim in flight, then reads the row as it left it.
            row = conn.execute(
                "SELECT status FROM vidserve_requests WHERE request_id = %s FOR NO KEY UPDATE",
                (request_id,),
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
                "UPDATE vidserve_requests SET cancel_requested = true WHERE request_id = %s",
                (request_id,),
            )
            return CancelOutcome.REQUESTED

    def expire_overdue(self) -> int:
        """Time out queued requests that never started before their deadline."""
        with self._pool.connection() as conn, conn.transaction():
            now = self._clock()
            rows = conn.execute(
                """
                SELECT request_id, start_deadline - created_at AS timeout FROM vidserve_requests
                WHERE status = 'IN_QUEUE' AND started_at IS NULL AND start_deadline < %s
                FOR NO KEY UPDATE SKIP LOCKED
                """,
                (now,),
            ).fetchall()
            for row in rows:
                request_id, message = row["request_id"], timeout_message(row["timeout"])
                self._finish_locked(conn, request_id, now, message, ErrorType.REQUEST_TIMEOUT)
                self._add_log_locked(conn, request_id, message, LogLevel.ERROR.value, now)
        return len(rows)

    def claim_webhooks(self, limit: int, lease_seconds: float) -> list[Job]:
        """Due webhook deliveries, leased (see :meth:`JobStore.claim_webhooks`)."""
        with self._pool.connection() as conn:
            now = self._clock()
            rows = conn.execute(
                """
                UPDATE vidserve_requests SET webhook_next_at = %(lease)s
                WHERE request_id IN (
                    SELECT request_id FROM vidserve_requests
                    WHERE webhook_state = 'PENDING' AND status = 'COMPLETED'
                      AND COALESCE(webhook_next_at, 0) <= %(now)s
                    ORDER BY completed_at LIMIT %(limit)s
                    FOR NO KEY UPDATE SKIP LOCKED
                )
                RETURNING *
                """,
                {"lease": now + lease_seconds, "now": now, "limit": limit},
            ).fetchall()
        return sorted((_row_to_job(row) for row in rows), key=lambda job: job.completed_at or 0)

    def record_webhook_attempt(
        self, request_id: str, *, delivered: bool, error: str | None, retry_at: float | None
    ) -> None:
        """Count a delivery attempt (see :meth:`JobStore.record_webhook_attempt`)."""
        state = webhook_state_after(delivered, retry_at)
        with self._pool.connection() as conn:
            conn.execute(
                """
                UPDATE vidserve_requests SET webhook_attempts = webhook_attempts + 1,
                    webhook_state = %s, webhook_error = %s, webhook_next_at = %s
                WHERE request_id = %s AND webhook_state = 'PENDING'
                """,
                (state.value, error, retry_at, request_id),
            )

    def add_expiring_file(self, key: str, expires_at: float) -> None:
        """Remember a file to delete after ``expires_at``."""
        with self._pool.connection() as conn:
            conn.execute(
                """
                INSERT INTO vidserve_expiring_files (key, expires_at) VALUES (%s, %s)
                ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
                """,
                (key, expires_at),
            )

    def expired_files(self, limit: int) -> list[str]:
        """Keys of files past their expiry, oldest first."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT key FROM vidserve_expiring_files WHERE expires_at < %s"
                " ORDER BY expires_at LIMIT %s",
                (self._clock(), limit),
            ).fetchall()
        return [row["key"] for row in rows]

    def forget_files(self, keys: Collection[str]) -> None:
        """Drop deleted files from the expiry list."""
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM vidserve_expiring_files WHERE key = ANY(%s)", (list(keys),))

    def deployment_secret(self) -> str:
        """The store's secret, made on first use."""
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO vidserve_deployment (name, value) VALUES ('secret', %s)"
                " ON CONFLICT (name) DO NOTHING",
                (secrets.token_hex(32),),
            )
            row = conn.execute(
                "SELECT value FROM vidserve_deployment WHERE name = 'secret'"
            ).fetchone()
        assert row is not None  # noqa: S101 - inserted just above if it was missing
        return str(row["value"])

    def create_key(
        self, name: str, *, rate_per_minute: int | None = None, max_concurrent: int | None = None
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (kept only as a hash)."""
        key_id, secret = new_key_material()
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO vidserve_api_keys (id, name, secret_hash, created_at,"
                " rate_per_minute, max_concurrent) VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                (key_id, name, secret_hash(secret), self._clock(), rate_per_minute, max_concurrent),
            ).fetchone()
        assert row is not None  # noqa: S101 - INSERT ... RETURNING always returns the row
        return ApiKey.from_row(row), secret

    def keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT * FROM vidserve_api_keys ORDER BY created_at, id")
            return [ApiKey.from_row(row) for row in rows.fetchall()]

    def revoke_key(self, key_id: str) -> bool:
        """Revoke an active key."""
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE vidserve_api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                (self._clock(), key_id),
            )
            return cur.rowcount > 0

    def find_key(self, secret: str) -> ApiKey | None:
        """The active key with this secret."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT * FROM vidserve_api_keys WHERE secret_hash = %s AND revoked_at IS NULL",
                (secret_hash(secret),),
            ).fetchone()
        return None if row is None else ApiKey.from_row(row)

    def get_key(self, key_id: str) -> ApiKey | None:
        """The key with this id, revoked or not."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT * FROM vidserve_api_keys WHERE id = %s", (key_id,)
            ).fetchone()
        return None if row is None else ApiKey.from_row(row)

    def has_keys(self) -> bool:
        """Whether any key was ever created."""
        with self._pool.connection() as conn:
            row = conn.execute("SELECT 1 FROM vidserve_api_keys LIMIT 1").fetchone()
        return row is not None

    def usage(
        self, owner: str | None, since: float, until: float, *, all_owners: bool = False
    ) -> list[UsageRow]:
        """Completed requests with a result, summed per owner and endpoint."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                """
                SELECT owner, endpoint_id, COUNT(*) AS n, SUM(video_seconds) AS seconds,
                       SUM(cost) AS cost
                FROM vidserve_requests
                WHERE completed_at >= %(since)s AND completed_at < %(until)s
                  AND video_seconds IS NOT NULL
                  AND (%(all)s OR owner IS NOT DISTINCT FROM %(owner)s)
                GROUP BY owner, endpoint_id ORDER BY owner, endpoint_id
                """,
                {"since": since, "until": until, "all": all_owners, "owner": owner},
            ).fetchall()
        return [
            UsageRow(r["owner"], r["endpoint_id"], r["n"], r["seconds"] or 0.0, r["cost"] or 0.0)
            for r in rows
        ]

    def expire_leases(self) -> int:
        """Make every running request claimable at once; returns how many there were."""
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE vidserve_requests SET lease_expires_at = %s WHERE status = 'IN_PROGRESS'",
                (self._clock() - 1,),
            )
            return cur.rowcount
