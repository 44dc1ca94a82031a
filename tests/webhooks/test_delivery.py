"""RetryPolicy's schedule, and deliver() against a real local HTTP receiver."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from vidserve.client import verify_webhook
from vidserve.media.netguard import HostPolicy
from vidserve.webhooks import (
    RetryPolicy,
    WebhookSigner,
    deliver,
    encode_body,
    webhook_body,
)

from webhook_receiver import Receiver, make_job

HOUR = 3600.0
BODY = b'{"request_id":"req-1","status":"OK"}'
#: The receiver lives on loopback, which only an operator's allow list opens.
LOCAL = HostPolicy.from_allow(["127.0.0.1"])


def test_default_schedule_is_ten_attempts_over_about_two_hours() -> None:
    policy = RetryPolicy(jitter=0)
    waits = [policy.delay(n) for n in range(1, 10)]
    assert waits == [15, 30, 60, 120, 240, 480, 960, 1920, 3600]
    assert policy.delay(10) is None
    assert policy.delay(11) is None
    assert policy.total() == 7425
    assert 1.5 * HOUR <= policy.total() <= 2.5 * HOUR


def test_jitter_is_bounded_deterministic_and_spreads_requests() -> None:
    policy = RetryPolicy()  # ±10 %
    for n in range(1, 10):
        base = RetryPolicy(jitter=0).delay(n)
        assert base is not None
        for key in ("req-1", "req-2"):
            wait = policy.delay(n, key)
            assert wait is not None and 0.9 * base <= wait <= 1.1 * base
            assert wait == policy.delay(n, key)
    assert policy.delay(1, "req-1") != policy.delay(1, "req-2")
    assert 1.5 * HOUR <= policy.total("req-1") <= 2.5 * HOUR
    assert policy.delay(10, "req-1") is None


@pytest.mark.parametrize(("span", "attempts"), [(7200.0, 10), (600.0, 4), (60.0, 2)])
def test_spanning_spreads_the_attempts_over_the_span(span: float, attempts: int) -> None:
    policy = RetryPolicy.spanning(span, attempts, jitter=0)
    assert policy.total() == pytest.approx(span)
    assert policy.delay(attempts) is None
    waits = [policy.delay(n) for n in range(1, attempts)]
    assert all(b == pytest.approx(2 * a) for a, b in zip(waits, waits[1:], strict=False))


def test_spanning_one_attempt_never_waits() -> None:
    assert RetryPolicy.spanning(7200, 1).delay(1) is None
    with pytest.raises(ValueError, match="span"):
        RetryPolicy.spanning(0)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="attempts must be"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="first_delay"):
        RetryPolicy(first_delay=0)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=1)
    with pytest.raises(ValueError, match="count from 1"):
        RetryPolicy().delay(0)


def test_single_attempt_policy_never_retries() -> None:
    assert RetryPolicy(attempts=1).delay(1) is None


def test_2xx_is_delivered_with_json_content_type_and_signature(receiver: Receiver) -> None:
    signer = WebhookSigner.from_secret("s3cret-value")
    body = encode_body(webhook_body(make_job(result={"video": None})))
    headers = signer.sign("req-1", "user-1", int(time.time()), body)
    result = deliver(
        f"{receiver.url}/ok", body, {**headers, "content-type": "text/plain"}, policy=LOCAL
    )
    assert (result.ok, result.status_code, result.error) == (True, 200, None)
    (got,) = receiver.requests
    assert got.body == body
    lowered = {k.lower(): v for k, v in got.headers.items()}
    assert lowered["content-type"] == "application/json"
    assert lowered["user-agent"].startswith("vidserve-webhooks/")
    verify_webhook(got.body, got.headers, jwks=signer.jwks())


def test_500_is_a_failure_that_keeps_the_status(receiver: Receiver) -> None:
    result = deliver(f"{receiver.url}/fail", BODY, {}, policy=LOCAL)
    assert (result.ok, result.status_code) == (False, 500)
    assert result.error is not None
    assert result.error.startswith("HTTP 500: receiver broke x")
    assert len(result.error) < 600  # only the start of a long answer is read


def test_redirect_is_not_followed(receiver: Receiver) -> None:
    result = deliver(f"{receiver.url}/redirect", BODY, {}, policy=LOCAL)
    assert (result.ok, result.status_code) == (False, 302)
    assert result.error is not None and "redirect" in result.error
    assert f"{receiver.url}/ok" in result.error and "not followed" in result.error
    assert [r.path for r in receiver.requests] == ["/redirect"]


def test_a_receiver_slower_than_the_timeout_fails_promptly(receiver: Receiver) -> None:
    started = time.monotonic()
    result = deliver(f"{receiver.url}/hang", BODY, {}, timeout=0.3, policy=LOCAL)
    assert time.monotonic() - started < 3
    assert (result.ok, result.status_code) == (False, None)
    assert result.error is not None and result.error.startswith("timed out after 0.3 s")


def test_connection_refused_is_a_failure_with_the_reason() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The socket is closed and was never listening: nothing accepts on this port.
    result = deliver(f"http://127.0.0.1:{port}/hook", BODY, {}, timeout=2, policy=LOCAL)
    assert (result.ok, result.status_code) == (False, None)
    assert result.error is not None and result.error.startswith("could not connect:")
    assert "refused" in result.error.lower()


@pytest.mark.parametrize(
    "url", ["ftp://example.test/hook", "not a url", "http://", "http://u:p@example.test/h"]
)
def test_unusable_urls_are_failures_not_exceptions(url: str) -> None:
    result = deliver(url, BODY, {}, timeout=1)
    assert not result.ok and result.status_code is None and result.error


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_internal_receivers_are_refused_without_a_connection(receiver: Receiver, host: str) -> None:
    url = receiver.url.replace("127.0.0.1", host)
    result = deliver(f"{url}/ok", BODY, {})
    assert (result.ok, result.status_code) == (False, None)
    assert result.error is not None and result.error.startswith("refused: ")
    assert "loopback address 127.0.0.1, which vidserve does not deliver webhooks to" in (
        result.error
    )
    assert "VIDSERVE_ALLOW_HOSTS" in result.error
    assert receiver.requests == []


def test_the_metadata_service_is_never_a_receiver() -> None:
    result = deliver("http://169.254.169.254/latest/", BODY, {}, timeout=1)
    assert result.error is not None and "cloud metadata address" in result.error


def test_a_given_client_is_used_and_left_open(receiver: Receiver) -> None:
    with httpx.Client(follow_redirects=True) as client:
        assert deliver(f"{receiver.url}/ok", BODY, {}, client=client).ok
        # Redirects stay unfollowed even when the client would follow them.
        assert deliver(f"{receiver.url}/redirect", BODY, {}, client=client).status_code == 302
        assert not client.is_closed
