"""Open the job store a URL names: PostgreSQL for ``postgresql://`` (or ``postgres://``)
URLs, otherwise a SQLite file (a plain path or ``sqlite:///path``).

The backends are imported only when chosen, so a SQLite deployment never imports psycopg.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from vidserve.store.base import JobStore

__all__ = ["open_store"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SCHEME = "sqlite://"


def open_store(url: str, *, max_attempts: int) -> JobStore:
    """Open the store ``url`` names.

    * ``postgresql://user@host:port/db`` or ``postgres://...``: a
      :class:`~vidserve.store.postgres.PostgresJobStore` on that database.
    * ``sqlite:///absolute/path`` (the URL's path, as with ``file:///``; percent-escapes
      are decoded) or any plain path, relative or absolute: a
      :class:`~vidserve.store.sqlite.SQLiteJobStore` on that file.
    """
    if url.lower().startswith(_POSTGRES_SCHEMES):
        from vidserve.store.postgres import PostgresJobStore

        return PostgresJobStore(url, max_attempts=max_attempts)

    from vidserve.store.sqlite import SQLiteJobStore

    path = url
    if url.lower().startswith(_SQLITE_SCHEME):
        parts = urlsplit(url)
        if parts.netloc or not parts.path or parts.path == "/" or parts.query:
            raise ValueError(f"a SQLite store URL is sqlite:///path/to/file, got {url!r}")
        path = unquote(parts.path)
    return SQLiteJobStore(path, max_attempts=max_attempts)
