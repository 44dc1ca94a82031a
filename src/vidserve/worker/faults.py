"""Which failures are the infrastructure's, not the engine's.

A worker meets three kinds of infrastructure trouble, told apart by the exception's type:

* the job store does not answer: ``psycopg.OperationalError`` (a dropped connection,
  ``AdminShutdown``, ``psycopg_pool.PoolTimeout``, a serialization failure), or
  ``sqlite3.OperationalError`` saying the database is locked, busy, unreadable or full;
* file storage (or the worker's own disk) is full: ``OSError`` with ``ENOSPC``/``EDQUOT``
  (:class:`~vidserve.storage.StorageFullError` among them), anywhere in a request's run;
* file storage does not answer: any ``OSError`` or botocore/boto3 error from a storage call.

Requests hit by these go back to the queue; they never fail as ``engine_error``, and what a
user sees of them names no server path. Nothing here imports psycopg or boto3: an exception
of theirs can only exist once they are loaded.
"""

from __future__ import annotations

import sqlite3
import sys
from enum import StrEnum

from vidserve.schema import ErrorType
from vidserve.storage.base import FULL_ERRNOS

#: Fragments of ``sqlite3.OperationalError`` messages that mean "not now", not "a bug".
_SQLITE_TRANSIENT = ("locked", "busy", "disk i/o", "unable to open", "disk is full", "readonly")
#: How far along ``__cause__``/``__context__`` a wrapped error is looked for.
_CHAIN_DEPTH = 5


class Fault(StrEnum):
    """An infrastructure fault; the values are the ``error_type`` naming each."""

    STORE = ErrorType.STORE_UNAVAILABLE.value
    STORAGE_FULL = ErrorType.STORAGE_FULL.value
    STORAGE = ErrorType.STORAGE_UNAVAILABLE.value

    @property
    def what(self) -> str:
        """What happened, as a user may be told (no paths, no exception text)."""
        return _WHAT[self]


_WHAT = {
    Fault.STORE: "The job store did not answer",
    Fault.STORAGE_FULL: "File storage is full",
    Fault.STORAGE: "File storage did not answer",
}


def _store_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return any(fragment in message for fragment in _SQLITE_TRANSIENT)
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.OperationalError)


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
    if any(_store_error(e) for e in chain):
        return Fault.STORE
    if storage and _storage_error(exc):
        return Fault.STORAGE
    return None


def describe(exc: BaseException) -> str:
    """An error as a user may see it: its type and message, an OS error without the file
    names it carries (server paths)."""
    if isinstance(exc, OSError) and (exc.filename is not None or exc.filename2 is not None):
        return f"{type(exc).__name__}: {exc.strerror or 'operating system error'}"
    return f"{type(exc).__name__}: {exc}"
