"""Shapes on the wire: status bodies, URLs, error responses and body parsing.

This is the only module that maps vidserve's errors to HTTP status codes.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import Scope

from vidserve.api.reads import StatusReader
from vidserve.config import Settings
from vidserve.endpoints import ENDPOINTS, EndpointSpec, app_id
from vidserve.errors import InputError, NotFoundError
from vidserve.schema import ErrorType, LogEntry, Status
from vidserve.serving import Route
from vidserve.storage import FileStorage
from vidserve.store import Dialect, Job, JobStore, LogRecord, StatusView
from vidserve.webhooks.body import failure_payload, failure_status_code

REQUEST_ID_HEADER = "X-Fal-Request-Id"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
#: Deepest JSON accepted: every schema here nests 4 levels at most.
MAX_JSON_DEPTH = 32
ERROR_TYPE_HEADER = "X-Fal-Error-Type"


class _Owned(Protocol):
    """A request or its status: whose it is, and of which endpoint."""

    @property
    def endpoint_id(self) -> str: ...
    @property
    def owner(self) -> str | None: ...
    @property
    def dialect(self) -> Dialect: ...


R = TypeVar("R", bound=_Owned)


class PayloadTooLargeError(Exception):
    """The request body is over the limit (413)."""


def visible(found: R | None, app_path: str, request_id: str, owner: str | None) -> R:
    """``found`` (a request or its status) if it exists, was made through fal's queue,
    belongs to ``app_path`` (owner/alias or the full endpoint id) and was submitted by
    ``owner`` (the caller's key); NotFoundError otherwise, so another key cannot even learn
    that it exists (requests of OpenAI's dialect are that dialect's alone)."""
    if (
        found is None
        or found.dialect is not Dialect.FAL
        or found.owner != owner
        or app_path.strip("/") not in (found.endpoint_id, app_id(found.endpoint_id))
    ):
        raise NotFoundError(f"Request {request_id} not found")
    return found


@dataclass(frozen=True)
class ApiContext:
    """The parts every route uses; one per app, kept on ``app.state.ctx``."""

    settings: Settings
    store: JobStore
    storage: FileStorage
    #: How each catalog endpoint is served (:mod:`vidserve.serving`).
    routes: Mapping[str, Route]
    #: Status polls' and streams' reads, gathered (see :mod:`vidserve.api.reads`).
    reader: StatusReader = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reader", StatusReader(self.store))

    def job(self, app_path: str, request_id: str, owner: str | None) -> Job:
        """The request, if ``owner`` may see it under ``app_path`` (see :func:`visible`)."""
        return visible(self.store.get(request_id), app_path, request_id, owner)


async def get_ctx(request: Request) -> ApiContext:
    """The app's parts. ``async`` so FastAPI calls it on the event loop: a sync dependency
    costs a threadpool hop on every request."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


def base_url(request: Request) -> str:
    """The address the client used, so URLs we return are reachable the same way."""
    return base_url_of(request.scope)


def base_url_of(scope: Scope) -> str:
    """:func:`base_url` from the ASGI scope, as Starlette's ``request.base_url`` builds it
    (the Host header, else the server's address; the root path) without building a URL."""
    scheme = scope.get("scheme", "http")
    host = scope_header(scope, b"host")
    if host is None and scope.get("server"):
        name, port = scope["server"]
        host = name if port == _DEFAULT_PORTS.get(scheme) else f"{name}:{port}"
    root = scope.get("app_root_path", scope.get("root_path", ""))
    return f"{scheme}://{host or ''}{root}".rstrip("/")


def route_path(scope: Scope) -> str:
    """The path the app routes on: the scope's path less the root path it is mounted at,
    as Starlette's router takes it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def scope_header(scope: Scope, name: bytes) -> str | None:
    """The first ``name`` header of an ASGI scope (``name`` in lower case, as ASGI servers
    give them)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def query_param(scope: Scope, name: str) -> str | None:
    """A query parameter of an ASGI scope (the last, if repeated, as Starlette's)."""
    query = scope.get("query_string", b"")
    if not query:
        return None
    found = None
    for key, value in urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if key == name:
            found = value
    return found


def spec_for(endpoint_id: str) -> EndpointSpec:
    spec = ENDPOINTS.get(endpoint_id.strip("/"))
    if spec is None:
        served = ", ".join(sorted(ENDPOINTS))
        raise NotFoundError(f"Endpoint {endpoint_id!r} is not served here. Served: {served}")
    return spec


def request_urls(base: str, endpoint_id: str, request_id: str) -> dict[str, str]:
    root = f"{base}/queue/{app_id(endpoint_id)}/requests/{request_id}"
    return {"response_url": root, "status_url": f"{root}/status", "cancel_url": f"{root}/cancel"}


def log_entries(records: list[LogRecord]) -> list[dict[str, Any]]:
    return [
        LogEntry(message=r.message, level=r.level, timestamp=LogEntry.iso(r.timestamp)).model_dump(
            mode="json"
        )
        for r in records
    ]


def status_body(view: StatusView, base: str) -> dict[str, Any]:
    """A status object as fal's clients parse it; ``logs`` is None when not asked for."""
    body: dict[str, Any] = {
        "status": view.status.value,
        "request_id": view.request_id,
        **request_urls(base, view.endpoint_id, view.request_id),
        "logs": None if view.logs is None else log_entries(view.logs),
    }
    if view.status is Status.IN_QUEUE:
        body["queue_position"] = view.position or 0
    elif view.status is Status.IN_PROGRESS:
        body["progress"] = view.progress or 0.0
    else:
        body["metrics"] = {"inference_time": view.inference_time}
        if view.error is not None:
            body["error"] = view.error
            body["error_type"] = view.error_type
    return body


def status_code_for(status: Status) -> int:
    """fal answers 202 while a request is pending and 200 once it completed."""
    return 200 if status.is_terminal else 202


def error_response(job: Job) -> JSONResponse:
    """The result call's answer for a request that completed with an error: the same body
    and status its webhook carries (:mod:`vidserve.webhooks.body`)."""
    body = failure_payload(job)
    headers = {REQUEST_ID_HEADER: job.request_id, ERROR_TYPE_HEADER: body["error_type"]}
    if body["error_type"] == ErrorType.REQUEST_TIMEOUT:
        # fal's marker of a start timeout the caller asked for: clients do not retry it.
        headers["X-Fal-Request-Timeout-Type"] = "user"
    return JSONResponse(body, status_code=failure_status_code(job), headers=headers)


def parse_bool(value: str | None, name: str) -> bool:
    """Query flags as both clients send them: Python ``true/false``, JS ``1/0``."""
    if value is None or value == "":
        return False
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise InputError.at(
        ("query", name), "Input should be a valid boolean (true/false/1/0)", "bool_parsing"
    )


async def read_json(request: Request, max_bytes: int) -> Any:
    """The JSON body, read with a size cap; InputError (422) when it is not JSON."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLargeError(f"Request body is larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLargeError(f"Request body is larger than {max_bytes} bytes")
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InputError.at(
            ("body", exc.pos), f"JSON decode error: {exc.msg}", "json_invalid"
        ) from None
    except (RecursionError, UnicodeDecodeError):
        raise InputError.at(
            ("body",), "JSON body is nested too deeply or not UTF-8", "json_invalid"
        ) from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise InputError.at(
            ("body",), f"JSON body is nested deeper than {MAX_JSON_DEPTH} levels", "json_depth"
        )
    return data


def _depth(value: Any) -> int:
    """How deeply ``value``'s lists and objects nest (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend(
                (child, level + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest
