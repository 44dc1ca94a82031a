"""The SQLite job store: one file, WAL mode, safe across threads and processes.

The store's rules are :class:`~vidserve.store.records.SqlJobStore`'s; this module gives them
SQLite's pieces. Every transaction is ``BEGIN IMMEDIATE``, which takes the database's write
lock up front, so two claimers (threads or processes) can never pick the same row and no
row locks are needed. Each thread gets its own connection; SQLite connections must not be
shared between threads while in use. JSON is stored as text; a list parameter is a JSON
array read with ``json_each``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vidserve.store.records import SqlJobStore

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
    (
        # Log numbers from a counter on the request row, as PostgreSQL's (see
        # store/queue.py), continuing from the lines already there.
        "ALTER TABLE requests ADD COLUMN log_seq INTEGER NOT NULL DEFAULT 0",
        """
        UPDATE requests SET log_seq = (
            SELECT COALESCE(MAX(seq), 0) FROM logs WHERE logs.request_id = requests.request_id
        )
        """,
    ),
    (
        # Queued requests counted per priority and block of 1024 seq numbers (level 0)
        # and group of 32 blocks (level 1), one lane (see store/queue.py), from the requests
        # queued now.
        """
        CREATE TABLE queue_counts (
            level INTEGER NOT NULL,
            priority INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            lane INTEGER NOT NULL,
            queued INTEGER NOT NULL,
            PRIMARY KEY (level, priority, bucket, lane)
        )
        """,
        """
        INSERT INTO queue_counts (level, priority, bucket, lane, queued)
        SELECT 0, priority, seq / 1024, 0, COUNT(*) FROM requests
        WHERE status = 'IN_QUEUE' GROUP BY priority, seq / 1024
        """,
        """
        INSERT INTO queue_counts (level, priority, bucket, lane, queued)
        SELECT 1, priority, seq / 32768, 0, COUNT(*) FROM requests
        WHERE status = 'IN_QUEUE' GROUP BY priority, seq / 32768
        """,
    ),
]


class SQLiteJobStore(SqlJobStore):
    """:class:`~vidserve.store.base.JobStore` on a SQLite file.

    ``max_attempts`` bounds how often a request may be started before a lost worker counts
    as a failure; ``clock`` gives the current unix time (tests pass a fake one).
    """

    quick_reads = True
    IN_LIST = "IN (SELECT value FROM json_each(:list))"

    def __init__(
        self,
        path: Path | str,
        *,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
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

    # -- SQLite's pieces ----------------------------------------------------------------

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, in autocommit."""
        yield self._conn()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
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

    def json_in(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value)

    def json_out(self, stored: Any) -> Any:
        return None if stored is None else json.loads(stored)

    def array(self, values: Collection[str]) -> str:
        return json.dumps(list(values))

    def _translate(self, sql: str) -> str:
        return sql  # sqlite3 binds :name parameters from a dict as they are

    # -- connections --------------------------------------------------------------------

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

    def _migrate(self) -> None:
        with self.transaction() as conn:
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
