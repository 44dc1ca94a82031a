"""fal's queue protocol: submit, status (poll and SSE), result and cancel.

Status, result and cancel paths carry only ``owner/alias`` (fal drops the endpoint's
sub-path); the full endpoint id works there too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from vidserve.api.auth import Caller, CallerDep, caller_for
from vidserve.api.headers import output_lifetime, request_timeout, webhook_url
from vidserve.api.submit import Submission, digest, earlier, idempotency_key, record
from vidserve.api.wire import (
    MAX_INPUT_KEYS,
    REQUEST_ID_HEADER,
    ApiContext,
    base_url,
    base_url_of,
    error_response,
    get_ctx,
    parse_bool,
    query_param,
    read_json,
    route_path,
    scope_header,
    spec_for,
    status_body,
    status_code_for,
    visible,
)
from vidserve.errors import InputError
from vidserve.store import CancelOutcome, Idempotency, Job, Priority

router = APIRouter(include_in_schema=False)

Ctx = Annotated[ApiContext, Depends(get_ctx)]

#: How often the SSE stream looks at the store, and how often it pings an idle client.
STREAM_POLL_SECONDS = 0.2
STREAM_PING_SECONDS = 15.0

_CANCEL_STATUS = {
    CancelOutcome.CANCELLED: 200,
    CancelOutcome.REQUESTED: 202,
    CancelOutcome.ALREADY_COMPLETED: 400,
    CancelOutcome.NOT_FOUND: 404,
}


def _priority(value: str | None) -> Priority:
    if value is None or value.lower() == "normal":
        return Priority.NORMAL
    if value.lower() == "low":
        return Priority.LOW
    raise InputError.at(
        ("header", "x-fal-queue-priority"), "Input should be 'normal' or 'low'", "enum"
    )


async def create_job(request: Request, ctx: ApiContext, endpoint_id: str, caller: Caller) -> Job:
    """Validate a submitted body and record it for ``caller`` (or find the request its
    ``Idempotency-Key`` made): shared by the queue and sync-run routes."""
    spec = spec_for(endpoint_id)
    headers = request.headers
    priority = _priority(headers.get("x-fal-queue-priority"))
    start_timeout = request_timeout(headers.get("x-fal-request-timeout"))
    lifetime = output_lifetime(
        headers.get("x-fal-object-lifecycle-preference"), ctx.settings.output_lifetime
    )
    key = idempotency_key(request)
    # A webhook host is looked up (up to 2 s): off the event loop.
    webhook = await run_in_threadpool(
        webhook_url, request.query_params.get("fal_webhook"), ctx.settings.allow_hosts
    )
    data = await read_json(request, ctx.settings.max_body_bytes, MAX_INPUT_KEYS)
    idempotency = None
    if key is not None:  # digested on a thread: a body with large data URIs takes a while
        body_hash = await run_in_threadpool(
            digest, spec.endpoint_id, data, webhook, priority, start_timeout, lifetime
        )
        idempotency = Idempotency(key, body_hash)
    submission = Submission(
        priority=priority,
        webhook_url=webhook,
        start_timeout=start_timeout,
        output_lifetime=lifetime,
        idempotency=idempotency,
    )
    found = await earlier(ctx, caller, idempotency)
    return found or await record(ctx, request, spec, data, caller, submission)


@router.post("/queue/{endpoint_id:path}")
async def submit(endpoint_id: str, request: Request, ctx: Ctx, caller: CallerDep) -> JSONResponse:
    """Queue a request; answer IN_QUEUE with absolute status/response/cancel URLs."""
    job = await create_job(request, ctx, endpoint_id, caller)
    view = await ctx.reader.read(job.request_id, None)
    assert view is not None  # noqa: S101 - requests are never deleted
    body = status_body(view, base_url(request))
    del body["logs"]
    body["gateway_request_id"] = job.request_id
    return JSONResponse(body, headers={REQUEST_ID_HEADER: job.request_id})


@router.get("/queue/{app_path:path}/requests/{request_id}/status/stream")
async def status_stream(
    app_path: str,
    request_id: str,
    request: Request,
    ctx: Ctx,
    caller: CallerDep,
    logs: Annotated[str | None, Query()] = None,
) -> StreamingResponse:
    """Server-sent status events until COMPLETED; each event carries only new log lines."""
    await run_in_threadpool(ctx.job, app_path, request_id, caller.owner)
    with_logs = parse_bool(logs, "logs")
    base = base_url(request)
    return StreamingResponse(
        _events(ctx, request_id, base, with_logs),
        media_type="text/event-stream",
        headers={
            REQUEST_ID_HEADER: request_id,
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        },
    )


async def _events(
    ctx: ApiContext, request_id: str, base: str, with_logs: bool
) -> AsyncIterator[str]:
    last_seq = 0
    last_state: tuple[Any, ...] | None = None
    last_sent = time.monotonic()
    while True:
        # Logs are read only when the client asked for them.
        try:
            view = await ctx.reader.read(request_id, last_seq if with_logs else None)
        except Exception as exc:
            if ctx.health.note(exc) is None:
                raise
            # The store failed: end the stream (the client polls or reconnects, and is
            # answered 503 until the store is back).
            return
        assert view is not None  # noqa: S101 - requests are never deleted while streamed
        state = (view.status, view.position, view.progress)
        if state != last_state or view.logs:
            yield f"data: {json.dumps(status_body(view, base))}\n\n"
            last_state, last_sent = state, time.monotonic()
            if view.logs:
                last_seq = view.logs[-1].seq
        if view.status.is_terminal:
            return
        if time.monotonic() - last_sent > STREAM_PING_SECONDS:
            yield ": ping\n\n"
            last_sent = time.monotonic()
        await anyio.sleep(STREAM_POLL_SECONDS)


#: The status poll's path, as Starlette would match ``/queue/{app_path:path}/requests/
#: {request_id}/status``.
STATUS_PATH = re.compile(r"^/queue/(?P<app_path>.*)/requests/(?P<request_id>[^/]+)/status$")


async def _status(scope: Scope, app_path: str, request_id: str) -> JSONResponse:
    """The request's status; ``logs=1`` (or ``true``) includes every log line."""
    app = scope["app"]
    ctx: ApiContext = app.state.ctx
    caller = await caller_for(app.state.keys, scope_header(scope, b"authorization"))
    with_logs = parse_bool(query_param(scope, "logs"), "logs")
    found = await ctx.reader.read(request_id, 0 if with_logs else None)
    view = visible(found, app_path, request_id, caller.owner)
    return JSONResponse(
        status_body(view, base_url_of(scope)),
        status_code=status_code_for(view.status),
        headers={REQUEST_ID_HEADER: request_id},
    )


class StatusPolls:
    """ASGI middleware that answers status polls (``GET`` or ``HEAD`` of
    ``…/requests/{id}/status``) itself, before FastAPI's routing, reading what it needs
    straight from the ASGI scope.

    Clients poll this path several times a second per request: it is most of a busy
    server's traffic, and FastAPI's exception middleware, dependency machinery, request
    objects and a match over every route cost several times the poll itself. Errors are
    answered by the app's exception handlers, as on any route; it sits inside the
    request-id middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = (
            STATUS_PATH.match(route_path(scope))
            if scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
            else None
        )
        if match is None:
            await self.app(scope, receive, send)
            return
        try:
            response: Response = await _status(scope, *match.group("app_path", "request_id"))
        except Exception as exc:
            response = await _handled(Request(scope, receive), exc)
        await response(scope, receive, send)


async def _handled(request: Request, exc: Exception) -> Response:
    """The app's answer to ``exc``: its handler for the nearest class (``Exception``'s
    answers 500)."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            response: Response = await handlers[cls](request, exc)
            return response
    raise exc


def result_response(job: Job) -> Response:
    """The result call's answer: the output, the error, or 400 while still pending."""
    if not job.status.is_terminal:
        return JSONResponse(
            {"detail": "Request is still in progress"},
            status_code=400,
            headers={REQUEST_ID_HEADER: job.request_id},
        )
    if job.error is not None:
        return error_response(job)
    return JSONResponse(job.result, headers={REQUEST_ID_HEADER: job.request_id})


@router.get("/queue/{app_path:path}/requests/{request_id}")
def result(app_path: str, request_id: str, ctx: Ctx, caller: CallerDep) -> Response:
    """The output JSON of a completed request (or its error)."""
    return result_response(ctx.job(app_path, request_id, caller.owner))


@router.put("/queue/{app_path:path}/requests/{request_id}/cancel")
def cancel(app_path: str, request_id: str, ctx: Ctx, caller: CallerDep) -> JSONResponse:
    """Queued: cancelled now (200 OK). Running: the worker stops it (202)."""
    ctx.job(app_path, request_id, caller.owner)
    outcome = ctx.store.cancel(request_id)
    return JSONResponse(
        {"status": outcome.value},
        status_code=_CANCEL_STATUS[outcome],
        headers={REQUEST_ID_HEADER: request_id},
    )
