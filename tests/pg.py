"""PostgreSQL for tests: find (or start) the server, make throwaway databases.

The server is the one ``VIDSERVE_TEST_PG_DSN`` names (a libpq URL to a maintenance
database, default ``postgresql://postgres@127.0.0.1:5432/postgres``). Without it tests
that need PostgreSQL skip, except under ``CI=true`` where they fail: CI must run them.

Typical use::

    @pytest.fixture
    def pg_url() -> Iterator[str]:
        require_postgres()
        with fresh_database() as url:
            yield url

Creating a database costs ~50 ms; suites with many tests can share one per session and call
:func:`reset_database` (~10 ms) before each test instead.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

__all__ = [
    "DEFAULT_DSN",
    "DSN_ENV",
    "fresh_database",
    "maintenance_dsn",
    "postgres_unavailable",
    "require_postgres",
    "reset_database",
]

DSN_ENV = "VIDSERVE_TEST_PG_DSN"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
#: Prefix of every database these helpers create.
DATABASE_PREFIX = "vidserve_t_"

_unavailable: list[str | None] = []  # memo of postgres_unavailable(): [] until checked


def maintenance_dsn() -> str:
    """The URL of the maintenance database databases are created from."""
    return os.environ.get(DSN_ENV) or DEFAULT_DSN


def _ping(dsn: str) -> str | None:
    """None if ``dsn`` accepts a connection, else why not."""
    try:
        with psycopg.connect(dsn, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip()}"
    return None


def _try_start_server() -> bool:
    """Start the local Debian-style cluster(s), ignoring every failure (no such tool, no
    permission, already running). True if a start command succeeded."""
    try:
        versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    except OSError:
        return False
    started = False
    for version in versions:
        try:
            done = subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
                capture_output=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        started = started or done.returncode == 0
    return started


def postgres_unavailable() -> str | None:
    """None when the server answers (after trying once to start a local one), else the
    reason. Checked once per test session."""
    if not _unavailable:
        dsn = maintenance_dsn()
        reason = _ping(dsn)
        if reason is not None:
            # pg_ctlcluster waits for the server; the grace period covers a slow start.
            deadline = time.monotonic() + (10 if _try_start_server() else 0)
            while (reason := _ping(dsn)) is not None and time.monotonic() < deadline:
                time.sleep(0.5)
        _unavailable.append(None if reason is None else f"PostgreSQL at {dsn}: {reason}")
    return _unavailable[0]


def require_postgres() -> str:
    """The maintenance URL; skips the test if PostgreSQL is unreachable, or fails it when
    the environment says ``CI=true``."""
    reason = postgres_unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but PostgreSQL is unreachable ({reason}); set {DSN_ENV}")
        pytest.skip(f"PostgreSQL unreachable ({reason}); set {DSN_ENV} to run these tests")
    return maintenance_dsn()


def database_url(dsn: str, dbname: str) -> str:
    """``dsn`` (a URL or a key=value string) pointed at database ``dbname``."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        return urlunsplit(parts._replace(path="/" + dbname))
    return make_conninfo(dsn, dbname=dbname)


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create an empty database ``vidserve_t_<random hex>`` (``synchronous_commit`` off) and
    yield its URL; dropped on exit (``WITH (FORCE)``: connections still open to it are cut).
    Call :func:`require_postgres` first."""
    admin = maintenance_dsn()
    name = DATABASE_PREFIX + secrets.token_hex(6)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        # Throwaway data needs no durable commits: not waiting for the WAL flush keeps tests
        # fast on a busy disk, and changes nothing another session can observe.
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name))
        )
    try:
        yield database_url(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def reset_database(url: str) -> None:
    """Empty the database at ``url``: drop and recreate its ``public`` schema. Close the
    stores using it first: their open transactions would block the drop."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
