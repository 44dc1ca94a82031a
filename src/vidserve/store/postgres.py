"""The PostgreSQL job store: several API and worker processes share one database.

The store's rules are :class:`~vidserve.store.records.SqlJobStore`'s; this module gives them
PostgreSQL's pieces, which keep concurrent writers apart with row locks instead of one
database-wide write lock:

* a claim takes its row with ``SELECT ... FOR NO KEY UPDATE SKIP LOCKED``, so concurrent
  claimers (threads or processes) each lock a different row and never wait on one another
  (``NO KEY UPDATE``: the lock the ``UPDATE`` that follows takes anyway; ``FOR UPDATE``
  would also block foreign-key checks, for no gain);
* one owner's submits take a transaction-scoped advisory lock on the owner, so a rate
  limit's count and the insert are one step for every process (other owners do not wait);
* schema migrations run in one transaction under ``pg_advisory_xact_lock``, so processes
  starting together migrate once and the others wait for it.

Connections come from a :class:`psycopg_pool.ConnectionPool` in autocommit mode; status
polls from an event loop read over an async connection of their own. Timestamps are the
store's ``clock()`` floats (unix seconds, ``double precision``), so a fake clock drives
leases in tests exactly as with SQLite.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection, Connection
from psycopg.rows import DictRow, dict_row, tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from psycopg_pool.base import AttemptWithBackoff

from vidserve.store.base import StatusRead, StatusView
from vidserve.store.records import SqlJobStore
from vidserve.store.sql import named_parameters

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
    (
        # Queued requests counted per priority and block of 1024 seq numbers (level 0)
        # and group of 32 blocks (level 1), each in 8 lanes by seq (see store/queue.py), from
        # the requests queued now.
        """
        CREATE TABLE vidserve_queue_counts (
            level integer NOT NULL,
            priority integer NOT NULL,
            bucket bigint NOT NULL,
            lane integer NOT NULL,
            queued integer NOT NULL,
            PRIMARY KEY (level, priority, bucket, lane)
        )
        """,
        """
        INSERT INTO vidserve_queue_counts (level, priority, bucket, lane, queued)
        SELECT 0, priority, seq / 1024, seq % 8, COUNT(*) FROM vidserve_requests
        WHERE status = 'IN_QUEUE' GROUP BY priority, seq / 1024, seq % 8
        """,
        """
        INSERT INTO vidserve_queue_counts (level, priority, bucket, lane, queued)
        SELECT 1, priority, seq / 32768, seq % 8, COUNT(*) FROM vidserve_requests
        WHERE status = 'IN_QUEUE' GROUP BY priority, seq / 32768, seq % 8
        """,
    ),
]

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


class PostgresJobStore(SqlJobStore):
    """:class:`~vidserve.store.base.JobStore` on a PostgreSQL database (``dsn``: a libpq URL
    or key=value string).

    ``max_attempts`` bounds how often a request may be started before a lost worker counts
    as a failure; ``clock`` gives the current unix time (tests pass a fake one);
    ``pool_size`` caps the connections this store holds open.
    """

    TABLE_PREFIX = "vidserve_"
    SKIP_LOCKED = "FOR NO KEY UPDATE SKIP LOCKED"
    LOCK_ROW = "FOR NO KEY UPDATE"
    IN_LIST = "= ANY(:list)"
    QUEUE_LANES = 8

    def __init__(
        self,
        dsn: str,
        *,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.time,
        pool_size: int = 8,
    ) -> None:
        super().__init__()
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

    # -- PostgreSQL's pieces ------------------------------------------------------------

    @contextmanager
    def connection(self) -> Iterator[Connection[DictRow]]:
        """A pooled connection, in autocommit."""
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Connection[DictRow]]:
        """A pooled connection inside a transaction."""
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    def json_in(self, value: Any) -> Jsonb | None:
        return None if value is None else Jsonb(value)

    def json_out(self, stored: Any) -> Any:
        return stored  # jsonb columns arrive decoded

    def array(self, values: Collection[str]) -> list[str]:
        return list(values)

    def lock_owner(self, conn: Any, owner: str | None) -> None:
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LIMITS_LOCK_SPACE, owner or "")
        )

    def _translate(self, sql: str) -> str:
        return named_parameters(sql.replace("%", "%%"), "%({})s")  # a literal % doubled

    # -- status reads from an event loop ------------------------------------------------

    async def read_status(self, reads: Sequence[StatusRead]) -> list[StatusView | None]:
        """:meth:`status_views` on the caller's event loop, over one async connection kept
        for it (opened on first use, and again after a failure)."""
        if not reads:
            return []
        conn = await self._async_connection()
        try:
            async with asyncio.timeout(STATUS_READ_TIMEOUT):
                rows = await (await conn.execute(*self.status_query(reads))).fetchall()
                logs = self.logs_query(reads)
                lines = [] if logs is None else await (await conn.execute(*logs)).fetchall()
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
        return self.status_views_of(reads, rows, lines)

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
