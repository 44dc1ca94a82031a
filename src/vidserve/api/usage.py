"""``GET /usage``: the caller's completed requests over a period, with seconds of video and
their cost (the same figures each result carries in ``usage``)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from vidserve.api.auth import CallerDep
from vidserve.api.wire import ApiContext, get_ctx
from vidserve.errors import InputError
from vidserve.store import UsageRow

router = APIRouter(tags=["usage"])

#: The period when the caller names none.
DEFAULT_DAYS = 30


def parse_time(value: str | None, name: str, default: float) -> float:
    """Unix seconds or an ISO 8601 date/time (UTC when it has no zone)."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError.at(
            ("query", name), "Input should be unix seconds or an ISO 8601 date/time", "datetime"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def usage_body(rows: list[UsageRow], since: float, until: float) -> dict[str, Any]:
    """Rows summed per endpoint, with a total."""

    def iso(ts: float) -> str:
        return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat()

    endpoints = [
        {
            "endpoint_id": r.endpoint_id,
            "requests": r.requests,
            "video_seconds": round(r.video_seconds, 3),
            "cost": round(r.cost, 6),
        }
        for r in rows
    ]
    return {
        "since": iso(since),
        "until": iso(until),
        "currency": "USD",
        "endpoints": endpoints,
        "total": {
            "requests": sum(r.requests for r in rows),
            "video_seconds": round(sum(r.video_seconds for r in rows), 3),
            "cost": round(sum(r.cost for r in rows), 6),
        },
    }


@router.get("/usage")
def usage(
    ctx: Annotated[ApiContext, Depends(get_ctx)],
    caller: CallerDep,
    since: Annotated[str | None, Query(description="Unix seconds or ISO 8601")] = None,
    until: Annotated[str | None, Query(description="Unix seconds or ISO 8601")] = None,
) -> dict[str, Any]:
    """The calling key's usage from ``since`` (default 30 days ago) to ``until`` (now)."""
    now = time.time()
    end = parse_time(until, "until", now)
    start = parse_time(since, "since", end - DEFAULT_DAYS * 86400)
    if start >= end:
        raise InputError.at(("query", "since"), "since must be before until", "value_error")
    body = usage_body(ctx.store.usage(caller.owner, start, end), start, end)
    return {"key_id": caller.owner, **body}
