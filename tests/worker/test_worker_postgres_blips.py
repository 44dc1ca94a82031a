"""PostgreSQL connections dropped under running renders (``pg_terminate_backend``, as a
database restart or a proxy's failover does): every request still completes with its video,
none as ``engine_error``."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from vidserve.storage import LocalStorage
from vidserve.store.postgres import PostgresJobStore

from helpers import ServerProcess
from pg import fresh_database, require_postgres

#: Every other connection to the test's own database (never another database's).
TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_postgres()
    with fresh_database() as url:
        yield url


class Terminator:
    """Cuts every other connection to the database ``times`` times, ``every`` seconds apart,
    on a thread of its own; counts the connections it cut."""

    def __init__(self, url: str, times: int = 10, every: float = 0.3) -> None:
        self.url, self.times, self.every = url, times, every
        self.rounds = 0
        self.cut = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Terminator:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for _ in range(self.times):
                row = conn.execute(TERMINATE).fetchone()
                self.cut += int(row[0]) if row else 0
                self.rounds += 1
                time.sleep(self.every)


def _rows(url: str) -> list[dict[str, Any]]:
    """The requests as the database has them, read over a connection of the test's own."""
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "SELECT request_id, status, attempts, error, error_type, result FROM vidserve_requests"
        )
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _wait_all_completed(url: str, count: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = _rows(url)
        if len(rows) == count and all(r["status"] == "COMPLETED" for r in rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"not all completed after {timeout} s: {rows}")


def test_terminated_connections_fail_no_render(
    pg_url: str, tmp_path: Path, chatty_engine: Any, make_worker: Any, submit: Any
) -> None:
    store = PostgresJobStore(pg_url)
    storage = LocalStorage(tmp_path / "files")
    jobs = [submit(store) for _ in range(6)]
    engine = chatty_engine(frames=40, delay=0.02)  # 0.8 s, a log line and progress per frame
    workers = [make_worker(store, storage, engine) for _ in range(2)]
    threads = [threading.Thread(target=w.run, kwargs={"idle_wait": 0.02}) for w in workers]
    for thread in threads:
        thread.start()
    try:
        assert engine.started.wait(10)
        terminator = Terminator(pg_url).start()
        terminator.join(30)
        rows = _wait_all_completed(pg_url, len(jobs), 60)
    finally:
        for worker in workers:
            worker.shutdown.set()
        for thread in threads:
            thread.join(20)
    assert terminator.rounds == 10 and terminator.cut >= 10
    for row in rows:
        assert row["error"] is None and row["error_type"] is None, row
        assert row["result"]["video"]["url"], row
        assert row["attempts"] <= 2, row  # a claim whose answer was lost may run twice
    for job in jobs:
        lines = [line.message for line in store.logs(job.request_id)]
        frames = [int(m.split()[1]) for m in lines if m.startswith("frame ")]
        # Every line arrived, in order (a line whose answer was lost may be there twice).
        assert sorted(set(frames)) == list(range(40))
        assert frames == sorted(frames)
    store.close()


@pytest.mark.slow
def test_terminated_connections_fail_no_render_of_a_worker_process(
    pg_url: str, tmp_path: Path, submit: Any
) -> None:
    """The same against ``vidserve worker`` (two workers, the motion engine) in a process
    of its own."""
    store = PostgresJobStore(pg_url)
    jobs = [submit(store, duration="5") for _ in range(4)]
    store.close()
    worker = ServerProcess(
        tmp_path / "worker",
        workers=2,
        role="worker",
        env={"VIDSERVE_STORE": pg_url, "VIDSERVE_LEASE_SECONDS": "10"},
    )
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not any(r["status"] == "IN_PROGRESS" for r in _rows(pg_url)):
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.05)
        terminator = Terminator(pg_url, every=0.5).start()
        terminator.join(30)
        rows = _wait_all_completed(pg_url, len(jobs), 240)
        assert terminator.rounds == 10 and terminator.cut >= 10
        for row in rows:
            assert row["error"] is None and row["error_type"] is None, (row, worker.log()[-3000:])
            assert row["result"]["video"]["file_size"] > 0
    finally:
        if worker.proc is not None and worker.proc.poll() is None:
            os.kill(worker.proc.pid, signal.SIGTERM)
        worker.stop()
