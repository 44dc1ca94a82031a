"""Fixtures for the shared job-store suite: every test runs against every backend.

To add a backend, write a factory ``(location, clock, max_attempts) -> JobStore``, list it
in ``FACTORIES``, and name in ``LOCATIONS`` the fixture that gives each test a fresh, empty
database ``location`` (a path, a URL) for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vidserve.store.base import JobStore
from vidserve.store.sqlite import SQLiteJobStore

from pg import fresh_database, require_postgres, reset_database

#: The store's ``max_attempts`` in these tests.
MAX_ATTEMPTS = 3


class FakeClock:
    """A settable clock: lease expiry is tested by moving time, not by sleeping."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


StoreFactory = Callable[[str, FakeClock, int], JobStore]


def _sqlite(location: str, clock: FakeClock, max_attempts: int) -> JobStore:
    return SQLiteJobStore(location, max_attempts=max_attempts, clock=clock)


def _postgres(location: str, clock: FakeClock, max_attempts: int) -> JobStore:
    # Imported here: psycopg is only needed when the postgres params run.
    from vidserve.store.postgres import PostgresJobStore

    return PostgresJobStore(location, max_attempts=max_attempts, clock=clock)


FACTORIES: dict[str, StoreFactory] = {"sqlite": _sqlite, "postgres": _postgres}

#: Per backend, the fixture giving a test its fresh database location.
LOCATIONS: dict[str, str] = {"sqlite": "sqlite_path", "postgres": "pg_url"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> str:
    """A SQLite file path in the test's own directory (not created yet)."""
    return str(tmp_path / "db" / "jobs.sqlite3")


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """One throwaway PostgreSQL database for the session (creating one per test is slow);
    :func:`pg_url` empties it before each test. Skips (fails under ``CI=true``) if
    PostgreSQL is unreachable."""
    require_postgres()
    with fresh_database() as url:
        yield url


@pytest.fixture
def pg_url(pg_session_url: str) -> str:
    """The URL of an empty PostgreSQL database, for this test alone. Close every store on
    it by the end of the test (the next test's reset would wait on open transactions)."""
    reset_database(pg_session_url)
    return pg_session_url


@pytest.fixture(params=sorted(FACTORIES))
def store_factory(
    request: pytest.FixtureRequest, clock: FakeClock
) -> Iterator[Callable[[], JobStore]]:
    """Opens stores on the same database (for reopen tests); closes all of them after."""
    factory = FACTORIES[request.param]
    location: str = request.getfixturevalue(LOCATIONS[request.param])
    opened: list[JobStore] = []

    def open_store() -> JobStore:
        s = factory(location, clock, MAX_ATTEMPTS)
        opened.append(s)
        return s

    yield open_store
    for s in opened:
        s.close()


@pytest.fixture
def store(store_factory: Callable[[], JobStore]) -> JobStore:
    return store_factory()
