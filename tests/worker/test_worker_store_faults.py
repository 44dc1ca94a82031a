"""A job store that does not answer for a while fails no render: log lines and progress wait
in the worker, completing is retried, and nothing of it is the engine's fault."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from vidserve.schema import Status
from vidserve.worker.lease import LogBuffer

from helpers import wait_until


def _frames(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("frame ")]


def test_logs_and_progress_wait_out_a_store_that_fails_them(
    flaky_store: Any,
    flaky_storage: Any,
    chatty_engine: Any,
    make_worker: Any,
    submit: Any,
    log_of: Any,
) -> None:
    engine = chatty_engine(frames=30, delay=0.02)
    job = submit(flaky_store)
    flaky_store.failing = {"add_logs", "set_progress"}
    # The store takes log lines and progress again 0.2 s after the render is done: the whole
    # render, and the start of completing it, ran without them.
    threading.Thread(
        target=lambda: (engine.finished.wait(20), time.sleep(0.2), flaky_store.failing.clear()),
        daemon=True,
    ).start()

    assert make_worker(flaky_store, flaky_storage, engine).drain() == 1

    assert flaky_store.raised["set_progress"] > 5 and flaky_store.raised["add_logs"] > 0
    done = flaky_store.get(job.request_id)
    assert done.status is Status.COMPLETED and done.error is None
    assert done.result["video"]["url"].startswith("http://testserver/files/")
    lines = log_of(flaky_store, job.request_id)
    assert _frames(lines) == list(range(30))  # every line, once, in order
    assert lines[0].startswith("Started on") and lines[-1].startswith("Completed in")
    stamps = [line.timestamp for line in flaky_store.logs(job.request_id)]
    assert stamps == sorted(stamps)  # each line keeps the time it was written


def test_completing_is_retried_until_the_store_answers(
    flaky_store: Any,
    flaky_storage: Any,
    chatty_engine: Any,
    make_worker: Any,
    submit: Any,
    log_of: Any,
) -> None:
    job = submit(flaky_store)
    flaky_store.fail_next = {"complete": 5, "add_logs": 3}

    make_worker(flaky_store, flaky_storage, chatty_engine(frames=3)).drain()

    done = flaky_store.get(job.request_id)
    assert done.status is Status.COMPLETED and done.result is not None and done.attempts == 1
    assert flaky_store.raised["complete"] == 5
    assert _frames(log_of(flaky_store, job.request_id)) == [0, 1, 2]


def test_a_completion_whose_answer_was_lost_keeps_its_outputs(
    flaky_store: Any, flaky_storage: Any, chatty_engine: Any, make_worker: Any, submit: Any
) -> None:
    # complete() commits, then the connection drops before the answer: the retry finds the
    # request already completed, with this worker's result, and must not delete its video.
    job = submit(flaky_store)
    flaky_store.lose_answer = {"complete": 1}

    make_worker(flaky_store, flaky_storage, chatty_engine(frames=2)).drain()

    done = flaky_store.get(job.request_id)
    assert done.status is Status.COMPLETED and done.result is not None
    key = done.result["video"]["url"].split("/files/", 1)[1]
    assert flaky_storage.path(key).is_file()


def test_a_store_error_inside_the_render_is_not_an_engine_error(
    flaky_store: Any, flaky_storage: Any, raising_engine: Any, make_worker: Any, submit: Any
) -> None:
    # Whatever store call an engine's run makes and fails: handed back, no attempt spent.
    job = submit(flaky_store)
    engine = raising_engine(sqlite3.OperationalError("disk I/O error"))

    make_worker(flaky_store, flaky_storage, engine).run_once()

    back = flaky_store.get(job.request_id)
    assert (back.status, back.attempts, back.error_type) == (Status.IN_QUEUE, 0, None)


def test_an_engine_bug_stays_an_engine_error_without_server_paths(
    flaky_store: Any, flaky_storage: Any, raising_engine: Any, make_worker: Any, submit: Any
) -> None:
    job = submit(flaky_store)
    engine = raising_engine(
        lambda workdir: FileNotFoundError(2, "No such file or directory", str(workdir / "x"))
    )

    make_worker(flaky_store, flaky_storage, engine).drain()

    done = flaky_store.get(job.request_id)
    assert done.error_type == "engine_error"
    assert done.error == "FileNotFoundError: No such file or directory"


def test_log_lines_past_the_buffer_limit_are_counted_not_kept(
    flaky_store: Any, submit: Any
) -> None:
    job = submit(flaky_store)
    buffer = LogBuffer(flaky_store, job.request_id, limit=3)
    for i in range(5):
        buffer.add(f"line {i}")
    flaky_store.fail_next = {"add_logs": 1}
    try:
        buffer.flush()
    except sqlite3.OperationalError:
        pass
    assert len(buffer) == 3  # nothing lost by the failed flush
    buffer.flush()
    messages = [line.message for line in flaky_store.logs(job.request_id)]
    assert messages == [
        "line 0",
        "line 1",
        "line 2",
        "2 log line(s) dropped while the job store did not answer",
    ]


#: Every store call a running worker makes.
EVERYTHING = {"heartbeat", "set_progress", "add_logs", "complete", "release", "get"}


def _outage_after_render(store: Any, engine: Any, seconds: float) -> threading.Thread:
    """The store stops answering the worker as the render ends, for ``seconds``."""

    def run() -> None:
        engine.started.wait(20)
        time.sleep(0.05)
        store.failing = set(EVERYTHING)
        engine.finished.wait(20)
        time.sleep(seconds)
        store.failing = set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_an_outage_longer_than_the_lease_still_completes_when_nobody_took_over(
    flaky_store: Any,
    flaky_storage: Any,
    chatty_engine: Any,
    make_worker: Any,
    submit: Any,
    log_of: Any,
) -> None:
    job = submit(flaky_store)
    engine = chatty_engine(frames=10)
    outage = _outage_after_render(flaky_store, engine, 1.0)  # the lease lasts 0.5 s

    make_worker(flaky_store, flaky_storage, engine, lease_seconds=0.5).drain()
    outage.join(5)

    done = flaky_store.get(job.request_id)
    assert done.status is Status.COMPLETED and done.result is not None and done.attempts == 1
    assert flaky_store.raised["heartbeat"] > 3  # the outage outlasted the lease
    assert _frames(log_of(flaky_store, job.request_id)) == list(range(10))


def test_a_request_taken_over_during_an_outage_completes_once(
    flaky_store: Any,
    flaky_storage: Any,
    chatty_engine: Any,
    make_worker: Any,
    submit: Any,
    log_of: Any,
) -> None:
    job = submit(flaky_store)
    engine = chatty_engine(frames=10)
    outage = _outage_after_render(flaky_store, engine, 1.5)
    first = make_worker(flaky_store, flaky_storage, engine, lease_seconds=0.5)
    running = threading.Thread(target=first.drain)
    running.start()

    # The first worker's lease runs out while the store does not answer it; another worker,
    # which reaches the store, takes the request over and completes it.
    assert engine.finished.wait(20)
    wait_until(
        lambda: (flaky_store.inner.get(job.request_id).lease_expires_at or 0) < time.time(),
        "the first worker's lease runs out",
    )
    second = make_worker(flaky_store.inner, flaky_storage, chatty_engine(frames=1))
    assert second.run_once()
    outage.join(5)
    running.join(10)

    done = flaky_store.get(job.request_id)
    assert done.status is Status.COMPLETED and done.attempts == 2
    assert done.error is None
    # The first worker's video was deleted; the second's is the result.
    videos = [p for p in flaky_storage.root.rglob("output.mp4")]
    assert [f"{p.parent.name}/{p.name}" for p in videos] == [
        done.result["video"]["url"].split("/files/", 1)[1]
    ]
    # What the first worker logged during the outage went nowhere: the request was no
    # longer its own.
    lines = log_of(flaky_store, job.request_id)
    assert "frame 9" not in lines and any("(attempt 2)" in line for line in lines)
