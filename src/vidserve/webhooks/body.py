"""The JSON a webhook delivers for a completed request, in fal's shape.

``{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload", "error"}``:

- OK: ``payload`` is the output the result call returns; ``error`` is null.
- ERROR: ``payload`` is the body the result call answers with (``{"detail", "error_type"}``)
  and ``error`` is ``"Invalid status code: <code>. <message>"``: fal's text, with the status
  code the result call uses, then the request's error message, so a receiver that only logs
  ``error`` still learns what went wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vidserve.schema import ErrorType, error_status_code
from vidserve.store import Job


def failure_status_code(job: Job) -> int:
    """The HTTP status the result call answers a failed request with."""
    return error_status_code(job.error_type, bool(job.error_detail))


def failure_payload(job: Job) -> dict[str, Any]:
    """The body the result call answers a failed request with."""
    error_type = str(job.error_type or ErrorType.ENGINE)
    return {"detail": job.error_detail or job.error, "error_type": error_type}


def webhook_body(job: Job) -> dict[str, Any]:
    """fal's webhook body for a completed request; ValueError for one still queued or running."""
    if not job.status.is_terminal:
        raise ValueError(f"request {job.request_id} is {job.status.value}, not completed")
    body: dict[str, Any] = {"request_id": job.request_id, "gateway_request_id": job.request_id}
    if job.error is None:
        return {**body, "status": "OK", "payload": job.result, "error": None}
    return {
        **body,
        "status": "ERROR",
        "payload": failure_payload(job),
        "error": f"Invalid status code: {failure_status_code(job)}. {job.error}",
    }


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The bytes to sign and send. A payload that is not valid JSON (NaN, a stray object)
    is replaced by null with ``payload_error`` saying why, as fal does."""
    try:
        return _dumps(body)
    except (TypeError, ValueError) as exc:
        return _dumps({**body, "payload": None, "payload_error": f"payload is not JSON: {exc}"})


def _dumps(value: Mapping[str, Any]) -> bytes:
    # allow_nan=False: NaN/Infinity are not JSON, and receivers' strict parsers reject them.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
