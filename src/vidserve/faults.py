"""Which failures are the infrastructure's, told apart by the exception's type: one reading
for the API (which answers 503 or 507) and the worker (which retries, or hands a request back).

* the job store does not answer: ``psycopg.OperationalError`` with no SQLSTATE (a refused or
  dropped connection, ``psycopg_pool.PoolTimeout``), class 08 or 57P01-57P03 (the server
  shuts down); ``sqlite3.OperationalError`` that cannot open, read or write its file;
* the job store is there but cannot do it now: SQLite locked or busy; PostgreSQL's other
  operational errors (a deadlock, a serialization failure, a cancelled statement);
* a disk is full: ``OSError`` with ``ENOSPC``/``EDQUOT`` anywhere in the exception's chain
  (:class:`~vidserve.storage.StorageFullError` among them), SQLite's "database or disk is
  full", PostgreSQL's 53100;
* file storage does not answer: any ``OSError`` or botocore/boto3 error of a storage call.

Nothing here imports psycopg or boto3: an exception of theirs can only exist once they are
loaded. What a user may be told of these names no server path.
"""

from __future__ import annotations

import sqlite3
import sys
from enum import StrEnum

from vidserve.schema import ErrorType
from vidserve.storage.base import FULL_ERRNOS

#: SQLite's primary result codes (``sqlite3.Error.sqlite_errorcode & 0xFF``).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_FULL = 5, 6, 13
#: PostgreSQL's SQLSTATEs for a server that shuts down or takes no connections.
_PG_GOING_AWAY = ("57P01", "57P02", "57P03")
_PG_DISK_FULL = "53100"
#: How far along ``__cause__``/``__context__`` a wrapped error is looked for.
_CHAIN_DEPTH = 5


class Fault(StrEnum):
    """An infrastructure fault; the values are the ``error_type`` naming each."""

    STORE = ErrorType.STORE_UNAVAILABLE.value
    STORE_BUSY = ErrorType.STORE_BUSY.value
    STORAGE_FULL = ErrorType.STORAGE_FULL.value
    STORAGE = ErrorType.STORAGE_UNAVAILABLE.value

    @property
    def what(self) -> str:
        """What happened, as a user may be told (no paths, no exception text)."""
        return _WHAT[self]

    @property
    def in_store(self) -> bool:
        """A fault of the job store (down or busy), not of file storage."""
        return self in (Fault.STORE, Fault.STORE_BUSY)


_WHAT = {
    Fault.STORE: "The job store did not answer",
    Fault.STORE_BUSY: "The job store is busy",
    Fault.STORAGE_FULL: "File storage is full",
    Fault.STORAGE: "File storage did not answer",
}


def _sqlite_fault(exc: sqlite3.Error) -> Fault | None:
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    message = str(exc).lower()
    if code == _SQLITE_FULL or "database or disk is full" in message:
        return Fault.STORAGE_FULL
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in message or "busy" in message:
        return Fault.STORE_BUSY
    if any(s in message for s in ("unable to open", "disk i/o", "readonly", "read-only")):
        return Fault.STORE
    return None  # a bad statement: a bug, not the infrastructure


def _postgres_fault(exc: BaseException) -> Fault | None:
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(exc, psycopg.OperationalError):
        return None
    state = getattr(exc, "sqlstate", None) or ""
    if state == _PG_DISK_FULL:
        return Fault.STORAGE_FULL
    if not state or state.startswith("08") or state in _PG_GOING_AWAY:
        return Fault.STORE
    return Fault.STORE_BUSY


def _storage_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None and isinstance(exc, botocore.BotoCoreError | botocore.ClientError):
        return True
    boto3 = sys.modules.get("boto3.exceptions")
    return boto3 is not None and isinstance(exc, boto3.Boto3Error)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the errors it was raised from or while handling, nearest first."""
    chain = [exc]
    while len(chain) < _CHAIN_DEPTH:
        nxt = chain[-1].__cause__ or chain[-1].__context__
        if nxt is None or nxt in chain:
            break
        chain.append(nxt)
    return chain


def fault_of(exc: BaseException, *, storage: bool = False) -> Fault | None:
    """The infrastructure fault ``exc`` is, or None when it is not one (an engine's bug, a
    bad input). ``storage``: ``exc`` came from a file storage call, where every OS or S3
    error is the storage's."""
    chain = _chain(exc)
    if any(isinstance(e, OSError) and e.errno in FULL_ERRNOS for e in chain):
        return Fault.STORAGE_FULL
    for e in chain:
        fault = _sqlite_fault(e) if isinstance(e, sqlite3.Error) else _postgres_fault(e)
        if fault is not None:
            return fault
    if storage and _storage_error(exc):
        return Fault.STORAGE
    return None


def describe(exc: BaseException) -> str:
    """An error as a user may see it: its type and message, an OS error without the file
    names it carries (server paths)."""
    if isinstance(exc, OSError) and (exc.filename is not None or exc.filename2 is not None):
        return f"{type(exc).__name__}: {exc.strerror or 'operating system error'}"
    return f"{type(exc).__name__}: {exc}"
