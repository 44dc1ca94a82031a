"""Fixtures for the shared job-store suite: every test runs against every backend.

To add a backend, write a factory ``(tmp_path, clock, max_attempts) -> JobStore`` and list
it in ``FACTORIES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vidserve.store.base import JobStore
from vidserve.store.sqlite import SQLiteJobStore

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


StoreFactory = Callable[[Path, FakeClock, int], JobStore]


def _sqlite(tmp_path: Path, clock: FakeClock, max_attempts: int) -> JobStore:
    return SQLiteJobStore(tmp_path / "db" / "jobs.sqlite3", max_attempts=max_attempts, clock=clock)


FACTORIES: dict[str, StoreFactory] = {"sqlite": _sqlite}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(FACTORIES))
def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Callable[[], JobStore]]:
    """Opens stores on the same database (for reopen tests); closes all of them after."""
    factory = FACTORIES[request.param]
    opened: list[JobStore] = []

    def open_store() -> JobStore:
        s = factory(tmp_path, clock, MAX_ATTEMPTS)
        opened.append(s)
        return s

    yield open_store
    for s in opened:
        s.close()


@pytest.fixture
def store(store_factory: Callable[[], JobStore]) -> JobStore:
    return store_factory()
