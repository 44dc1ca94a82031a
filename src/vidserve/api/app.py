"""``create_app(settings, store, storage)``: the FastAPI app, with no globals."""

from __future__ import annotations

import logging
import sqlite3
import sys
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidserve import __version__
from vidserve.api import (
    files,
    meta,
    openai_videos,
    playground,
    queue,
    run,
    uploads,
    usage,
    webhooks,
)
from vidserve.api.auth import AuthError, KeyCache, RateLimitError
from vidserve.api.errors import Refusal, fal_response, refusal_of, store_down
from vidserve.api.reads import StoreHealth, StoreUnavailableError
from vidserve.api.routing import FalRoutingMiddleware
from vidserve.api.wire import ApiContext, PayloadTooLargeError, route_path
from vidserve.config import Settings
from vidserve.endpoints import ENDPOINTS
from vidserve.engines.config import load_engines_config
from vidserve.errors import InputError, NotFoundError, NotServedError
from vidserve.serving import Route, plan_routes
from vidserve.storage import FileStorage
from vidserve.store import JobStore

logger = logging.getLogger(__name__)


class RequestIdMiddleware:
    """Every response carries ``X-Fal-Request-Id``: the request's id where a route set one,
    a fresh id otherwise (fal's clients read it from every answer)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-fal-request-id" for k, _ in headers):
                    headers.append((b"x-fal-request-id", str(uuid.uuid4()).encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


async def _refuse(request: Request, exc: Exception) -> Response:
    """The app's answer to every exception (:mod:`vidserve.api.errors`), in the request's
    dialect."""
    return _in_dialect(request, refusal_of(exc, request))


def _in_dialect(request: Request, refusal: Refusal) -> Response:
    """``refusal`` written in the dialect ``request`` came in."""
    if openai_videos.speaks_openai(request):
        return openai_videos.error_response(refusal)
    return fal_response(refusal)


class StoreGate:
    """ASGI middleware: while the store is down (:class:`~vidserve.api.reads.StoreHealth`),
    every request that needs it is answered 503 with ``Retry-After`` at once, without
    touching the store; what needs no store (health, docs, the catalog, the playground)
    is served as ever."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            health: StoreHealth = scope["app"].state.ctx.health
            outage = health.down
            if outage is not None and needs_store(route_path(scope)):
                health.watch()
                response = _in_dialect(Request(scope), store_down(outage.reason))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


#: Paths served without the job store (and their prefixes).
_STORELESS = frozenset(
    {
        "/",
        "/health",
        "/models",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi/queue/openapi.json",
        "/.well-known/jwks.json",
        "/rest/.well-known/jwks.json",
        "/v1/models",
    }
)
_STORELESS_PREFIXES = ("/playground/", "/v1/models/")


def needs_store(path: str) -> bool:
    """Whether the route at ``path`` uses the job store."""
    return path not in _STORELESS and not path.startswith(_STORELESS_PREFIXES)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"detail": "Internal server error", "error_type": "internal_error"},
        status_code=500,
        headers={"X-Fal-Error-Type": "internal_error"},
    )


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus, for every served endpoint, its queue and run routes."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, routes=app.routes, description=app.description
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(meta.component_schemas(list(ENDPOINTS.values())))
    for spec in ENDPOINTS.values():
        body = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{spec.input_model.__name__}"}
                }
            },
        }
        output = {"$ref": f"#/components/schemas/{spec.output_model.__name__}"}
        schema["paths"][f"/queue/{spec.endpoint_id}"] = {
            "post": {
                "tags": ["queue"],
                "summary": f"Queue: {spec.title}",
                "requestBody": body,
                "responses": {
                    "200": {"description": "IN_QUEUE with status/response/cancel URLs"},
                    "422": {"description": "Validation error"},
                },
            }
        }
        schema["paths"][f"/run/{spec.endpoint_id}"] = {
            "post": {
                "tags": ["run"],
                "summary": f"Run and wait: {spec.title}",
                "requestBody": body,
                "responses": {
                    "200": {
                        "description": "The output",
                        "content": {"application/json": {"schema": output}},
                    },
                    "422": {"description": "Validation error"},
                },
            }
        }
    app.openapi_schema = schema
    return schema


def create_app(
    settings: Settings,
    store: JobStore,
    storage: FileStorage,
    routes: Mapping[str, Route] | None = None,
) -> FastAPI:
    """The HTTP API over the given parts. Workers are separate (see ``vidserve.worker``).

    ``routes`` say which engine serves each endpoint (``vidserve serve`` passes its workers');
    by default they are planned from the engines configuration in the environment, as the
    workers of a fleet read it."""
    app = FastAPI(
        title="vidserve",
        version=__version__,
        description="Self-hosted video generation with fal's Kling API: the same endpoint "
        "ids, schemas and queue protocol.",
    )
    # Processes on one store share its secret unless the operator sets one.
    secret = settings.secret or store.deployment_secret()
    if routes is None:
        routes = plan_routes(load_engines_config())
    app.state.ctx = ApiContext(replace(settings, secret=secret), store, storage, routes)
    app.state.keys = KeyCache(store)
    # Added last, runs first: fal host names and the proxy route become our paths, then
    # every answer gets a request id, then a store that is down is answered 503 at once,
    # then status polls are answered before routing.
    app.add_middleware(queue.StatusPolls)
    app.add_middleware(StoreGate)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(FalRoutingMiddleware, run_owners={eid.split("/", 1)[0] for eid in ENDPOINTS})
    # Every class named, so that none reaches the handler of ``Exception``, which Starlette
    # re-raises (a traceback per request while the database is down). psycopg's only if
    # loaded: SQLite servers never import it, and then no store call can raise its errors.
    handled: list[type[Exception]] = [
        InputError,
        RequestValidationError,
        NotFoundError,
        NotServedError,
        AuthError,
        RateLimitError,
        PayloadTooLargeError,
        StoreUnavailableError,
        sqlite3.OperationalError,
        OSError,
        Exception,
    ]
    if "psycopg" in sys.modules:
        handled.append(sys.modules["psycopg"].OperationalError)
    for cls in handled:
        app.add_exception_handler(cls, _refuse)
    app.include_router(meta.router)
    app.include_router(files.router)
    app.include_router(uploads.router)
    app.include_router(queue.router)
    app.include_router(run.router)
    app.include_router(webhooks.router)
    app.include_router(usage.router)
    app.include_router(playground.router)
    app.include_router(openai_videos.router)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
