"""SQLite-only store behaviour: schema migrations. The shared contract is in ``test_store.py``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vidserve.schema import Status
from vidserve.store.base import NewJob
from vidserve.store.sqlite import MIGRATIONS, SQLiteJobStore


def version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])


def older_database(path: Path, version: int) -> sqlite3.Connection:
    """A database as release ``version`` of the schema left it (the caller fills it)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
    for step in MIGRATIONS[:version]:
        for statement in step:
            conn.execute(statement)
    return conn


def test_a_fresh_database_comes_up_to_date(tmp_path: Path) -> None:
    SQLiteJobStore(tmp_path / "jobs.sqlite3").close()
    assert version(tmp_path / "jobs.sqlite3") == len(MIGRATIONS)


def test_an_older_database_is_migrated_and_keeps_its_requests(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with older_database(path, 1) as conn:  # as the first release left it
        conn.execute(
            "INSERT INTO requests (request_id, endpoint_id, input, base_url, status, created_at)"
            " VALUES ('old', 'e', '{}', 'http://x', 'IN_QUEUE', 1.0)"
        )
    store = SQLiteJobStore(path)
    try:
        old = store.get("old")
        assert old is not None and old.status is Status.IN_QUEUE
        assert old.webhook_state is None and old.start_deadline is None
        assert store.deployment_secret()
    finally:
        store.close()
    assert version(path) == len(MIGRATIONS)


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    SQLiteJobStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(RuntimeError, match="schema version 99"):
        SQLiteJobStore(path)


def test_log_numbers_continue_after_the_lines_an_older_database_holds(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with older_database(path, 4) as conn:  # from before the log counter
        conn.execute(
            "INSERT INTO requests (request_id, endpoint_id, input, base_url, status, created_at)"
            " VALUES ('old', 'e', '{}', 'http://x', 'IN_QUEUE', 1.0)"
        )
        conn.executemany(
            "INSERT INTO logs (request_id, seq, timestamp, level, message)"
            " VALUES ('old', ?, 1.0, 'INFO', ?)",
            [(1, "one"), (2, "two")],
        )
    store = SQLiteJobStore(path)
    try:
        store.add_log("old", "three")
        assert [(r.seq, r.message) for r in store.logs("old")] == [
            (1, "one"),
            (2, "two"),
            (3, "three"),
        ]
    finally:
        store.close()


def test_queue_positions_hold_for_requests_queued_before_the_counters(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with older_database(path, 5) as conn:  # from before the queue's counters
        conn.executemany(
            "INSERT INTO requests (request_id, endpoint_id, input, base_url, status, created_at,"
            " priority) VALUES (?, 'e', '{}', 'http://x', ?, 1.0, ?)",
            [
                ("a", "IN_QUEUE", 0),
                ("b", "COMPLETED", 0),
                ("c", "IN_QUEUE", 1),
                ("d", "IN_QUEUE", 0),
            ],
        )
    store = SQLiteJobStore(path)
    try:
        assert [store.queue_position(r) for r in "abcd"] == [0, None, 2, 1]
        store.create(NewJob("e", "e", {}, "http://x"))
        assert store.queue_position("e") == 2  # behind a and d, ahead of low-priority c
        assert store.queue_position("c") == 3
    finally:
        store.close()
