"""Benchmark what a status poll's ``queue_position`` costs as the queue grows, on SQLite and
PostgreSQL, against the peer it replaced: counting every queued request ahead.

``.venv/bin/python bench/queue_position.py`` (PostgreSQL at ``VIDSERVE_BENCH_PG``, default
``postgresql://postgres@127.0.0.1:5432/test``, where it creates and drops a throwaway
database). For each backend and each queue length (1k, 10k, 100k queued, plus as many
completed), it fills a fresh store through SQL (and rebuilds the queue's counters), then
times ``status_views`` of one request at a time over 200 requests spread through the queue
(the last one included), and the same polls' position
counted the old way (a ``COUNT(*)`` over the queued rows ahead, an index range) in the same
run. It prints a markdown table: median and p99 microseconds per poll, and the ratio to 1k.
"""

# ruff: noqa: E402, S608 - the src path must be set first; table names are constants
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from vidserve.store.records import SqlJobStore

PG = os.environ.get("VIDSERVE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
SIZES = (1_000, 10_000, 100_000)
POLLS = 200

FILL = """
INSERT INTO {requests} (request_id, endpoint_id, input, base_url, status, created_at, priority)
SELECT 'r' || n, 'e', '{{}}', 'http://x', CASE WHEN n % 2 = 0 THEN 'IN_QUEUE' ELSE 'COMPLETED' END,
       n, CASE WHEN n % 10 = 0 THEN 1 ELSE 0 END
FROM {series}
"""
#: The peer: every queued request ahead, counted on each poll.
COUNT_AHEAD = """
SELECT (SELECT COUNT(*) FROM {requests} AS o
        WHERE o.status = 'IN_QUEUE' AND o.priority < r.priority)
     + (SELECT COUNT(*) FROM {requests} AS o
        WHERE o.status = 'IN_QUEUE' AND o.priority = r.priority AND o.seq < r.seq) AS position
FROM {requests} AS r WHERE r.request_id = :id
"""


def sqlite_store(folder: str, size: int) -> SqlJobStore:
    from vidserve.store.sqlite import SQLiteJobStore

    store = SQLiteJobStore(Path(folder) / f"q{size}.sqlite3")
    series = (
        f"(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {2 * size})"
        " SELECT n FROM s)"
    )
    with store.transaction() as conn:
        conn.execute(store.sql(FILL.replace("{series}", series)), {})
    store.recount_queue()
    store.connection().__enter__().execute("ANALYZE")
    return store


def postgres_store(url: str, size: int) -> SqlJobStore:
    from vidserve.store.postgres import PostgresJobStore

    store = PostgresJobStore(url)
    series = f"generate_series(1, {2 * size}) AS s(n)"
    with store.transaction() as conn:
        conn.execute(store.sql(FILL.replace("{series}", series)), {})
    store.recount_queue()
    with store.connection() as conn:
        conn.execute("VACUUM ANALYZE vidserve_requests")
        conn.execute("VACUUM ANALYZE vidserve_queue_counts")
    return store


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1e6


def measure(store: SqlJobStore, size: int) -> dict[str, list[float]]:
    ids = [f"r{2 * (1 + i * (size - 1) // (POLLS - 1))}" for i in range(POLLS)]
    peer = store.sql(COUNT_AHEAD)
    with store.connection() as conn:
        for request_id in ids[:20]:  # warm caches and prepared statements
            store.status_views([(request_id, None)])
            conn.execute(peer, {"id": request_id}).fetchone()
        found: dict[str, list[float]] = {"poll": [], "count ahead": []}
        for request_id in ids:
            (view,) = store.status_views([(request_id, None)])
            old = conn.execute(peer, {"id": request_id}).fetchone()["position"]
            assert view is not None and view.position == old, (request_id, view, old)
            found["poll"].append(timed(lambda r=request_id: store.status_views([(r, None)])))
            found["count ahead"].append(
                timed(lambda r=request_id: conn.execute(peer, {"id": r}).fetchone())
            )
    return found


def p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    import psycopg

    rows: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for backend in ("sqlite", "postgres"):
            base: dict[str, float] = {}
            for size in args.sizes:
                if backend == "sqlite":
                    store = sqlite_store(folder, size)
                else:
                    with psycopg.connect(PG, autocommit=True) as admin:
                        admin.execute("DROP DATABASE IF EXISTS vidserve_bench_position")
                        admin.execute("CREATE DATABASE vidserve_bench_position")
                    url = PG.rsplit("/", 1)[0] + "/vidserve_bench_position"
                    store = postgres_store(url, size)
                try:
                    found = measure(store, size)
                finally:
                    store.close()
                for what, values in found.items():
                    median = statistics.median(values)
                    base.setdefault(what, median)
                    rows.append(
                        f"| {backend} | {size:,} | {what} | {median:.0f} | {p99(values):.0f} |"
                        f" {median / base[what]:.2f}x |"
                    )
            if backend == "postgres":
                with psycopg.connect(PG, autocommit=True) as admin:
                    admin.execute("DROP DATABASE IF EXISTS vidserve_bench_position")
    print("| store | queued | position by | median µs | p99 µs | vs 1k |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
