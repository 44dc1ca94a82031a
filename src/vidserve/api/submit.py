"""Recording a submitted request, for every dialect: validation against the endpoint, the
engine's capabilities, ``Idempotency-Key``, rate limits, then the store.

A submit with an ``Idempotency-Key`` (1 to 255 printable ASCII characters) that its caller
used within the last 24 hours gets the request that key made, with no second render, when
what it asks for is the same (the same digest of its body: see :func:`digest`), and a 422
naming the header when it is not. The key lives in the job store, so it holds across API
processes and restarts; a submit whose response was lost can be sent again safely.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from vidserve.api.auth import Caller, RateLimitError
from vidserve.api.wire import ApiContext, base_url
from vidserve.endpoints import EndpointSpec, refusals, validate_input
from vidserve.endpoints.files import file_inputs, file_limit
from vidserve.errors import InputError, NotServedError
from vidserve.serving import Route
from vidserve.store import (
    Dialect,
    Idempotency,
    IdempotencyConflictError,
    Job,
    LimitExceededError,
    NewJob,
    Priority,
    SubmitLimits,
)

IDEMPOTENCY_HEADER = "idempotency-key"
_MAX_KEY = 255


@dataclass(frozen=True)
class Submission:
    """What a dialect asks to record, beside the endpoint and its input."""

    dialect: Dialect = Dialect.FAL
    dialect_fields: dict[str, Any] = field(default_factory=dict)
    priority: Priority = Priority.NORMAL
    webhook_url: str | None = None
    start_timeout: float | None = None
    output_lifetime: float | None = None
    #: The ``Idempotency-Key`` and the digest of the body it was sent with.
    idempotency: Idempotency | None = None


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``, checked; None when it sends none."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= _MAX_KEY or not key.isascii() or not key.isprintable():
        raise InputError.at(
            ("header", IDEMPOTENCY_HEADER),
            f"Idempotency-Key must be 1 to {_MAX_KEY} printable ASCII characters",
            "idempotency_key",
        )
    return key


def digest(*parts: Any) -> str:
    """A digest of what a submit asks for (canonical JSON: key order does not matter)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def conflict(exc: IdempotencyConflictError) -> InputError:
    """The 422 for a key reused with another body, naming the header."""
    return InputError.at(("header", IDEMPOTENCY_HEADER), str(exc), "idempotency_conflict")


async def earlier(ctx: ApiContext, caller: Caller, idempotency: Idempotency | None) -> Job | None:
    """The request this submit's key already made (same body), if any; a 422 if that request
    was made with another body."""
    if idempotency is None:
        return None
    found = await run_in_threadpool(ctx.store.idempotent, caller.owner, idempotency.key)
    if found is None:
        return None
    try:
        request_id = found.check(idempotency.body_hash)
    except IdempotencyConflictError as exc:
        raise conflict(exc) from None
    return await run_in_threadpool(ctx.store.get, request_id)


def validated(spec: EndpointSpec, data: Any, max_image_bytes: int) -> BaseModel:
    """``data`` validated as ``spec``'s input, its data URIs within their fields' limits."""
    inp = validate_input(spec, data)
    errors = data_uri_errors(inp, max_image_bytes)
    if errors:
        raise InputError(errors)
    return inp


def data_uri_size(uri: str, limit: int) -> int:
    """How many bytes the data URI ``uri`` holds, from its length (no decoding, no copy):
    exact for base64 without line breaks and for percent-encoding; the whitespace base64
    may carry is counted only when it could matter, with a size over ``limit``. Counted in
    steps: a call holds the GIL (and the event loop) for a millisecond at most."""
    comma = uri.find(",", 5, 5 + _MAX_HEADER)
    if comma < 0:
        return len(uri)
    start, end = comma + 1, len(uri)
    if uri[5:comma].lower().endswith(";base64"):
        tail = uri[-8:].rstrip()
        pad = 2 if tail.endswith("==") else 1 if tail.endswith("=") else 0
        size = (end - start) * 3 // 4 - pad
        # Line breaks and spaces do not count (the decoder skips them); base64 that has
        # them (MIME's, 76 characters a line) has them from its first line on.
        if size > limit and any(c in uri[start : start + 4096] for c in _SPACES):
            size = (end - start - _count(uri, _SPACES, start, end)) * 3 // 4 - pad
        return size
    if end - start <= limit:
        return end - start
    return end - start - 2 * _count(uri, "%", start, end)


#: The longest data URI header looked at (``data:`` media type, parameters, ``;base64``).
_MAX_HEADER = 1024
_SPACES = " \t\r\n"
#: Characters of a string counted in one call.
_COUNT_STEP = 1 << 20


def _count(text: str, chars: str, start: int, end: int) -> int:
    """How many of ``chars`` ``text[start:end]`` holds."""
    return sum(
        text.count(char, at, min(at + _COUNT_STEP, end))
        for char in chars
        for at in range(start, end, _COUNT_STEP)
    )


def data_uri_errors(inp: BaseModel, max_image_bytes: int) -> list[dict[str, Any]]:
    """A 422 detail for each data URI in ``inp`` larger than its field's file limit (the
    worker would refuse it once queued; here the submit is refused, naming the field)."""
    errors: list[dict[str, Any]] = []
    for item in file_inputs(inp):
        if not item.url.startswith("data:"):
            continue
        limit = file_limit(item.kind, max_image_bytes)
        size = data_uri_size(item.url, limit)
        if size > limit:
            errors.append(
                {
                    "loc": list(item.loc),
                    "msg": f"the file is {_mb(size)}, over the {_mb(limit)} limit for an "
                    f"input file",
                    "type": "file_too_large",
                    "ctx": {"max_size": limit},
                }
            )
    return errors


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.3g} MB"


def check_route(route: Route, spec: EndpointSpec, inp: BaseModel) -> None:
    """NotServedError when no engine here makes the endpoint's kind; InputError naming each
    field that asks its engine for what it cannot do."""
    if not route.served:
        raise NotServedError(route.reason or f"{spec.endpoint_id} is not served here")
    if route.capabilities is not None:
        errors, _ = refusals(spec.asks(inp), route.capabilities, str(route.engine), at_submit=True)
        if errors:
            raise InputError(errors)


async def record(
    ctx: ApiContext,
    request: Request,
    spec: EndpointSpec,
    data: Any,
    caller: Caller,
    submission: Submission,
    request_id: str | None = None,
) -> Job:
    """Validate ``data`` as ``spec``'s input and record it for ``caller``. Callers look for
    the request a repeated ``Idempotency-Key`` made first (:func:`earlier`); the store
    settles a race between two submits with one key. Rate limits apply (429) to new requests
    only, checked by the store as it records (exact under concurrency)."""
    # Off the event loop: a large input costs its validation, and its data URIs a look.
    inp = await run_in_threadpool(validated, spec, data, ctx.settings.max_input_bytes)
    check_route(ctx.routes[spec.endpoint_id], spec, inp)
    new = NewJob(
        request_id=request_id or str(uuid.uuid4()),
        endpoint_id=spec.endpoint_id,
        # Stored as validated, defaults filled, so what runs is what was accepted.
        input=inp.model_dump(mode="json"),
        base_url=base_url(request),
        priority=submission.priority,
        webhook_url=submission.webhook_url,
        start_timeout=submission.start_timeout,
        output_lifetime=submission.output_lifetime,
        owner=caller.owner,
        dialect=submission.dialect,
        dialect_fields=submission.dialect_fields,
        idempotency=submission.idempotency,
        limits=limits_of(ctx, caller),
    )
    try:
        return await run_in_threadpool(ctx.store.create, new)
    except IdempotencyConflictError as exc:  # another process took the key meanwhile
        raise conflict(exc) from None
    except LimitExceededError as exc:
        raise too_many(exc, caller) from None


def limits_of(ctx: ApiContext, caller: Caller) -> SubmitLimits | None:
    """The caller's limits: its key's, else the server's (None: none at all)."""
    key = caller.key
    per_minute = (key and key.rate_per_minute) or ctx.settings.rate_per_minute
    concurrent = (key and key.max_concurrent) or ctx.settings.max_concurrent
    if per_minute is None and concurrent is None:
        return None
    return SubmitLimits(per_minute=per_minute, concurrent=concurrent)


def too_many(exc: LimitExceededError, caller: Caller) -> RateLimitError:
    """The 429 for a limit the store found reached."""
    who = "this key" if caller.key else "this server"
    retry = max(1, math.ceil(exc.retry_after))
    if exc.which == "per_minute":
        return RateLimitError(f"Rate limit: {exc.limit} requests per minute for {who}", retry)
    return RateLimitError(
        f"Too many requests in flight: {exc.limit} queued or running at once for {who}", retry
    )
