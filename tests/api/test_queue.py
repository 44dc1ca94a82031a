"""The queue protocol as fal's clients use it, against the real app in-process."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fakes import FailingEngine, FakeEngine, Harness, SlowEngine
from helpers import data_uri, make_image

LIFECYCLE = "x-fal-object-lifecycle-preference"
V1 = "fal-ai/kling-video/v1/standard/image-to-video"
V16 = "fal-ai/kling-video/v1.6/pro/image-to-video"
O1 = "fal-ai/kling-video/o1/standard/image-to-video"
IMAGE = data_uri(make_image(640, 360))


def submit(h: Harness, endpoint: str = V1, **fields: Any) -> dict[str, Any]:
    body = {"prompt": "a car on a road", "image_url": IMAGE, **fields}
    response = h.client.post(f"/queue/{endpoint}", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_submit_answers_in_queue_with_absolute_urls_without_sub_path(harness: Harness) -> None:
    response = harness.client.post(f"/queue/{V1}", json={"prompt": "p", "image_url": IMAGE})
    body = response.json()
    rid = body["request_id"]
    assert body["status"] == "IN_QUEUE"
    assert body["queue_position"] == 0
    base = f"http://testserver/queue/fal-ai/kling-video/requests/{rid}"
    assert body["response_url"] == base
    assert body["status_url"] == f"{base}/status"
    assert body["cancel_url"] == f"{base}/cancel"
    assert response.headers["x-fal-request-id"] == rid


def test_queue_position_counts_requests_ahead_and_low_priority_waits(harness: Harness) -> None:
    first, second = submit(harness), submit(harness)
    low = harness.client.post(
        f"/queue/{V1}",
        json={"prompt": "p", "image_url": IMAGE},
        headers={"x-fal-queue-priority": "low"},
    ).json()
    third = submit(harness)
    assert [first["queue_position"], second["queue_position"], low["queue_position"]] == [0, 1, 2]
    status = harness.client.get(low["status_url"]).json()
    assert status["queue_position"] == 3  # the later normal request went ahead of it
    assert harness.client.get(third["status_url"]).json()["queue_position"] == 2


def test_bad_priority_header_is_422_naming_the_header(harness: Harness) -> None:
    response = harness.client.post(
        f"/queue/{V1}",
        json={"prompt": "p", "image_url": IMAGE},
        headers={"x-fal-queue-priority": "urgent"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "x-fal-queue-priority"]


@pytest.mark.parametrize(
    ("value", "has_logs"),
    [("true", True), ("1", True), ("false", False), ("0", False), (None, False)],
)
def test_status_logs_flag_accepts_both_clients_spellings(
    harness: Harness, value: str | None, has_logs: bool
) -> None:
    job = submit(harness)
    harness.drain()
    params = {} if value is None else {"logs": value}
    body = harness.client.get(job["status_url"], params=params).json()
    assert "logs" in body  # fal_client reads the key even without logs
    assert (body["logs"] is not None) is has_logs
    if has_logs:
        assert any(entry["message"] == "fake render" for entry in body["logs"])
        entry = body["logs"][0]
        assert set(entry) == {"message", "level", "source", "timestamp"}


def test_status_logs_flag_rejects_nonsense(harness: Harness) -> None:
    job = submit(harness)
    response = harness.client.get(job["status_url"], params={"logs": "maybe"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "logs"]


def test_completed_request_has_metrics_and_a_downloadable_video(harness: Harness) -> None:
    job = submit(harness)
    assert harness.drain() == 1
    status = harness.client.get(job["status_url"]).json()
    assert status["status"] == "COMPLETED"
    assert status["metrics"]["inference_time"] >= 0
    assert "error" not in status
    result = harness.client.get(job["response_url"])
    assert result.status_code == 200
    assert result.headers["x-fal-request-id"] == job["request_id"]
    video = result.json()["video"]
    assert video["content_type"] == "video/mp4"
    assert video["file_name"] == "output.mp4"
    assert video["url"].startswith("http://testserver/files/")
    download = harness.client.get(video["url"])
    assert download.status_code == 200
    assert len(download.content) == video["file_size"]


def test_files_answer_range_requests_for_seeking(harness: Harness) -> None:
    job = submit(harness)
    harness.drain()
    url = harness.client.get(job["response_url"]).json()["video"]["url"]
    whole = harness.client.get(url).content
    part = harness.client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole)}"
    assert part.content == whole[100:200]
    assert harness.client.head(url).headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize("key", ["nothere/x.mp4", "../../etc/passwd", "a/../b", "onlyone"])
def test_unknown_or_escaping_file_keys_are_404(harness: Harness, key: str) -> None:
    assert harness.client.get(f"/files/{key}").status_code == 404


def test_result_before_completion_is_400_still_in_progress(harness: Harness) -> None:
    job = submit(harness)
    response = harness.client.get(job["response_url"])
    assert response.status_code == 400
    assert response.json()["detail"] == "Request is still in progress"


def test_unknown_endpoint_is_404_listing_served_ones(harness: Harness) -> None:
    response = harness.client.post(
        "/queue/fal-ai/kling-video/v9/ultra/image-to-video",
        json={"prompt": "p", "image_url": IMAGE},
    )
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "fal-ai/kling-video/v9/ultra/image-to-video" in detail
    assert V1 in detail and O1 in detail


def test_unknown_request_is_404(harness: Harness) -> None:
    response = harness.client.get("/queue/fal-ai/kling-video/requests/nope/status")
    assert response.status_code == 404


def test_status_under_the_full_endpoint_id_works_and_other_apps_do_not(harness: Harness) -> None:
    rid = submit(harness)["request_id"]
    assert harness.client.get(f"/queue/{V1}/requests/{rid}/status").status_code == 202
    assert harness.client.get(f"/queue/fal-ai/other-app/requests/{rid}/status").status_code == 404


def test_cancel_queued_request_completes_it_at_once(harness: Harness) -> None:
    job = submit(harness)
    response = harness.client.put(job["cancel_url"])
    assert (response.status_code, response.json()) == (200, {"status": "OK"})
    status = harness.client.get(job["status_url"]).json()
    assert status["status"] == "COMPLETED"
    assert status["error_type"] == "request_cancelled"
    result = harness.client.get(job["response_url"])
    assert result.status_code == 400
    assert result.headers["x-fal-error-type"] == "request_cancelled"
    again = harness.client.put(job["cancel_url"])
    assert (again.status_code, again.json()["status"]) == (400, "ALREADY_COMPLETED")
    assert harness.drain() == 0  # a cancelled request never runs


def test_cancel_running_request_stops_the_engine_within_a_second(harness: Harness) -> None:
    engine = SlowEngine(frames=1000)  # 20 s if never stopped
    job = submit(harness)
    with harness.running_worker(engine):
        assert engine.started.wait(10)
        asked = time.monotonic()
        response = harness.client.put(job["cancel_url"])
        assert (response.status_code, response.json()) == (
            202,
            {"status": "CANCELLATION_REQUESTED"},
        )
        while harness.client.get(job["status_url"]).json()["status"] != "COMPLETED":
            assert time.monotonic() - asked < 5, "cancel did not stop the engine"
            time.sleep(0.01)
        latency = time.monotonic() - asked
    status = harness.client.get(job["status_url"], params={"logs": 1}).json()
    assert status["error_type"] == "request_cancelled"
    assert any("Cancelled while running" in e["message"] for e in status["logs"])
    assert latency < 1.0, f"cancel took {latency:.2f} s"


def test_engine_failure_completes_with_error_and_result_answers_it(harness: Harness) -> None:
    job = submit(harness)
    harness.drain(FailingEngine())
    status = harness.client.get(job["status_url"], params={"logs": "true"}).json()
    assert status["status"] == "COMPLETED"
    assert status["error"] == "RuntimeError: boom in the engine"
    assert status["error_type"] == "engine_error"
    assert any(e["level"] == "ERROR" for e in status["logs"])
    result = harness.client.get(job["response_url"])
    assert result.status_code == 500
    assert result.json() == {
        "detail": "RuntimeError: boom in the engine",
        "error_type": "engine_error",
    }


def test_unreadable_image_fails_the_request_with_a_422_naming_the_field(harness: Harness) -> None:
    job = submit(harness, image_url=data_uri(b"this is not a picture"))
    harness.drain()
    result = harness.client.get(job["response_url"])
    assert result.status_code == 422
    detail = result.json()["detail"]
    assert detail[0]["loc"] == ["body", "image_url"]
    assert "not a readable image" in detail[0]["msg"]


def test_own_file_urls_are_read_from_storage_not_fetched(harness: Harness) -> None:
    # "testserver" resolves nowhere: this works only if the worker reads the file locally.
    stored = harness.storage.put_bytes(
        make_image(400, 400), content_type="image/png", file_name="in.png"
    )
    engine = FakeEngine()
    job = submit(harness, image_url=harness.storage.url(stored.key, "http://testserver"))
    harness.drain(engine)
    assert harness.client.get(job["response_url"]).status_code == 200
    assert engine.requests[0].start_image.shape == (400, 400, 3)


def test_sync_run_answers_with_the_output(harness: Harness) -> None:
    with harness.running_worker(FakeEngine()):
        response = harness.client.post(f"/run/{V1}", json={"prompt": "p", "image_url": IMAGE})
    assert response.status_code == 200, response.text
    assert response.json()["video"]["content_type"] == "video/mp4"
    assert harness.store.get(response.headers["x-fal-request-id"]) is not None


def test_sync_run_validates_like_submit(harness: Harness) -> None:
    response = harness.client.post(f"/run/{V1}", json={"image_url": IMAGE})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "prompt"]


def _events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]


def test_status_stream_sends_new_log_lines_and_ends_after_completed(harness: Harness) -> None:
    job = submit(harness)
    engine = SlowEngine(frames=25)
    lines: list[str] = []
    first_event = threading.Event()

    def read() -> None:
        with harness.client.stream(
            "GET", f"{job['status_url']}/stream", params={"logs": "1"}
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                lines.append(line)
                first_event.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert first_event.wait(10)
    with harness.running_worker(engine):
        reader.join(30)
    assert not reader.is_alive(), "the stream did not end after COMPLETED"
    events = _events(lines)
    statuses = [e["status"] for e in events]
    assert statuses[0] == "IN_QUEUE" and statuses[-1] == "COMPLETED"
    assert "IN_PROGRESS" in statuses
    messages = [entry["message"] for e in events for entry in (e["logs"] or [])]
    assert len(messages) == len(set(messages)), "a log line was sent twice"
    all_logs = harness.client.get(job["status_url"], params={"logs": 1}).json()["logs"]
    assert messages == [entry["message"] for entry in all_logs]


def test_status_errors_are_answered_as_on_every_route(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Status polls are answered before routing: their errors still get the app's bodies."""
    missing = harness.client.get("/queue/fal-ai/kling-video/requests/nope/status")
    assert missing.json() == {"detail": "Request nope not found", "error_type": "not_found"}
    assert missing.headers["x-fal-request-id"] not in ("", "nope")

    def broken(*args: Any) -> None:
        raise RuntimeError("disk on fire")

    rid = submit(harness)["request_id"]
    monkeypatch.setattr(harness.store, "status_views", broken)
    failed = harness.client.get(f"/queue/fal-ai/kling-video/requests/{rid}/status")
    assert failed.status_code == 500
    assert failed.json() == {"detail": "Internal server error", "error_type": "internal_error"}
    monkeypatch.undo()
    head = harness.client.head(f"/queue/fal-ai/kling-video/requests/{rid}/status")
    assert (head.status_code, head.content) == (202, b"")
    # Other methods on the path are not polls: routing answers them as before.
    posted = harness.client.post(f"/queue/fal-ai/kling-video/requests/{rid}/status")
    assert posted.status_code == 404


def test_status_polls_under_a_root_path(harness: Harness) -> None:
    """Behind a proxy that mounts the server under a prefix (uvicorn --root-path)."""
    rid = submit(harness)["request_id"]
    with TestClient(harness.app, root_path="/vidserve") as mounted:
        answer = mounted.get(f"/vidserve/queue/fal-ai/kling-video/requests/{rid}/status")
    assert answer.status_code == 202, answer.text
    assert answer.json()["status_url"].startswith("http://testserver/vidserve/queue/")


def test_every_response_carries_a_request_id(harness: Harness) -> None:
    for response in (
        harness.client.get("/health"),
        harness.client.get("/nowhere"),
        harness.client.get("/queue/fal-ai/kling-video/requests/nope/status"),
        harness.client.post(f"/queue/{V1}", json={}),
        harness.client.get("/openapi.json"),
    ):
        assert response.headers.get("x-fal-request-id"), response.url


def test_body_over_the_limit_is_413(tmp_path: Any) -> None:
    from dataclasses import replace

    h = Harness(tmp_path)
    h.app.state.ctx = replace(h.app.state.ctx, settings=replace(h.settings, max_body_bytes=1000))
    with h.client:
        response = h.client.post(f"/queue/{V1}", json={"prompt": "x" * 2000, "image_url": IMAGE})
    h.store.close()
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("params", "headers", "loc"),
    [
        ({"fal_webhook": "ftp://x.test/h"}, {}, ["query", "fal_webhook"]),
        ({"fal_webhook": "/relative"}, {}, ["query", "fal_webhook"]),
        ({}, {"X-Fal-Request-Timeout": "soon"}, ["header", "x-fal-request-timeout"]),
        ({}, {"X-Fal-Request-Timeout": "-1"}, ["header", "x-fal-request-timeout"]),
        ({}, {"X-Fal-Object-Lifecycle-Preference": "7d"}, ["header", LIFECYCLE]),
        (
            {},
            {"X-Fal-Object-Lifecycle-Preference": '{"expiration_duration_seconds": -1}'},
            ["header", LIFECYCLE, "expiration_duration_seconds"],
        ),
    ],
)
def test_bad_request_options_are_422_naming_them(
    harness: Harness, params: dict[str, str], headers: dict[str, str], loc: list[str]
) -> None:
    response = harness.client.post(
        f"/queue/{V1}", params=params, headers=headers, json={"prompt": "p", "image_url": IMAGE}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_request_options_are_recorded(harness: Harness) -> None:
    response = harness.client.post(
        f"/queue/{V1}",
        params={"fal_webhook": "https://x.test/h?a=1"},
        headers={
            "X-Fal-Request-Timeout": "5.0",
            "X-Fal-Object-Lifecycle-Preference": '{"expiration_duration_seconds": 3600}',
        },
        json={"prompt": "p", "image_url": IMAGE},
    )
    job = harness.store.get(response.json()["request_id"])
    assert job is not None
    assert job.webhook_url == "https://x.test/h?a=1"
    assert job.start_deadline == pytest.approx(job.created_at + 5.0)
    assert job.output_lifetime == 3600


def test_a_request_not_started_in_time_answers_504_as_fal(harness: Harness) -> None:
    response = harness.client.post(
        f"/queue/{V1}",
        headers={"X-Fal-Request-Timeout": "1.1"},  # the least both clients send
        json={"prompt": "p", "image_url": IMAGE},
    )
    job = response.json()
    # No worker runs: it misses its start, and is timed out once its deadline has passed.
    deadline = time.monotonic() + 10
    while (expired := harness.store.expire_overdue()) == 0:
        assert time.monotonic() < deadline, "the request was never timed out"
        time.sleep(0.02)
    assert expired == 1
    result = harness.client.get(job["response_url"])
    assert result.status_code == 504
    assert result.headers["x-fal-request-timeout-type"] == "user"
    assert result.json()["error_type"] == "request_timeout"


def test_a_stopping_worker_hands_its_request_back(harness: Harness) -> None:
    engine = SlowEngine(frames=1000)
    job = submit(harness)
    with harness.running_worker(engine):
        assert engine.started.wait(10)
    # Leaving the block set the worker's shutdown: the request is queued again, not failed.
    stored = harness.store.get(job["request_id"])
    assert stored is not None
    assert stored.status.value == "IN_QUEUE" and stored.error is None
    assert harness.client.get(job["status_url"]).json()["queue_position"] == 0
    assert harness.drain() == 1
    assert harness.client.get(job["response_url"]).status_code == 200


# -- Idempotency-Key ------------------------------------------------------------------


def test_an_idempotency_key_sent_twice_makes_one_request_and_one_render(
    harness: Harness,
) -> None:
    body = {"prompt": "p", "image_url": IMAGE}
    headers = {"Idempotency-Key": "once-1"}
    first = harness.client.post(f"/queue/{V1}", json=body, headers=headers)
    # The first answer was lost; the client sends it again, keys in another order.
    again = harness.client.post(f"/queue/{V1}", json=dict(reversed(body.items())), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["request_id"] == first.json()["request_id"]
    engine = FakeEngine()
    assert harness.drain(engine) == 1 and len(engine.requests) == 1
    # Once completed, the same key still answers with that request.
    done = harness.client.post(f"/queue/{V1}", json=body, headers=headers).json()
    assert done["request_id"] == first.json()["request_id"] and done["status"] == "COMPLETED"
    assert harness.client.post(f"/run/{V1}", json=body, headers=headers).json()["video"]


def test_an_idempotency_key_with_another_body_is_a_422_naming_the_header(
    harness: Harness,
) -> None:
    headers = {"Idempotency-Key": "once-2"}
    harness.client.post(f"/queue/{V1}", json={"prompt": "p", "image_url": IMAGE}, headers=headers)
    r = harness.client.post(
        f"/queue/{V1}", json={"prompt": "other", "image_url": IMAGE}, headers=headers
    )
    assert r.status_code == 422
    (detail,) = r.json()["detail"]
    assert detail["loc"] == ["header", "idempotency-key"]
    assert detail["type"] == "idempotency_conflict" and "different body" in detail["msg"]
    bad = harness.client.post(
        f"/queue/{V1}", json={"prompt": "p", "image_url": IMAGE}, headers={"Idempotency-Key": ""}
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == [
        "header",
        "idempotency-key",
    ]


def test_an_idempotent_replay_is_not_rate_limited(harness: Harness) -> None:
    _, secret = harness.store.create_key("one-a-minute", rate_per_minute=1)
    auth = {"Authorization": f"Key {secret}"}
    body, headers = {"prompt": "p", "image_url": IMAGE}, {**auth, "Idempotency-Key": "k"}
    first = harness.client.post(f"/queue/{V1}", json=body, headers=headers)
    again = harness.client.post(f"/queue/{V1}", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["request_id"] == first.json()["request_id"]
    assert harness.client.post(f"/queue/{V1}", json=body, headers=auth).status_code == 429
