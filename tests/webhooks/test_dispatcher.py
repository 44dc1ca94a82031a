"""The dispatcher: the store's outbox delivered, signed, retried, never blocking."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vidserve.client import verify_webhook
from vidserve.config import Settings
from vidserve.media.netguard import HostPolicy
from vidserve.store import JobStore, NewJob, WebhookState
from vidserve.store.sqlite import SQLiteJobStore
from vidserve.webhooks import RetryPolicy, WebhookSigner
from vidserve.webhooks.dispatcher import WebhookDispatcher

from helpers import wait_until
from webhook_receiver import Receiver

SECRET = "dispatcher tests"  # noqa: S105 - a test key
SIGNER = WebhookSigner.from_secret(SECRET)
#: The receiver lives on loopback, which only an operator's allow list opens.
LOCAL = HostPolicy.from_allow(["127.0.0.1"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    s = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    yield s
    s.close()


def completed(store: JobStore, request_id: str, webhook_url: str) -> None:
    store.create(NewJob(request_id, "e", {}, "http://testserver", webhook_url=webhook_url))
    assert store.claim("w", 30.0) is not None
    store.complete(request_id, "w", result={"video": {"url": f"http://x/{request_id}.mp4"}})


def dispatcher(
    store: JobStore,
    first_delay: float = 60.0,
    timeout: float = 15.0,
    concurrency: int = 4,
    hosts: HostPolicy = LOCAL,
) -> WebhookDispatcher:
    policy = RetryPolicy(attempts=3, first_delay=first_delay, jitter=0)
    return WebhookDispatcher(
        store, SIGNER, policy, timeout=timeout, concurrency=concurrency, host_policy=hosts
    )


def attempts(store: JobStore, request_id: str) -> int:
    job = store.get(request_id)
    return 0 if job is None else job.webhook_attempts


def settle(d: WebhookDispatcher) -> None:
    d.close()  # waits for the deliveries in flight


def test_a_completed_request_is_delivered_once_signed(store: JobStore, receiver: Receiver) -> None:
    completed(store, "r1", f"{receiver.url}/ok")
    d = dispatcher(store)
    assert d.run_once() == 1
    settle(d)
    (got,) = receiver.requests
    verify_webhook(got.body, got.headers, jwks=SIGNER.jwks())
    body = json.loads(got.body)
    assert body["request_id"] == "r1" and body["status"] == "OK"
    assert body["payload"] == {"video": {"url": "http://x/r1.mp4"}}
    job = store.get("r1")
    assert job is not None and job.webhook_state is WebhookState.DELIVERED
    assert any("Webhook delivered" in r.message for r in store.logs("r1"))
    assert dispatcher(store).run_once() == 0  # never again


def test_a_failed_delivery_is_retried_on_schedule_then_given_up(
    store: JobStore, receiver: Receiver
) -> None:
    completed(store, "r1", f"{receiver.url}/fail")
    d = dispatcher(store, first_delay=0.2)
    for attempt in range(1, 4):
        wait_until(lambda: d.run_once() > 0, "the next attempt comes due", timeout=5)
        wait_until(lambda a=attempt: attempts(store, "r1") == a, "the attempt is recorded")
    settle(d)
    assert len(receiver.requests) == 3
    job = store.get("r1")
    assert job is not None and job.webhook_state is WebhookState.FAILED
    assert job.webhook_attempts == 3 and "500" in (job.webhook_error or "")
    logs = [r.message for r in store.logs("r1")]
    assert any("giving up" in m for m in logs)


def test_a_hanging_receiver_does_not_hold_up_other_deliveries(
    store: JobStore, receiver: Receiver
) -> None:
    completed(store, "slow", f"{receiver.url}/hang")
    d = dispatcher(store, timeout=5.0, concurrency=2)
    assert d.run_once() == 1
    completed(store, "fast", f"{receiver.url}/ok")
    started = time.monotonic()
    assert d.run_once() == 1  # a free slot takes the next while the first hangs
    deadline = time.monotonic() + 3
    while [r.path for r in receiver.requests].count("/ok") == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert time.monotonic() - started < 2
    fast = store.get("fast")
    while fast is not None and fast.webhook_state is WebhookState.PENDING:
        assert time.monotonic() < deadline
        time.sleep(0.02)
        fast = store.get("fast")
    assert fast is not None and fast.webhook_state is WebhookState.DELIVERED
    receiver.release.set()
    settle(d)


def test_an_internal_receiver_is_refused_and_the_attempt_recorded(
    store: JobStore, receiver: Receiver
) -> None:
    completed(store, "r1", f"{receiver.url}/ok")
    d = dispatcher(store, hosts=HostPolicy())
    assert d.run_once() == 1
    settle(d)
    assert receiver.requests == []
    job = store.get("r1")
    assert job is not None and job.webhook_state is WebhookState.PENDING
    assert job.webhook_attempts == 1
    assert "loopback address 127.0.0.1" in (job.webhook_error or "")
    logs = [r.message for r in store.logs("r1")]
    assert any("Webhook attempt 1 failed: refused:" in m for m in logs)


@pytest.mark.parametrize(("allow", "delivered"), [((), False), (("127.0.0.1",), True)])
def test_create_takes_the_allow_list_from_settings(
    store: JobStore, receiver: Receiver, allow: tuple[str, ...], delivered: bool
) -> None:
    d = WebhookDispatcher.create(store, Settings(secret=SECRET, allow_hosts=allow))
    completed(store, "r1", f"{receiver.url}/ok")
    assert d.run_once() == 1
    settle(d)
    assert bool(receiver.requests) is delivered


def test_create_refuses_an_invalid_allow_entry(store: JobStore) -> None:
    with pytest.raises(ValueError, match="VIDSERVE_ALLOW_HOSTS entry 'http://x'"):
        WebhookDispatcher.create(store, Settings(secret=SECRET, allow_hosts=("http://x",)))
