"""Queue positions stay exact through every way a request enters or leaves the queue, with
blocks of two ``seq`` numbers (groups of 64) so that moves cross blocks and groups (see
store/queue.py)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from vidserve.schema import Status
from vidserve.store.base import Dialect, JobStore, NewJob, Priority

A, B = "fal-ai/kling-video/v1/standard/image-to-video", "fal-ai/kling-video/v1/pro/image-to-video"
LEASE = 30.0


def small_blocks(store: JobStore) -> JobStore:
    store.queue_bucket = 2  # type: ignore[attr-defined] - a SQL store on an empty database
    return store


def job(request_id: str, rng: random.Random, deadline: float | None = None) -> NewJob:
    return NewJob(
        request_id=request_id,
        endpoint_id=rng.choice((A, B)),
        input={},
        base_url="http://x",
        priority=rng.choice((Priority.NORMAL, Priority.NORMAL, Priority.LOW)),
        start_timeout=deadline,
    )


def expected_positions(store: JobStore) -> dict[str, int]:
    """Every queued request's position, counted from all the requests in claim order."""
    everything = store.list_requests(None, Dialect.FAL, limit=100_000, newest_first=False)
    queued = [j for j in everything if j.status is Status.IN_QUEUE]
    order = sorted(range(len(queued)), key=lambda i: (queued[i].priority, i))
    return {queued[i].request_id: position for position, i in enumerate(order)}


def positions(store: JobStore) -> dict[str, int]:
    everything = store.list_requests(None, Dialect.FAL, limit=100_000)
    views = store.status_views([(j.request_id, None) for j in everything])
    return {v.request_id: v.position for v in views if v is not None and v.position is not None}


def test_positions_stay_exact_through_random_moves(
    store_factory: Callable[[], JobStore], clock: Any
) -> None:
    store = small_blocks(store_factory())
    rng = random.Random(7)
    running: list[tuple[str, str]] = []
    made = 0
    for step in range(160):
        move = rng.random()
        if move < 0.4 or made < 5:
            deadline = 5.0 if rng.random() < 0.15 else None
            store.create(job(f"r{made:03}", rng, deadline))
            made += 1
        elif move < 0.6:
            worker = f"w{step}"
            taken = store.claim(worker, LEASE, rng.choice((None, [A], [B])))
            if taken is not None:
                running.append((taken.request_id, worker))
        elif move < 0.68 and running:
            store.release(*running.pop(rng.randrange(len(running))))
        elif move < 0.76 and running:
            request_id, worker = running.pop(rng.randrange(len(running)))
            store.complete(request_id, worker, result={})
        elif move < 0.86:
            store.cancel(f"r{rng.randrange(made):03}")
        elif move < 0.93:
            clock.advance(LEASE + 1)  # every lease lapses: the next claims take them again
            running.clear()
        else:
            clock.advance(6)
            store.expire_overdue()
        assert positions(store) == expected_positions(store), f"after step {step}"


def test_positions_stay_exact_with_concurrent_submits_and_claims(
    store_factory: Callable[[], JobStore],
) -> None:
    store = small_blocks(store_factory())
    rng = random.Random(3)
    for i in range(60):
        store.create(job(f"early{i}", rng))

    def submit(name: str) -> None:
        local = random.Random(name)
        for i in range(25):
            store.create(job(f"{name}{i}", local))

    def work(name: str) -> None:
        for _ in range(25):
            taken = store.claim(name, LEASE)
            if taken is not None and random.Random(taken.request_id).random() < 0.3:
                store.release(taken.request_id, name)

    threads = [threading.Thread(target=submit, args=(f"s{n}-",)) for n in range(3)]
    threads += [threading.Thread(target=work, args=(f"w{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = expected_positions(store)
    assert len(expected) > 20  # the check covers a real queue
    assert positions(store) == expected


@pytest.mark.parametrize("bucket", [1, 1024])
def test_block_size_does_not_change_positions(
    store_factory: Callable[[], JobStore], bucket: int
) -> None:
    store = store_factory()
    store.queue_bucket = bucket  # type: ignore[attr-defined]
    rng = random.Random(bucket)
    for i in range(12):
        store.create(job(f"r{i:02}", rng))
    for _ in range(4):
        store.claim("w", LEASE)
    store.cancel("r07")
    assert positions(store) == expected_positions(store)


def test_a_recount_rebuilds_the_counters_of_requests_written_around_the_store(
    store_factory: Callable[[], JobStore],
) -> None:
    store = small_blocks(store_factory())
    rng = random.Random(11)
    for i in range(40):
        store.create(job(f"r{i:02}", rng))
    for _ in range(7):
        store.claim("w", LEASE)
    expected = expected_positions(store)
    sql: Any = store
    with sql.transaction() as conn:  # counters lost, as after a bulk load around the store
        sql.run(conn, "DELETE FROM {queue_counts}")
    assert positions(store) != expected
    sql.recount_queue()
    assert positions(store) == expected
