"""Health, metrics, the endpoint list, and fal-style per-endpoint OpenAPI documents."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

from vidserve import __version__
from vidserve.api.auth import CallerDep
from vidserve.api.reads import HEALTH_WAIT, RETRY_AFTER
from vidserve.api.wire import ApiContext, base_url, get_ctx, spec_for
from vidserve.endpoints import ENDPOINTS, EndpointSpec
from vidserve.endpoints.effect_scenes import EFFECT_SCENES
from vidserve.engines.base import Kind
from vidserve.schema import File, Status, StatusBody
from vidserve.serving import Route
from vidserve.store import RenderFigures, WorkStats

router = APIRouter()

Ctx = Annotated[ApiContext, Depends(get_ctx)]


@router.get("/health", tags=["ops"])
async def health(ctx: Ctx) -> JSONResponse:
    """Liveness and store reachability: 200 and ``"status": "ok"`` when the store answers;
    503 with ``Retry-After`` and ``"status": "unavailable"`` when it does not (``store``
    says why, and for how long), at once while the store is known to be down."""
    body: dict[str, Any] = {"status": "ok", "version": __version__, "endpoints": sorted(ENDPOINTS)}
    if ctx.health.down is None:
        await ctx.health.check(HEALTH_WAIT)  # a cheap read on each of the store's paths
    outage = ctx.health.down
    if outage is None:
        return JSONResponse({**body, "store": {"status": "ok"}})
    store = {
        "status": "unavailable",
        "reason": outage.reason,
        "down_seconds": round(time.monotonic() - outage.since, 1),
    }
    return JSONResponse(
        {**body, "status": "unavailable", "store": store},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER)},
    )


@router.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
def metrics(ctx: Ctx, _caller: CallerDep) -> PlainTextResponse:
    """Prometheus text: the store's queued and running requests per endpoint (how many, and
    how long the oldest has waited), how renders went over the last
    :data:`FIGURES_WINDOW` seconds, webhooks still to deliver, and this server's version.
    Every API process shows the same store-wide figures: scrape one. Needs a key once keys
    exist (Prometheus: ``authorization: {type: Key, credentials: <key>}``)."""
    now = time.time()
    store = ctx.store
    figures = store.render_figures(now - FIGURES_WINDOW)
    text = metrics_text(store.work_stats(), store.pending_webhooks(), now, figures)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")


#: Seconds of completed renders the render figures cover.
FIGURES_WINDOW = 300.0

#: (name, help, RenderFigures attribute, scale): a series per endpoint with figures.
_FIGURES = (
    ("vidserve_renders_recent", "Requests completed with a result in the last 5 minutes.",
     "count", 1.0),
    ("vidserve_render_seconds_mean", "Mean render time (inference_time) over the last 5 "
     "minutes.", "inference_seconds", 1.0),
    ("vidserve_seconds_per_step_mean", "Mean seconds per denoising step (diffusion engines) "
     "over the last 5 minutes.", "seconds_per_step", 1.0),
    ("vidserve_peak_gpu_memory_bytes", "Highest peak GPU memory of one render (diffusion "
     "engines on CUDA) over the last 5 minutes.", "peak_gpu_memory_mb", 1024.0 * 1024.0),
)  # fmt: skip


def metrics_text(
    stats: list[WorkStats],
    pending_webhooks: int,
    now: float,
    figures: Sequence[RenderFigures] = (),
) -> str:
    """The exposition: every served endpoint and active status has its series, 0 when idle;
    render figures for the endpoints that have them."""
    found = {(s.endpoint_id, s.status): s for s in stats}
    keys = sorted({*((eid, st) for eid in ENDPOINTS for st in _ACTIVE), *found})
    lines = [
        "# HELP vidserve_requests Requests queued or running, by endpoint.",
        "# TYPE vidserve_requests gauge",
    ]
    for endpoint_id, status in keys:
        stat = found.get((endpoint_id, status))
        lines.append(f"vidserve_requests{_labels(endpoint_id, status)} {stat.count if stat else 0}")
    lines += [
        "# HELP vidserve_oldest_request_age_seconds How long the oldest request queued (or"
        " running) was submitted ago, by endpoint; 0 when there is none.",
        "# TYPE vidserve_oldest_request_age_seconds gauge",
    ]
    for endpoint_id, status in keys:
        stat = found.get((endpoint_id, status))
        age = max(0.0, now - stat.oldest_created_at) if stat else 0.0
        lines.append(f"vidserve_oldest_request_age_seconds{_labels(endpoint_id, status)} {age:.3f}")
    for name, help_text, attribute, scale in _FIGURES:
        values = [(f.endpoint_id, getattr(f, attribute)) for f in figures]
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        lines += [
            f'{name}{{endpoint="{_escape(endpoint_id)}"}} {value * scale:.12g}'
            for endpoint_id, value in values
            if value is not None
        ]
    lines += [
        "# HELP vidserve_webhooks_pending Completed requests whose webhook is still to deliver.",
        "# TYPE vidserve_webhooks_pending gauge",
        f"vidserve_webhooks_pending {pending_webhooks}",
        "# HELP vidserve_info This server's version.",
        "# TYPE vidserve_info gauge",
        f'vidserve_info{{version="{_escape(__version__)}"}} 1',
    ]
    return "\n".join(lines) + "\n"


_ACTIVE = (Status.IN_QUEUE, Status.IN_PROGRESS)


def _labels(endpoint_id: str, status: Status) -> str:
    return f'{{endpoint="{_escape(endpoint_id)}",status="{status.value}"}}'


def _escape(value: str) -> str:
    """A Prometheus label value: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@router.get("/models", tags=["meta"])
def models(ctx: Ctx) -> list[dict[str, Any]]:
    """Every catalog endpoint: its kind, whether this server serves it (with which engine,
    or why not; for effects, which scenes it renders), output settings, price and input
    schema."""
    return [model_entry(spec, ctx.routes[spec.endpoint_id]) for spec in ENDPOINTS.values()]


def model_entry(spec: EndpointSpec, route: Route) -> dict[str, Any]:
    """One endpoint as ``/models`` lists it."""
    entry: dict[str, Any] = {
        "endpoint_id": spec.endpoint_id,
        "title": spec.title,
        "kind": spec.kind.value,
        "served": route.served,
        "engine": route.engine,
        "price_per_second": spec.price.per_second,
        "price": {
            "per_second": spec.price.per_second,
            "with_audio_per_second": spec.price.with_audio,
            "source": spec.price.source,
        },
        "output": {
            "model": spec.output.model,
            # None: the input video's (lipsync), or no picture (text-to-speech).
            "resolution": None if spec.output.resolution is None else f"{spec.output.resolution}p",
            "fps": spec.output.fps,
            "durations": list(spec.output.durations),
            "summary": spec.output.describe(),
        },
        "input_schema": spec.input_model.model_json_schema(),
        "example": dict(spec.example),
    }
    if route.reason:
        entry["not_served_because"] = route.reason
    if spec.kind is Kind.EFFECTS and route.served and route.capabilities is not None:
        # Of the schema's 198 scenes, the ones this server's engine renders.
        entry["effect_scenes"] = [s for s in EFFECT_SCENES if s in route.capabilities.effects]
    return entry


def component_schemas(specs: list[EndpointSpec]) -> dict[str, Any]:
    """JSON schemas of the specs' inputs and outputs, as OpenAPI components."""
    models: list[Any] = [(File, "serialization")]
    for spec in specs:
        models += [(spec.input_model, "validation"), (spec.output_model, "serialization")]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = defs.get("$defs", {})
    return schemas


def _ref(model: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _request_path(
    app: str, suffix: str, method: str, summary: str, response: Any
) -> dict[str, Any]:
    return {
        f"/{app}/requests/{{request_id}}{suffix}": {
            method: {
                "summary": summary,
                "parameters": [
                    {
                        "name": "request_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": response}},
                    }
                },
            }
        }
    }


def endpoint_openapi(spec: EndpointSpec, server: str) -> dict[str, Any]:
    """One endpoint's queue API as fal publishes it (``/openapi/queue/openapi.json``)."""
    schemas = component_schemas([spec])
    schemas["QueueStatus"] = TypeAdapter(StatusBody).json_schema()
    app = spec.app_id
    paths: dict[str, Any] = {
        f"/{spec.endpoint_id}": {
            "post": {
                "summary": f"Submit a request to {spec.title}",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(spec.input_model)}},
                },
                "responses": {
                    "200": {
                        "description": "Queued",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/QueueStatus"}
                            }
                        },
                    }
                },
            }
        },
        **_request_path(
            app,
            "/status",
            "get",
            "Status of a request",
            {"$ref": "#/components/schemas/QueueStatus"},
        ),
        **_request_path(app, "/cancel", "put", "Cancel a request", {"type": "object"}),
        **_request_path(app, "", "get", "Result of a request", _ref(spec.output_model)),
    }
    return {
        "openapi": "3.0.4",
        "info": {
            "title": spec.title,
            "version": __version__,
            "description": f"{spec.title}, served by vidserve.",
            "x-fal-metadata": {"endpointId": spec.endpoint_id, "category": spec.kind.value},
        },
        "servers": [{"url": f"{server}/queue"}],
        "paths": paths,
        "components": {"schemas": schemas},
    }


@router.get("/openapi/queue/openapi.json", tags=["meta"])
def queue_openapi(request: Request, endpoint_id: Annotated[str, Query()]) -> dict[str, Any]:
    """The queue OpenAPI document of one endpoint."""
    return endpoint_openapi(spec_for(endpoint_id), base_url(request))
