"""Synchronous run: ``POST /run/{endpoint_id}`` queues the request and answers with its
result once a worker has finished it. A client that hangs up cancels its request."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from vidserve.api.auth import CallerDep
from vidserve.api.queue import create_job, result_response
from vidserve.api.wire import ApiContext, get_ctx

router = APIRouter(include_in_schema=False)

POLL_SECONDS = 0.1


@router.post("/run/{endpoint_id:path}")
async def run(
    endpoint_id: str,
    request: Request,
    ctx: Annotated[ApiContext, Depends(get_ctx)],
    caller: CallerDep,
) -> Response:
    """Run and wait: the output JSON, or the error as the result call would answer it."""
    job = await create_job(request, ctx, endpoint_id, caller)
    while not job.status.is_terminal:
        if await request.is_disconnected():
            await run_in_threadpool(ctx.store.cancel, job.request_id)
            return Response(status_code=499)
        await anyio.sleep(POLL_SECONDS)
        current = await run_in_threadpool(ctx.store.get, job.request_id)
        assert current is not None  # noqa: S101 - requests are never deleted while awaited
        job = current
    return result_response(job)
