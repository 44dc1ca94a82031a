"""PostgreSQL-only store behaviour: several processes (here: several pools) on one database,
and schema migrations. The shared contract is in ``test_store.py``."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from vidserve.schema import Status
from vidserve.store import postgres
from vidserve.store.base import JobStore, NewJob
from vidserve.store.factory import open_store
from vidserve.store.postgres import MIGRATIONS, PostgresJobStore, migrate
from vidserve.store.sqlite import SQLiteJobStore

LEASE = 30.0


def new(request_id: str) -> NewJob:
    return NewJob(
        request_id=request_id,
        endpoint_id="fal-ai/kling-video/v1/standard/text-to-video",
        input={"prompt": request_id},
        base_url="http://127.0.0.1:8000",
    )


@pytest.fixture
def open_pg(pg_url: str, clock: Callable[[], float]) -> Iterator[Callable[..., PostgresJobStore]]:
    """Open stores on this test's database (each its own pool, as separate processes would
    have); all are closed at the end."""
    opened: list[PostgresJobStore] = []

    def open_(**kwargs: Any) -> PostgresJobStore:
        s = PostgresJobStore(pg_url, clock=clock, **kwargs)
        opened.append(s)
        return s

    yield open_
    for s in opened:
        s.close()


def run_threads(targets: list[Callable[[], None]]) -> None:
    """Run the callables at once (a barrier lines them up) and re-raise their errors."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def wrap(target: Callable[[], None]) -> None:
        try:
            start.wait()
            target()
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def schema_version(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version FROM vidserve_schema_version").fetchone()
        count = conn.execute("SELECT COUNT(*) FROM vidserve_schema_version").fetchone()
    assert row is not None and count == (1,)
    return int(row[0])


# -- concurrency across processes ---------------------------------------------------------


def test_two_stores_claim_each_job_exactly_once(
    open_pg: Callable[..., PostgresJobStore],
) -> None:
    stores = [open_pg(pool_size=4), open_pg(pool_size=4)]
    ids = [f"r{i}" for i in range(100)]
    for rid in ids:
        stores[0].create(new(rid))
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(store: JobStore, name: str) -> Callable[[], None]:
        def work() -> None:
            while (job := store.claim(name, LEASE)) is not None:
                with lock:
                    claimed.append((job.request_id, name))

        return work

    run_threads([worker(s, f"s{i}-w{j}") for i, s in enumerate(stores) for j in range(4)])
    assert Counter(rid for rid, _ in claimed) == Counter(ids)
    for rid, name in claimed:  # the store agrees on who holds each one
        job = stores[1].get(rid)
        assert job is not None
        assert (job.status, job.worker_id, job.attempts) == (Status.IN_PROGRESS, name, 1)


def test_concurrent_log_lines_get_gap_free_seqs(
    open_pg: Callable[..., PostgresJobStore],
) -> None:
    stores = [open_pg(pool_size=4), open_pg(pool_size=4)]
    stores[0].create(new("a"))

    def writer(store: JobStore, name: str) -> Callable[[], None]:
        def write() -> None:
            for i in range(25):
                store.add_log("a", f"{name} {i}")

        return write

    run_threads([writer(s, f"s{i}-t{j}") for i, s in enumerate(stores) for j in range(4)])
    records = stores[1].logs("a")
    assert [r.seq for r in records] == list(range(1, 201))
    assert len({r.message for r in records}) == 200
    # Each writer's own lines are in the order it wrote them.
    for name in {r.message.split()[0] for r in records}:
        mine = [int(r.message.split()[1]) for r in records if r.message.startswith(name + " ")]
        assert mine == list(range(25))


def test_claim_skips_a_row_locked_elsewhere(
    open_pg: Callable[..., PostgresJobStore], pg_url: str
) -> None:
    store = open_pg()
    store.create(new("a"))
    store.create(new("b"))
    with psycopg.connect(pg_url) as other:  # a claim in flight in another process
        other.execute("SELECT 1 FROM vidserve_requests WHERE request_id = 'a' FOR NO KEY UPDATE")
        job = store.claim("w1", LEASE)
        assert job is not None and job.request_id == "b"
        assert store.claim("w1", LEASE) is None
    job = store.claim("w1", LEASE)
    assert job is not None and job.request_id == "a"


def test_status_reads_reconnect_after_the_connection_dies(
    open_pg: Callable[..., PostgresJobStore], pg_url: str
) -> None:
    """A restarted or failed-over database ends the async connection status polls use: that
    read fails, and the next one opens a new connection."""
    store = open_pg()
    store.create(new("a"))

    async def polls() -> None:
        (view,) = await store.read_status([("a", None)])
        assert view is not None and view.position == 0
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND query LIKE '%%inference_time%%'"
            )
        with pytest.raises(psycopg.OperationalError):
            await store.read_status([("a", None)])
        (view,) = await store.read_status([("a", None)])
        assert view is not None and view.status is Status.IN_QUEUE

    asyncio.run(polls())
    assert store.queue_position("a") == 0  # the pool's connections were not touched


def test_a_status_read_that_gets_no_answer_gives_up(
    open_pg: Callable[..., PostgresJobStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No poll waits for ever on a database that stopped answering: the read times out, and
    the next one uses a new connection."""
    store = open_pg()
    store.create(new("a"))

    async def polls() -> None:
        await store.read_status([("a", None)])
        first = store._async
        monkeypatch.setattr(postgres, "STATUS_READ_TIMEOUT", 1e-6)
        with pytest.raises(TimeoutError):
            await store.read_status([("a", None)])
        monkeypatch.setattr(postgres, "STATUS_READ_TIMEOUT", 10.0)
        (view,) = await store.read_status([("a", None)])
        assert view is not None and view.position == 0
        assert store._async is not first

    asyncio.run(polls())


# -- migrations -----------------------------------------------------------------------


def test_fresh_database_comes_up_to_date(
    open_pg: Callable[..., PostgresJobStore], pg_url: str
) -> None:
    open_pg()
    assert schema_version(pg_url) == len(MIGRATIONS)


def test_database_at_version_1_is_brought_up_to_date(
    open_pg: Callable[..., PostgresJobStore], pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate(conn, MIGRATIONS[:1]) == 1
        conn.execute(
            "INSERT INTO vidserve_requests"
            " (request_id, endpoint_id, input, base_url, status, created_at)"
            " VALUES ('old', 'e', '{\"prompt\": \"x\"}', 'http://h', 'IN_QUEUE', 1.0)"
        )
    assert schema_version(pg_url) == 1
    # Whatever the current list holds, one more step proves that opening applies what a
    # version-1 database lacks, and only that.
    extra = ("ALTER TABLE vidserve_requests ADD COLUMN test_extra integer NOT NULL DEFAULT 7",)
    steps = [*MIGRATIONS, extra]
    monkeypatch.setattr(postgres, "MIGRATIONS", steps)
    store = open_pg()
    assert schema_version(pg_url) == len(steps)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT test_extra FROM vidserve_requests").fetchall() == [(7,)]
    old = store.get("old")
    assert old is not None and old.input == {"prompt": "x"} and old.status is Status.IN_QUEUE
    store.add_log("old", "hello")
    assert [r.seq for r in store.logs("old")] == [1]
    # Opening again applies nothing twice (a second ADD COLUMN would fail).
    open_pg()
    assert schema_version(pg_url) == len(steps)


def test_database_newer_than_this_code_is_refused(
    open_pg: Callable[..., PostgresJobStore], pg_url: str
) -> None:
    open_pg()
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE vidserve_schema_version SET version = version + 1")
    with pytest.raises(RuntimeError, match="schema version"):
        open_pg()  # and its pool is closed again: a leak would fail the test (warnings)


def test_stores_opening_a_fresh_database_together_all_succeed(
    open_pg: Callable[..., PostgresJobStore], pg_url: str
) -> None:
    stores: list[PostgresJobStore] = []
    lock = threading.Lock()

    def open_one() -> None:
        s = open_pg(pool_size=1)
        with lock:
            stores.append(s)

    run_threads([open_one] * 6)
    assert len(stores) == 6
    assert schema_version(pg_url) == len(MIGRATIONS)
    stores[0].create(new("a"))
    assert stores[5].get("a") is not None


# -- open_store -----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_open_store_postgres_url(pg_url: str, scheme: str) -> None:
    url = scheme + pg_url[pg_url.index("://") :]
    store = open_store(url, max_attempts=5)
    try:
        assert isinstance(store, PostgresJobStore)
        assert store.max_attempts == 5
    finally:
        store.close()


def test_open_store_sqlite_url_and_path(tmp_path: Path) -> None:
    path = tmp_path / "a b" / "jobs.sqlite3"
    url = "sqlite://" + path.as_posix().replace(" ", "%20")
    for target in (url, str(path), "SQLITE://" + path.as_posix()):
        store = open_store(target, max_attempts=2)
        try:
            assert isinstance(store, SQLiteJobStore)
            assert store.path == path
            assert store.max_attempts == 2
        finally:
            store.close()


def test_open_store_relative_sqlite_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("data/jobs.sqlite3", max_attempts=3)
    try:
        assert isinstance(store, SQLiteJobStore)
        assert (tmp_path / "data" / "jobs.sqlite3").exists()
    finally:
        store.close()


@pytest.mark.parametrize("url", ["sqlite://host/jobs.db", "sqlite:///", "sqlite://"])
def test_open_store_rejects_bad_sqlite_urls(url: str) -> None:
    with pytest.raises(ValueError, match="SQLite"):
        open_store(url, max_attempts=3)
