"""What a SQL backend supplies to the store written once over it (:mod:`.queue`,
:mod:`.records`): connections, transactions, and the few places SQLite and PostgreSQL differ.

The shared SQL is written in the dialect both speak (SQLite 3.39+ has ``RETURNING``,
``ON CONFLICT``, ``IS NOT DISTINCT FROM`` and ``->>``), with table names in braces
(``{requests}``) and parameters as ``:name``; :meth:`SqlBackend.sql` turns it into the
backend's text once and caches it. Every value is a bound parameter.

A backend implements:

* :meth:`~SqlBackend.connection`: a connection for reads and single statements (each
  statement atomic on its own);
* :meth:`~SqlBackend.transaction`: a connection in a transaction that conflicting writers
  cannot interleave with (SQLite: ``BEGIN IMMEDIATE``, the write lock up front; PostgreSQL:
  row locks, taken by :attr:`~SqlBackend.SKIP_LOCKED` and :attr:`~SqlBackend.LOCK_ROW`);
* JSON in and out, a list parameter (``{in_list}`` in the shared SQL: "is one of the
  strings bound as ``:list``", the value :meth:`~SqlBackend.array` makes), and
  :meth:`~SqlBackend.lock_owner` (one owner's submits one at a time, for exact limits).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from vidserve.schema import Status
from vidserve.store.base import Dialect, Job, LogRecord, Priority, WebhookState

__all__ = ["TABLES", "Connection", "Row", "SqlBackend"]

#: The tables, by their names in the shared SQL.
TABLES = (
    "requests",
    "logs",
    "queue_counts",
    "expiring_files",
    "deployment",
    "api_keys",
    "idempotency_keys",
)

_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

#: A row by column name (``sqlite3.Row`` and psycopg's ``dict_row`` both are).
Row = Mapping[str, Any]


class Connection(Protocol):
    """The part of a connection the store uses (``sqlite3`` and psycopg both have it)."""

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...


class SqlBackend(abc.ABC):
    """A SQL database under the store: the pieces each backend writes for itself."""

    #: Table names are this prefix plus the shared name.
    TABLE_PREFIX = ""
    #: Appended to a ``SELECT`` whose rows the transaction will change: lock them and skip
    #: rows another transaction holds (empty where the transaction already excludes others).
    SKIP_LOCKED = ""
    #: Appended to a ``SELECT`` of one row the transaction will change: lock it, waiting.
    LOCK_ROW = ""
    #: ``{in_list}``: true when the value before it is one of the list bound as ``:list``.
    IN_LIST: str
    #: Rows each queue counter is split in, so that concurrent claims change different rows
    #: (see :mod:`.queue`); 1 where writers take turns anyway. Migrations fill them so.
    QUEUE_LANES = 1

    #: The store's time (unix seconds); tests pass a fake clock.
    _clock: Any
    #: How often a request may be started before a lost worker counts as a failure.
    max_attempts: int

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    # -- the backend's pieces -----------------------------------------------------------

    @abc.abstractmethod
    def connection(self) -> AbstractContextManager[Connection]:
        """A connection for reads and single statements, in autocommit."""

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Connection]:
        """A connection inside a transaction, committed when the block ends (rolled back on
        an exception); conflicting writers wait or skip as described above."""

    @abc.abstractmethod
    def json_in(self, value: Any) -> Any:
        """A JSON value as the backend stores it; None stays NULL."""

    @abc.abstractmethod
    def json_out(self, stored: Any) -> Any:
        """A stored JSON column back as Python values; NULL is None."""

    @abc.abstractmethod
    def array(self, values: Collection[str]) -> Any:
        """A list of strings as the ``:list`` parameter of ``{in_list}``."""

    def lock_owner(self, conn: Connection, owner: str | None) -> None:  # noqa: B027
        """Inside a transaction: make it the only one recording a request for ``owner`` until
        it ends, so a count of their requests and the insert are one step. A no-op where the
        transaction already excludes every other writer."""

    @abc.abstractmethod
    def _translate(self, sql: str) -> str:
        """The shared SQL (tables named, ``:name`` parameters) as this backend's text."""

    # -- helpers for the shared code ----------------------------------------------------

    def sql(self, shared: str) -> str:
        """``shared`` as this backend's text (cached)."""
        text = self._texts.get(shared)
        if text is None:
            names = {table: self.TABLE_PREFIX + table for table in TABLES}
            names.update(skip_locked=self.SKIP_LOCKED, lock_row=self.LOCK_ROW, in_list=self.IN_LIST)
            text = self._texts[shared] = self._translate(shared.format(**names))
        return text

    def run(self, conn: Connection, shared: str, params: Mapping[str, Any] | None = None) -> Any:
        """Execute ``shared`` on ``conn``; the cursor."""
        return conn.execute(self.sql(shared), dict(params or {}))

    def one(self, shared: str, params: Mapping[str, Any] | None = None) -> Any:
        """The first row of one statement (None if none), on a connection of its own."""
        with self.connection() as conn:
            return self.run(conn, shared, params).fetchone()

    def rows(self, shared: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every row of one statement."""
        with self.connection() as conn:
            return list(self.run(conn, shared, params).fetchall())

    def count(self, shared: str, params: Mapping[str, Any] | None = None) -> int:
        """The rows one writing statement changed."""
        with self.connection() as conn:
            return int(self.run(conn, shared, params).rowcount)

    def job(self, row: Row) -> Job:
        """A request row as a :class:`Job`."""
        return Job(
            request_id=row["request_id"],
            endpoint_id=row["endpoint_id"],
            input=self.json_out(row["input"]),
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
            result=self.json_out(row["result"]),
            error=row["error"],
            error_type=row["error_type"],
            error_detail=self.json_out(row["error_detail"]),
            metrics=self.json_out(row["metrics"]) or {},
            start_deadline=row["start_deadline"],
            output_lifetime=row["output_lifetime"],
            webhook_state=None
            if row["webhook_state"] is None
            else WebhookState(row["webhook_state"]),
            webhook_attempts=row["webhook_attempts"],
            webhook_error=row["webhook_error"],
            owner=row["owner"],
            video_seconds=row["video_seconds"],
            cost=row["cost"],
            dialect=Dialect(row["dialect"]),
            dialect_fields=self.json_out(row["dialect_fields"]) or {},
            deleted_at=row["deleted_at"],
        )


def named_parameters(sql: str, style: str) -> str:
    """``:name`` parameters in ``style`` (``"%({})s"`` for psycopg); ``::`` casts and
    quoted text are left alone (the shared SQL has no ``:`` inside quotes)."""
    return _PARAMETER.sub(lambda m: style.format(m.group(1)), sql)


def log_records(rows: Iterable[Row]) -> list[LogRecord]:
    """Log rows (``seq, timestamp, level, message``) as records."""
    return [LogRecord(r["seq"], r["timestamp"], r["level"], r["message"]) for r in rows]
