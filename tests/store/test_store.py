"""The job-store contract, run against every backend listed in ``conftest.FACTORIES``."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Protocol

import pytest

from vidserve.schema import ErrorType, Status
from vidserve.store.base import (
    CancelOutcome,
    Job,
    JobStore,
    LimitExceededError,
    NewJob,
    Priority,
    SubmitLimits,
    WebhookState,
)

LEASE = 30.0
OTHER_V1 = "fal-ai/kling-video/v1/standard/image-to-video"


class Clock(Protocol):
    """What the tests use of conftest's fake clock."""

    now: float

    def advance(self, seconds: float) -> None: ...


def new(
    request_id: str,
    *,
    endpoint_id: str = "fal-ai/kling-video/v1/standard/text-to-video",
    priority: Priority = Priority.NORMAL,
    webhook_url: str | None = None,
    start_timeout: float | None = None,
    owner: str | None = None,
) -> NewJob:
    return NewJob(
        request_id=request_id,
        endpoint_id=endpoint_id,
        input={"prompt": f"prompt {request_id}", "duration": "5"},
        base_url="http://127.0.0.1:8000",
        priority=priority,
        webhook_url=webhook_url,
        start_timeout=start_timeout,
        owner=owner,
    )


def claim(store: JobStore, worker: str = "w1", endpoint_ids: Collection[str] | None = None) -> Job:
    job = store.claim(worker, LEASE, endpoint_ids)
    assert job is not None
    return job


def get(store: JobStore, request_id: str) -> Job:
    job = store.get(request_id)
    assert job is not None
    return job


# -- create / get ---------------------------------------------------------------------


def test_create_and_get_round_trip(store: JobStore, clock: Clock) -> None:
    created = store.create(
        NewJob(
            request_id="r1",
            endpoint_id="fal-ai/kling-video/v1/standard/image-to-video",
            input={"prompt": "a cat", "nested": {"list": [1, 2.5, None, "ü"]}},
            base_url="http://example.test:9000",
            priority=Priority.LOW,
            webhook_url="http://hook.test/cb",
        )
    )
    fetched = get(store, "r1")
    assert fetched == created
    assert fetched.input == {"prompt": "a cat", "nested": {"list": [1, 2.5, None, "ü"]}}
    assert fetched.endpoint_id == "fal-ai/kling-video/v1/standard/image-to-video"
    assert fetched.base_url == "http://example.test:9000"
    assert fetched.webhook_url == "http://hook.test/cb"
    assert fetched.status is Status.IN_QUEUE
    assert fetched.priority is Priority.LOW
    assert fetched.created_at == clock.now
    assert fetched.attempts == 0
    assert fetched.cancel_requested is False
    assert fetched.started_at is None and fetched.worker_id is None
    assert fetched.result is None and fetched.error is None
    assert fetched.metrics == {}


def test_get_unknown_is_none(store: JobStore) -> None:
    assert store.get("nope") is None


# -- queue positions ------------------------------------------------------------------


def test_queue_positions_are_zero_based_in_order(store: JobStore) -> None:
    for rid in ("a", "b", "c"):
        store.create(new(rid))
    assert [store.queue_position(r) for r in ("a", "b", "c")] == [0, 1, 2]


def test_low_priority_queues_behind_normal(store: JobStore) -> None:
    store.create(new("low", priority=Priority.LOW))
    store.create(new("n1"))
    store.create(new("n2"))
    assert store.queue_position("n1") == 0
    assert store.queue_position("n2") == 1
    assert store.queue_position("low") == 2


def test_queue_position_drops_as_earlier_requests_leave(store: JobStore) -> None:
    for rid in ("a", "b", "c", "d"):
        store.create(new(rid))
    assert store.queue_position("d") == 3
    claim(store)  # takes "a"
    assert store.queue_position("d") == 2
    store.cancel("b")
    assert store.queue_position("d") == 1


def test_queue_position_none_unless_queued(store: JobStore) -> None:
    store.create(new("a"))
    claim(store)
    assert store.queue_position("a") is None
    assert store.queue_position("unknown") is None


# -- status views (what a poll shows, many reads per call) -------------------------------


def _status_fixture(store: JobStore, clock: Clock) -> None:
    """Requests: "done" completed with a log line and metrics, "run" running at 40 %, "q1"
    and "q2" queued, "bad" completed with an error."""
    for rid in ("done", "run", "bad", "q1", "q2"):
        store.create(new(rid, owner="key_1" if rid == "q2" else None))
    claim(store)
    store.add_log("done", "Rendering", timestamp=1.5)
    store.complete("done", "w1", result={"video": {}}, metrics={"inference_time": 2.5})
    claim(store)
    store.set_progress("run", "w1", 0.4)
    claim(store)
    store.complete("bad", "w1", error="boom", error_type=ErrorType.ENGINE)


def test_status_views_answer_each_read_in_order(store: JobStore, clock: Clock) -> None:
    _status_fixture(store, clock)
    reads = [("q2", None), ("done", 0), ("nope", 0), ("run", None), ("q1", 0), ("bad", None)]
    q2, done, nope, run, q1, bad = store.status_views(reads)
    assert nope is None
    assert q1 is not None and q2 is not None and run is not None
    assert done is not None and bad is not None
    assert (q1.status, q1.position, q1.logs) == (Status.IN_QUEUE, 0, [])
    assert (q2.status, q2.position, q2.logs, q2.owner) == (Status.IN_QUEUE, 1, None, "key_1")
    assert (run.status, run.progress, run.position) == (Status.IN_PROGRESS, 0.4, None)
    assert (done.status, done.inference_time, done.error) == (Status.COMPLETED, 2.5, None)
    assert done.endpoint_id == "fal-ai/kling-video/v1/standard/text-to-video"
    assert done.logs is not None
    assert [(r.seq, r.message, r.timestamp) for r in done.logs] == [(1, "Rendering", 1.5)]
    assert (bad.error, bad.error_type, bad.inference_time) == ("boom", "engine_error", None)
    assert store.status_views([]) == []


def test_status_views_give_each_read_its_own_logs(store: JobStore) -> None:
    store.create(new("a"))
    for message in ("one", "two", "three"):
        store.add_log("a", message)
    views = store.status_views([("a", 0), ("a", 2), ("a", None), ("a", 3)])
    messages = [None if v is None or v.logs is None else [r.message for r in v.logs] for v in views]
    assert messages == [
        ["one", "two", "three"],
        ["three"],
        None,
        [],
    ]


def test_read_status_matches_status_views(store: JobStore, clock: Clock) -> None:
    """The event-loop form gives what the plain one does, in more than one event loop
    (an app's loop can change: test clients start one each)."""
    _status_fixture(store, clock)
    reads = [("done", 0), ("q1", None), ("nope", None), ("bad", 0)]
    for _ in range(2):
        assert asyncio.run(store.read_status(reads)) == store.status_views(reads)
    assert asyncio.run(store.read_status([])) == []


# -- what /metrics shows --------------------------------------------------------------


def test_work_stats_count_queued_and_running_per_endpoint(store: JobStore, clock: Clock) -> None:
    assert store.work_stats() == []
    other = "fal-ai/kling-video/v2.1/master/image-to-video"
    store.create(new("a"))
    clock.advance(5)
    store.create(new("b"))
    store.create(new("c", endpoint_id=other))
    store.create(new("d"))
    claim(store)  # "a", the oldest
    store.create(new("e"))
    store.cancel("e")  # completed: not counted
    stats = {(s.endpoint_id, s.status): (s.count, s.oldest_created_at) for s in store.work_stats()}
    start = clock.now - 5
    assert stats == {
        ("fal-ai/kling-video/v1/standard/text-to-video", Status.IN_QUEUE): (2, start + 5),
        ("fal-ai/kling-video/v1/standard/text-to-video", Status.IN_PROGRESS): (1, start),
        (other, Status.IN_QUEUE): (1, start + 5),
    }


def test_pending_webhooks_count_completed_requests_still_to_deliver(store: JobStore) -> None:
    store.create(new("a", webhook_url="http://hooks.example/a"))
    store.create(new("b", webhook_url="http://hooks.example/b"))
    store.create(new("c"))
    assert store.pending_webhooks() == 0  # nothing completed yet
    store.cancel("a")
    store.cancel("b")
    store.cancel("c")
    assert store.pending_webhooks() == 2
    (job, *_) = store.claim_webhooks(1, LEASE)
    store.record_webhook_attempt(job.request_id, delivered=True, error=None, retry_at=None)
    assert store.pending_webhooks() == 1


# -- claim ----------------------------------------------------------------------------


def test_claim_empty_returns_none(store: JobStore) -> None:
    assert store.claim("w1", LEASE) is None


def test_claim_sets_lease_and_attempt(store: JobStore, clock: Clock) -> None:
    store.create(new("a"))
    job = claim(store, "w1")
    assert job.request_id == "a"
    assert job.status is Status.IN_PROGRESS
    assert job.worker_id == "w1"
    assert job.attempts == 1
    assert job.started_at == clock.now
    assert job.lease_expires_at == clock.now + LEASE
    assert get(store, "a") == job


def test_claim_order_is_priority_then_age(store: JobStore) -> None:
    store.create(new("low1", priority=Priority.LOW))
    store.create(new("n1"))
    store.create(new("low2", priority=Priority.LOW))
    store.create(new("n2"))
    order = [claim(store).request_id for _ in range(4)]
    assert order == ["n1", "n2", "low1", "low2"]
    assert store.claim("w1", LEASE) is None


def test_claim_endpoint_filter(store: JobStore) -> None:
    store.create(new("t2v", endpoint_id="e/text"))
    store.create(new("i2v", endpoint_id="e/image"))
    assert claim(store, endpoint_ids=["e/image"]).request_id == "i2v"
    assert store.claim("w1", LEASE, endpoint_ids=["e/image"]) is None
    assert store.claim("w1", LEASE, endpoint_ids=["e/other"]) is None
    assert claim(store, endpoint_ids={"e/text", "e/other"}).request_id == "t2v"


def test_concurrent_claims_never_share_a_job(store: JobStore) -> None:
    ids = [f"r{i}" for i in range(50)]
    for rid in ids:
        store.create(new(rid))
    claimed: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(worker: str) -> None:
        try:
            start.wait()
            while (job := store.claim(worker, LEASE)) is not None:
                with lock:
                    claimed.append(job.request_id)
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Counter(claimed) == Counter(ids)


# -- heartbeat and leases -------------------------------------------------------------


def test_heartbeat_extends_lease(store: JobStore, clock: Clock) -> None:
    store.create(new("a"))
    claim(store, "w1")
    clock.advance(20)
    hb = store.heartbeat("a", "w1", LEASE)
    assert hb.owned and not hb.cancel_requested
    assert get(store, "a").lease_expires_at == clock.now + LEASE
    clock.advance(20)  # past the first lease, inside the extended one
    assert store.claim("w2", LEASE) is None


def test_heartbeat_only_owner(store: JobStore) -> None:
    store.create(new("a"))
    job = claim(store, "w1")
    hb = store.heartbeat("a", "w2", LEASE)
    assert not hb.owned
    assert get(store, "a").lease_expires_at == job.lease_expires_at
    assert not store.heartbeat("unknown", "w1", LEASE).owned


def test_expired_lease_is_reclaimed_and_old_worker_locked_out(
    store: JobStore, clock: Clock
) -> None:
    store.create(new("a"))
    claim(store, "w1")
    clock.advance(LEASE + 1)
    job = claim(store, "w2")
    assert job.request_id == "a"
    assert job.worker_id == "w2"
    assert job.attempts == 2
    assert not store.heartbeat("a", "w1", LEASE).owned
    assert store.complete("a", "w1", result={"from": "w1"}) is False
    assert get(store, "a").status is Status.IN_PROGRESS
    assert store.complete("a", "w2", result={"from": "w2"}) is True
    assert get(store, "a").result == {"from": "w2"}


def test_lease_not_expired_is_not_reclaimed(store: JobStore, clock: Clock) -> None:
    store.create(new("a"))
    claim(store, "w1")
    clock.advance(LEASE - 1)
    assert store.claim("w2", LEASE) is None


def test_reclaimed_job_keeps_its_place_in_line(store: JobStore, clock: Clock) -> None:
    store.create(new("old"))
    claim(store, "w1")
    clock.advance(LEASE + 1)
    store.create(new("new"))
    assert claim(store, "w2").request_id == "old"


def test_max_attempts_exhaustion_completes_with_worker_lost(store: JobStore, clock: Clock) -> None:
    store.create(new("a"))
    store.create(new("b"))
    for attempt in range(1, 4):
        job = claim(store, f"w{attempt}")
        assert (job.request_id, job.attempts) == ("a", attempt)
        clock.advance(LEASE + 1)
    # "a" is out of attempts: completed as lost, and the same call moves on to "b".
    assert claim(store, "w4").request_id == "b"
    lost = get(store, "a")
    assert lost.status is Status.COMPLETED
    assert lost.error_type == "runner_disconnected"
    assert lost.error is not None and "3 times" in lost.error
    assert lost.failed
    assert lost.worker_id is None
    assert any(r.level == "ERROR" for r in store.logs("a"))


def test_expire_leases(store: JobStore) -> None:
    for rid in ("a", "b", "c"):
        store.create(new(rid))
    claim(store, "w1")
    claim(store, "w1")
    assert store.expire_leases() == 2
    assert {claim(store, "w2").request_id for _ in range(2)} == {"a", "b"}
    assert claim(store, "w2").request_id == "c"


# -- complete -------------------------------------------------------------------------


def test_complete_with_result(store: JobStore, clock: Clock) -> None:
    store.create(new("a"))
    claim(store, "w1")
    clock.advance(5)
    assert store.complete(
        "a", "w1", result={"video": {"url": "http://x/v.mp4"}}, metrics={"inference_time": 4.2}
    )
    job = get(store, "a")
    assert job.status is Status.COMPLETED
    assert job.result == {"video": {"url": "http://x/v.mp4"}}
    assert job.metrics == {"inference_time": 4.2}
    assert job.completed_at == clock.now
    assert job.error is None and not job.failed
    assert job.worker_id is None and job.lease_expires_at is None


def test_complete_with_error_and_detail(store: JobStore) -> None:
    store.create(new("a"))
    claim(store, "w1")
    detail = [{"loc": ["body", "image_url"], "msg": "too small", "type": "image_too_small"}]
    assert store.complete(
        "a", "w1", error="bad image", error_type=ErrorType.VALIDATION, error_detail=detail
    )
    job = get(store, "a")
    assert job.status is Status.COMPLETED
    assert job.failed
    assert job.error == "bad image"
    assert job.error_type == "validation_error"
    assert job.error_detail == detail
    assert job.result is None


def test_complete_twice_second_is_false(store: JobStore) -> None:
    store.create(new("a"))
    claim(store, "w1")
    assert store.complete("a", "w1", result={"n": 1}) is True
    assert store.complete("a", "w1", result={"n": 2}) is False
    assert get(store, "a").result == {"n": 1}


def test_complete_unclaimed_is_false(store: JobStore) -> None:
    store.create(new("a"))
    assert store.complete("a", "w1", result={}) is False
    assert get(store, "a").status is Status.IN_QUEUE


# -- release --------------------------------------------------------------------------


def test_release_keeps_place_and_does_not_count(store: JobStore) -> None:
    store.create(new("a"))
    store.create(new("b"))
    claim(store, "w1")
    assert store.release("a", "w1") is True
    job = get(store, "a")
    assert job.status is Status.IN_QUEUE
    assert job.worker_id is None and job.lease_expires_at is None
    assert job.attempts == 0
    assert store.queue_position("a") == 0
    assert claim(store, "w2").request_id == "a"


def test_release_only_owner(store: JobStore) -> None:
    store.create(new("a"))
    claim(store, "w1")
    assert store.release("a", "w2") is False
    assert get(store, "a").worker_id == "w1"


# -- cancel ---------------------------------------------------------------------------


def test_cancel_queued_completes_it(store: JobStore) -> None:
    store.create(new("a"))
    assert store.cancel("a") is CancelOutcome.CANCELLED
    job = get(store, "a")
    assert job.status is Status.COMPLETED
    assert job.error == "Request was cancelled"
    assert job.error_type == ErrorType.CANCELLED
    assert [r.message for r in store.logs("a")] == ["Request cancelled while queued"]
    assert store.claim("w1", LEASE) is None


def test_cancel_running_requests_it(store: JobStore) -> None:
    store.create(new("a"))
    claim(store, "w1")
    assert store.cancel("a") is CancelOutcome.REQUESTED
    assert store.cancel("a") is CancelOutcome.REQUESTED  # repeating is harmless
    job = get(store, "a")
    assert job.status is Status.IN_PROGRESS
    assert job.cancel_requested is True


def test_cancel_requested_visible_through_heartbeat(store: JobStore) -> None:
    store.create(new("a"))
    claim(store, "w1")
    assert store.heartbeat("a", "w1", LEASE).cancel_requested is False
    store.cancel("a")
    hb = store.heartbeat("a", "w1", LEASE)
    assert hb.owned and hb.cancel_requested
    assert store.heartbeat("a", "w2", LEASE).cancel_requested is True


def test_cancel_completed(store: JobStore) -> None:
    store.create(new("a"))
    claim(store, "w1")
    store.complete("a", "w1", result={})
    assert store.cancel("a") is CancelOutcome.ALREADY_COMPLETED
    assert get(store, "a").error is None


def test_cancel_unknown(store: JobStore) -> None:
    assert store.cancel("nope") is CancelOutcome.NOT_FOUND


def test_cancelled_while_worker_died_completes_on_next_claim(store: JobStore, clock: Clock) -> None:
    store.create(new("a"))
    store.create(new("b"))
    claim(store, "w1")
    store.cancel("a")
    clock.advance(LEASE + 1)
    assert claim(store, "w2").request_id == "b"
    job = get(store, "a")
    assert job.status is Status.COMPLETED
    assert job.error == "Request was cancelled"
    assert job.error_type == ErrorType.CANCELLED


# -- logs and progress ----------------------------------------------------------------


def test_logs_in_order_with_after_seq(store: JobStore, clock: Clock) -> None:
    store.create(new("a"))
    store.create(new("other"))
    store.add_log("a", "first")
    store.add_log("other", "elsewhere")
    store.add_log("a", "second", level="WARN", timestamp=123.0)
    store.add_log("a", "third", level="ERROR")
    records = store.logs("a")
    assert [(r.seq, r.message, r.level) for r in records] == [
        (1, "first", "INFO"),
        (2, "second", "WARN"),
        (3, "third", "ERROR"),
    ]
    assert records[0].timestamp == clock.now
    assert records[1].timestamp == 123.0
    assert [r.message for r in store.logs("a", after_seq=1)] == ["second", "third"]
    assert store.logs("a", after_seq=3) == []
    assert [r.seq for r in store.logs("other")] == [1]


def test_render_figures_sum_up_recent_results_per_endpoint(store: JobStore, clock: Clock) -> None:
    other = "fal-ai/kling-video/v1/pro/image-to-video"
    runs = [
        ("a", {"inference_time": 2.0, "seconds_per_step": 0.5, "peak_gpu_memory_mb": 900.0}),
        ("b", {"inference_time": 4.0, "seconds_per_step": 1.5, "peak_gpu_memory_mb": 1200.0}),
        ("c", {"inference_time": 9.0}),  # another endpoint's engine measures no steps
        ("d", {"inference_time": 99.0}),  # failed: not a render
    ]
    for request_id, metrics in runs:
        store.create(new(request_id, endpoint_id=other if request_id == "c" else OTHER_V1))
        claim(store, "w")
        failed = request_id == "d"
        store.complete(
            request_id,
            "w",
            result=None if failed else {"video": {}},
            error="boom" if failed else None,
            metrics=metrics,
        )
    clock.advance(10)
    figures = {f.endpoint_id: f for f in store.render_figures(clock.now - 60)}
    assert set(figures) == {OTHER_V1, other}
    mine = figures[OTHER_V1]
    assert (mine.count, mine.inference_seconds, mine.seconds_per_step) == (2, 3.0, 1.0)
    assert mine.peak_gpu_memory_mb == 1200.0
    theirs = figures[other]
    assert (theirs.count, theirs.seconds_per_step, theirs.peak_gpu_memory_mb) == (1, None, None)
    assert store.render_figures(clock.now - 5) == []  # outside the window


def test_add_logs_numbers_a_batch_after_single_lines(store: JobStore) -> None:
    store.create(new("a"))
    store.add_log("a", "first")
    store.add_logs("a", [(10.0, "INFO", "second"), (11.0, "WARN", "third")])
    store.add_logs("a", [])
    store.add_log("a", "fourth")
    store.add_logs("unknown", [(12.0, "INFO", "dropped")])  # no request: no lines
    records = store.logs("a")
    assert [(r.seq, r.message) for r in records] == [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (4, "fourth"),
    ]
    assert (records[2].timestamp, records[2].level) == (11.0, "WARN")
    assert store.logs("unknown") == []


def test_concurrent_log_writers_get_gap_free_numbers(store: JobStore) -> None:
    store.create(new("a"))

    def write(name: str) -> None:
        for i in range(20):
            store.add_logs("a", [(0.0, "INFO", f"{name}{i}"), (0.0, "INFO", f"{name}{i}+")])

    threads = [threading.Thread(target=write, args=(name,)) for name in "xyz"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = store.logs("a")
    assert [r.seq for r in records] == list(range(1, 121))
    for first, second in zip(records[::2], records[1::2], strict=True):
        assert second.message == first.message + "+"  # a batch stays together


def test_progress_is_clamped(store: JobStore) -> None:
    store.create(new("a"))
    claim(store, "w1")
    assert store.set_progress("a", "w1", 0.5)
    assert get(store, "a").progress == 0.5
    assert store.set_progress("a", "w1", 1.7)
    assert get(store, "a").progress == 1.0
    assert store.set_progress("a", "w1", -0.3)
    assert get(store, "a").progress == 0.0


def test_progress_only_owner(store: JobStore) -> None:
    store.create(new("a"))
    claim(store, "w1")
    assert store.set_progress("a", "w2", 0.5) is False
    assert get(store, "a").progress is None


# -- persistence ----------------------------------------------------------------------


def test_data_survives_reopen(store_factory: Callable[[], JobStore]) -> None:
    first = store_factory()
    first.create(new("a", webhook_url="http://hook.test/cb"))
    first.create(new("b"))
    claim(first, "w1")
    first.complete("a", "w1", result={"ok": True})
    first.add_log("a", "hello")
    first.close()

    second = store_factory()
    a = get(second, "a")
    assert a.status is Status.COMPLETED
    assert a.result == {"ok": True}
    assert a.webhook_url == "http://hook.test/cb"
    assert [r.message for r in second.logs("a")] == ["hello"]
    assert second.queue_position("b") == 0
    assert claim(second, "w2").request_id == "b"


# -- start deadlines ------------------------------------------------------------------


def test_a_request_not_started_in_time_times_out(store: JobStore, clock: Clock) -> None:
    store.create(new("late", start_timeout=5))
    store.create(new("patient"))
    clock.advance(6)
    assert store.expire_overdue() == 1
    late = get(store, "late")
    assert late.status is Status.COMPLETED and late.error_type == ErrorType.REQUEST_TIMEOUT
    assert late.start_deadline is not None
    assert "5 s" in (late.error or "")
    assert any("start timeout" in r.message for r in store.logs("late"))
    assert claim(store).request_id == "patient"
    assert store.expire_overdue() == 0


def test_an_overdue_request_is_never_claimed(store: JobStore, clock: Clock) -> None:
    store.create(new("late", start_timeout=5))
    clock.advance(6)
    assert store.claim("w1", LEASE) is None


def test_the_deadline_stops_counting_once_started(store: JobStore, clock: Clock) -> None:
    store.create(new("a", start_timeout=5))
    claim(store, "w1")
    clock.advance(LEASE + 1)  # its worker died: it runs again, deadline or not
    assert store.expire_overdue() == 0
    assert claim(store, "w2").request_id == "a"


# -- webhook outbox -------------------------------------------------------------------


def complete_with_webhook(store: JobStore, request_id: str) -> None:
    store.create(new(request_id, webhook_url=f"http://hook.test/{request_id}"))
    claim(store)
    assert store.complete(request_id, "w1", result={"video": request_id})


def test_a_webhook_is_due_once_its_request_completes(store: JobStore) -> None:
    store.create(new("a", webhook_url="http://hook.test/a"))
    store.create(new("plain"))
    assert get(store, "a").webhook_state is WebhookState.PENDING
    assert get(store, "plain").webhook_state is None
    assert store.claim_webhooks(10, LEASE) == []
    claim(store)
    store.complete("a", "w1", result={"ok": True})
    due = store.claim_webhooks(10, LEASE)
    assert [j.request_id for j in due] == ["a"]
    assert due[0].result == {"ok": True} and due[0].webhook_url == "http://hook.test/a"


def test_a_claimed_webhook_is_leased(store: JobStore, clock: Clock) -> None:
    complete_with_webhook(store, "a")
    assert len(store.claim_webhooks(10, LEASE)) == 1
    assert store.claim_webhooks(10, LEASE) == []  # another dispatcher gets nothing
    clock.advance(LEASE + 1)  # the first one died mid-delivery
    assert [j.request_id for j in store.claim_webhooks(10, LEASE)] == ["a"]


def test_failed_attempts_retry_then_give_up(store: JobStore, clock: Clock) -> None:
    complete_with_webhook(store, "a")
    store.claim_webhooks(10, LEASE)
    store.record_webhook_attempt("a", delivered=False, error="HTTP 500", retry_at=clock.now + 60)
    assert store.claim_webhooks(10, LEASE) == []
    clock.advance(61)
    (job,) = store.claim_webhooks(10, LEASE)
    assert job.webhook_attempts == 1 and job.webhook_error == "HTTP 500"
    store.record_webhook_attempt("a", delivered=False, error="refused", retry_at=None)
    clock.advance(10_000)
    assert store.claim_webhooks(10, LEASE) == []
    final = get(store, "a")
    assert final.webhook_state is WebhookState.FAILED and final.webhook_attempts == 2


def test_a_delivered_webhook_is_never_sent_again(store: JobStore, clock: Clock) -> None:
    complete_with_webhook(store, "a")
    store.claim_webhooks(10, LEASE)
    store.record_webhook_attempt("a", delivered=True, error=None, retry_at=None)
    # A late report from a dispatcher whose lease ran out changes nothing.
    store.record_webhook_attempt("a", delivered=False, error="late", retry_at=clock.now)
    clock.advance(10_000)
    assert store.claim_webhooks(10, LEASE) == []
    done = get(store, "a")
    assert done.webhook_state is WebhookState.DELIVERED and done.webhook_attempts == 1


def test_every_way_of_completing_queues_the_webhook(store: JobStore, clock: Clock) -> None:
    store.create(new("cancelled", webhook_url="http://hook.test/c"))
    store.cancel("cancelled")
    store.create(new("late", webhook_url="http://hook.test/l", start_timeout=1))
    clock.advance(2)
    store.expire_overdue()
    due = {j.request_id: j for j in store.claim_webhooks(10, LEASE)}
    assert set(due) == {"cancelled", "late"}
    assert due["cancelled"].error_type == ErrorType.CANCELLED
    assert due["late"].error_type == ErrorType.REQUEST_TIMEOUT


def test_webhooks_come_oldest_first_up_to_the_limit(store: JobStore, clock: Clock) -> None:
    for rid in ("a", "b", "c"):
        complete_with_webhook(store, rid)
        clock.advance(1)
    assert [j.request_id for j in store.claim_webhooks(2, LEASE)] == ["a", "b"]
    assert [j.request_id for j in store.claim_webhooks(2, LEASE)] == ["c"]


# -- expiring files and the deployment secret ----------------------------------------


def test_expired_files_come_due_in_order(store: JobStore, clock: Clock) -> None:
    store.add_expiring_file("k2/b.mp4", clock.now + 20)
    store.add_expiring_file("k1/a.mp4", clock.now + 10)
    assert store.expired_files(10) == []
    clock.advance(30)
    assert store.expired_files(10) == ["k1/a.mp4", "k2/b.mp4"]
    store.forget_files(["k1/a.mp4"])
    assert store.expired_files(10) == ["k2/b.mp4"]


def test_the_deployment_secret_is_shared_and_kept(store_factory: Callable[[], JobStore]) -> None:
    first, second = store_factory(), store_factory()
    secret = first.deployment_secret()
    assert len(secret) >= 32
    assert second.deployment_secret() == secret
    first.close()
    assert store_factory().deployment_secret() == secret


# -- API keys, limits and usage ---------------------------------------------------------


def test_keys_are_found_by_secret_and_stop_working_when_revoked(store: JobStore) -> None:
    assert not store.has_keys()
    key, secret = store.create_key("ci", rate_per_minute=10, max_concurrent=2)
    assert key.id.startswith("key_") and key.name == "ci" and key.active
    assert (key.rate_per_minute, key.max_concurrent) == (10, 2)
    assert store.has_keys()
    assert store.find_key(secret) == key
    assert store.find_key(secret + "x") is None
    assert store.revoke_key(key.id)
    assert not store.revoke_key(key.id)
    assert store.find_key(secret) is None
    assert store.has_keys()  # revoking the last key must not open the server
    (listed,) = store.keys()
    assert listed.id == key.id and not listed.active


def test_only_a_hash_of_the_secret_is_kept(store_factory: Callable[[], JobStore]) -> None:
    store = store_factory()
    _, secret = store.create_key("a")
    assert secret not in repr(store.keys())
    assert len(secret) >= 40


def limited(request_id: str, owner: str | None = "A", **limits: int) -> NewJob:
    return replace(new(request_id, owner=owner), limits=SubmitLimits(**limits))


def test_per_minute_limits_count_each_owners_submissions_in_the_window(
    store: JobStore, clock: Clock
) -> None:
    store.create(limited("a1", per_minute=2))
    clock.advance(30)
    store.create(limited("a2", per_minute=2))
    store.create(limited("b1", owner="B", per_minute=2))
    with pytest.raises(LimitExceededError) as caught:
        store.create(limited("a3", per_minute=2))
    assert caught.value.which == "per_minute" and caught.value.retry_after == pytest.approx(30)
    assert store.get("a3") is None
    clock.advance(31)  # a1 left the window
    store.create(limited("a3", per_minute=2))


def test_concurrent_limits_count_queued_and_running_requests(store: JobStore) -> None:
    store.create(limited("a1", concurrent=2))
    store.create(limited("a2", concurrent=2))
    with pytest.raises(LimitExceededError) as caught:
        store.create(limited("a3", concurrent=2))
    assert caught.value.which == "concurrent" and caught.value.limit == 2
    store.create(limited("n1", owner=None, concurrent=2))  # no owner: a scope of its own
    claim(store)
    store.complete("a1", "w1", result={})
    store.create(limited("a3", concurrent=2))


def test_limits_hold_exactly_under_concurrent_submits(store: JobStore) -> None:
    accepted: list[str] = []
    barrier = threading.Barrier(10)

    def submit(n: int) -> None:
        barrier.wait()
        for i in range(5):
            try:
                accepted.append(store.create(limited(f"r{n}-{i}", per_minute=17)).request_id)
            except LimitExceededError:
                pass

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) == 17


def test_keys_are_found_by_id_revoked_or_not(store: JobStore) -> None:
    key, _ = store.create_key("a")
    assert store.get_key(key.id) == key
    store.revoke_key(key.id)
    found = store.get_key(key.id)
    assert found is not None and not found.active
    assert store.get_key("key_nope") is None


def test_usage_sums_completed_results_per_owner_and_endpoint(store: JobStore, clock: Clock) -> None:
    other = "fal-ai/kling-video/o1/standard/image-to-video"
    for rid, owner, endpoint in [("a1", "A", None), ("a2", "A", None), ("a3", "A", other)]:
        store.create(new(rid, owner=owner, **({"endpoint_id": endpoint} if endpoint else {})))
        claim(store)
        store.complete(rid, "w1", result={}, video_seconds=5.0, cost=0.225)
    store.create(new("failed", owner="A"))
    claim(store)
    store.complete("failed", "w1", error="boom", error_type="engine_error")
    store.create(new("b1", owner="B"))
    claim(store)
    store.complete("b1", "w1", result={}, video_seconds=10.0, cost=1.0)

    rows = store.usage("A", clock.now - 1, clock.now + 1)
    assert [(r.endpoint_id, r.requests, r.video_seconds) for r in rows] == [
        ("fal-ai/kling-video/o1/standard/image-to-video", 1, 5.0),
        ("fal-ai/kling-video/v1/standard/text-to-video", 2, 10.0),
    ]
    assert sum(r.cost for r in rows) == pytest.approx(0.675)
    assert store.usage("A", clock.now + 1, clock.now + 2) == []
    everyone = store.usage(None, clock.now - 1, clock.now + 1, all_owners=True)
    assert {r.owner for r in everyone} == {"A", "B"}
    job = get(store, "b1")
    assert (job.owner, job.video_seconds, job.cost) == ("B", 10.0, 1.0)
