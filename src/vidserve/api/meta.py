"""Health, the endpoint list, and fal-style per-endpoint OpenAPI documents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic.json_schema import models_json_schema

from vidserve import __version__
from vidserve.api.wire import ApiContext, base_url, get_ctx, spec_for
from vidserve.endpoints import ENDPOINTS, EndpointSpec
from vidserve.schema import File

router = APIRouter()

Ctx = Annotated[ApiContext, Depends(get_ctx)]


@router.get("/health", tags=["ops"])
def health(ctx: Ctx) -> dict[str, Any]:
    """Liveness and store reachability."""
    ctx.store.get("health-check")  # a cheap query: raises if the store is unreachable
    return {"status": "ok", "version": __version__, "endpoints": sorted(ENDPOINTS)}


@router.get("/models", tags=["meta"])
def models() -> list[dict[str, Any]]:
    """Every served endpoint with its input schema, output settings and price."""
    return [
        {
            "endpoint_id": spec.endpoint_id,
            "title": spec.title,
            "price_per_second": spec.price_per_second,
            "output": {
                "resolution": f"{spec.output.resolution}p",
                "fps": spec.output.fps,
                "durations": list(spec.output.durations),
            },
            "input_schema": spec.input_model.model_json_schema(),
        }
        for spec in ENDPOINTS.values()
    ]


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


_QUEUE_STATUS = {
    "type": "object",
    "required": ["status", "request_id"],
    "properties": {
        "status": {"type": "string", "enum": ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]},
        "request_id": {"type": "string"},
        "response_url": {"type": "string"},
        "status_url": {"type": "string"},
        "cancel_url": {"type": "string"},
        "queue_position": {"type": "integer"},
        "progress": {"type": "number"},
        "logs": {"type": "array", "items": {"type": "object"}, "nullable": True},
        "metrics": {"type": "object"},
        "error": {"type": "string"},
        "error_type": {"type": "string"},
    },
}


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
    schemas["QueueStatus"] = _QUEUE_STATUS
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
            "x-fal-metadata": {"endpointId": spec.endpoint_id, "category": "image-to-video"},
        },
        "servers": [{"url": f"{server}/queue"}],
        "paths": paths,
        "components": {"schemas": schemas},
    }


@router.get("/openapi/queue/openapi.json", tags=["meta"])
def queue_openapi(request: Request, endpoint_id: Annotated[str, Query()]) -> dict[str, Any]:
    """The queue OpenAPI document of one endpoint."""
    return endpoint_openapi(spec_for(endpoint_id), base_url(request))
