"""fal's webhook body for completed, failed and cancelled requests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vidserve.api.wire import error_response
from vidserve.schema import ErrorType, Status
from vidserve.webhooks import encode_body, failure_payload, failure_status_code, webhook_body

from webhook_receiver import make_job

VIDEO = {"video": {"url": "http://testserver/files/v.mp4", "content_type": "video/mp4"}}
DETAIL = [{"loc": ["body", "image_url"], "msg": "cannot decode the image", "type": "value_error"}]


def test_completed_request_is_ok_with_the_output() -> None:
    assert webhook_body(make_job(result=VIDEO)) == {
        "request_id": "req-1",
        "gateway_request_id": "req-1",
        "status": "OK",
        "payload": VIDEO,
        "error": None,
    }


def test_failed_request_carries_the_result_calls_error_body() -> None:
    job = make_job(
        error="image_url: cannot decode the image",
        error_type=ErrorType.IMAGE_LOAD,
        error_detail=DETAIL,
    )
    assert webhook_body(job) == {
        "request_id": "req-1",
        "gateway_request_id": "req-1",
        "status": "ERROR",
        "payload": {"detail": DETAIL, "error_type": "image_load_error"},
        "error": "Invalid status code: 422. image_url: cannot decode the image",
    }


def test_cancelled_request_is_an_error() -> None:
    job = make_job(error="Request was cancelled", error_type=ErrorType.CANCELLED)
    body = webhook_body(job)
    assert body["status"] == "ERROR"
    assert body["payload"] == {"detail": "Request was cancelled", "error_type": "request_cancelled"}
    assert body["error"] == "Invalid status code: 400. Request was cancelled"


def test_engine_failure_without_a_type_is_a_500_engine_error() -> None:
    body = webhook_body(make_job(error="RuntimeError: boom"))
    assert body["payload"] == {"detail": "RuntimeError: boom", "error_type": "engine_error"}
    assert body["error"] == "Invalid status code: 500. RuntimeError: boom"


@pytest.mark.parametrize("status", [Status.IN_QUEUE, Status.IN_PROGRESS])
def test_only_completed_requests_have_a_body(status: Status) -> None:
    with pytest.raises(ValueError, match=f"is {status.value}, not completed"):
        webhook_body(make_job(status=status))


@pytest.mark.parametrize(
    "changes",
    [
        {"error": "bad input", "error_type": ErrorType.VALIDATION, "error_detail": DETAIL},
        {"error": "Request was cancelled", "error_type": ErrorType.CANCELLED},
        {"error": "lost", "error_type": ErrorType.WORKER_LOST},
        {"error": "slow", "error_type": "request_timeout"},
        {"error": "boom", "error_type": ErrorType.ENGINE},
        {"error": "boom", "error_type": None},
        {"error": "cannot fetch", "error_type": ErrorType.FILE_DOWNLOAD},
    ],
)
def test_error_payload_matches_the_result_call(changes: dict[str, Any]) -> None:
    job = make_job(**changes)
    response = error_response(job)
    assert failure_status_code(job) == response.status_code
    assert failure_payload(job) == json.loads(bytes(response.body))


def test_encoded_body_is_compact_utf8_json() -> None:
    body = webhook_body(make_job(result={"video": {"url": "http://h/é.mp4"}}))
    raw = encode_body(body)
    assert json.loads(raw) == body
    assert "é".encode() in raw and b", " not in raw


def test_a_payload_that_is_not_json_becomes_null_with_payload_error() -> None:
    raw = encode_body(webhook_body(make_job(result={"score": float("nan")})))
    body = json.loads(raw)
    assert body["payload"] is None
    assert body["payload_error"].startswith("payload is not JSON")
    assert body["status"] == "OK" and body["request_id"] == "req-1"
