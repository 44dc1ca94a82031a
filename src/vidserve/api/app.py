"""``create_app(settings, store, storage)``: the FastAPI app, with no globals."""

from __future__ import annotations

import logging
import sqlite3
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
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
from vidserve.api.reads import (
    RETRY_AFTER,
    Failure,
    Outage,
    StoreHealth,
    StoreUnavailableError,
)
from vidserve.api.routing import FalRoutingMiddleware
from vidserve.api.wire import ERROR_TYPE_HEADER, ApiContext, PayloadTooLargeError, route_path
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


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _in_dialect(fal: Handler) -> Handler:
    """``fal``'s answer, or OpenAI's shape of it for a request to ``/v1/``."""

    async def handle(request: Request, exc: Exception) -> Response:
        if openai_videos.speaks_openai(request):
            return openai_videos.error_response(exc)
        return await fal(request, exc)

    return handle


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputError)  # noqa: S101 - registered for InputError only
    return JSONResponse({"detail": exc.details}, status_code=422)


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    return await request_validation_exception_handler(request, exc)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _not_served(request: Request, exc: Exception) -> JSONResponse:
    # A 4xx: the request cannot succeed here as sent (no 5xx for what is not a fault; fal's
    # clients retry none of 400), and not 404: the endpoint exists, elsewhere it is served.
    return JSONResponse(
        {"detail": str(exc), "error_type": "endpoint_not_served"},
        status_code=400,
        headers={ERROR_TYPE_HEADER: "endpoint_not_served"},
    )


async def _unauthorized(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Key"})


async def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimitError)  # noqa: S101 - registered for it only
    return JSONResponse(
        {"detail": f"{exc}; retry in {exc.retry_after} s"},
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=413)


def failure_response(request: Request, failure: Failure, detail: str) -> JSONResponse:
    """The answer to a request the store or storage failed (503 with ``Retry-After``, or
    507 for a full disk), in the request's dialect; ``detail`` names no host and no path."""
    status = 507 if failure is Failure.FULL else 503
    code = failure.value if failure is not Failure.BUSY else Failure.DOWN.value
    headers = {ERROR_TYPE_HEADER: code}
    if status == 503:
        headers |= {"Retry-After": str(RETRY_AFTER), "X-Fal-Retryable": "true"}
    if openai_videos.speaks_openai(request):
        error = {"message": detail, "type": "server_error", "param": None, "code": code}
        return JSONResponse({"error": error}, status_code=status, headers=headers)
    return JSONResponse({"detail": detail, "error_type": code}, status_code=status, headers=headers)


def unavailable_detail(outage: Outage) -> str:
    return f"The job store is unavailable ({outage.reason}); retry shortly"


_FULL_DETAIL = "The server's disk is full: nothing more can be stored until space is freed"
_BUSY_DETAIL = "The job store is busy; retry shortly"


async def _store_failed(request: Request, exc: Exception) -> Response:
    """A store error (or a full disk): 503 or 507, never a traceback; other OS errors 500."""
    health: StoreHealth = request.app.state.ctx.health
    failure = health.note(exc)
    if failure is None:
        return await _in_dialect(_unexpected)(request, exc)
    if failure is Failure.FULL:
        logger.warning("%s %s: no space left (%s)", request.method, request.url.path, _kind(exc))
        return failure_response(request, failure, _FULL_DETAIL)
    if failure is Failure.BUSY:
        logger.warning("%s %s: store busy (%s)", request.method, request.url.path, _kind(exc))
        return failure_response(request, failure, _BUSY_DETAIL)
    outage = health.down or Outage(0.0, "the database does not answer")
    return failure_response(request, failure, unavailable_detail(outage))


def _kind(exc: Exception) -> str:
    """An error's type and SQLSTATE or errno, for a log line (its message may be long)."""
    code = getattr(exc, "sqlstate", None) or getattr(exc, "errno", None)
    return type(exc).__name__ + (f" {code}" if code else "")


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
                response = failure_response(
                    Request(scope), Failure.DOWN, unavailable_detail(outage)
                )
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
    for cls, handler in (
        (InputError, _input_error),
        (RequestValidationError, _request_invalid),
        (NotFoundError, _not_found),
        (NotServedError, _not_served),
        (AuthError, _unauthorized),
        (RateLimitError, _rate_limited),
        (PayloadTooLargeError, _too_large),
        (Exception, _unexpected),
    ):
        app.add_exception_handler(cls, _in_dialect(handler))
    # Store errors and full disks answer 503/507 in either dialect, and are not re-raised
    # (a handler for ``Exception`` is: the server would log a traceback per request while
    # the database is down). psycopg is registered only if loaded: SQLite servers never
    # import it, and then no store call can raise its errors.
    failures: list[type[Exception]] = [StoreUnavailableError, sqlite3.OperationalError, OSError]
    if "psycopg" in sys.modules:
        failures.append(sys.modules["psycopg"].OperationalError)
    for cls in failures:
        app.add_exception_handler(cls, _store_failed)
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
