"""Shapes on the wire: status bodies, URLs, error responses and body parsing.

A failed request's status code comes from :data:`vidserve.schema.HTTP_STATUS`, as does
that of every call the API refuses (:mod:`vidserve.api.errors`).
"""

from __future__ import annotations

import codecs
import json
import secrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anyio
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.types import Scope

from vidserve.api.reads import StatusReader, StoreHealth
from vidserve.config import Settings
from vidserve.endpoints import ENDPOINTS, EndpointSpec, app_id
from vidserve.errors import InputError, NotFoundError
from vidserve.schema import ErrorType, LogEntry, Status, StatusBody
from vidserve.serving import Route
from vidserve.storage import FileStorage
from vidserve.store import Dialect, Job, JobStore, LogRecord, StatusView
from vidserve.webhooks.body import failure_payload, failure_status_code

REQUEST_ID_HEADER = "X-Fal-Request-Id"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

# Limits on a JSON body beside its size (``max_body_bytes``), all but the depth checked as
# the body arrives (:class:`_JsonScan`): a body over one is refused before the rest of it is
# read and before anything parses it (1.5 million keys once took 17 s to parse and validate,
# and the API answered nothing else meanwhile).

#: Deepest JSON accepted: every schema here nests 4 levels at most.
MAX_JSON_DEPTH = 32
#: Object members in all, at any depth, by default: a multipart upload's completion lists up
#: to 10,000 parts of two members each.
MAX_JSON_KEYS = 25_000
#: Object members in an endpoint's input: the largest needs about 950 (6 dynamic masks of
#: 77 trajectory points), every other a few dozen.
MAX_INPUT_KEYS = 2_000
#: Array items and object members in all (the commas between them).
MAX_JSON_ITEMS = 50_000
#: One string other than a data URI, in bytes as sent (escapes included): prompts are at
#: most 2,500 characters, URLs a few kB.
MAX_JSON_STRING = 64 * 1024
#: The body outside its data URIs, in bytes: the most json.loads parses in one call.
MAX_JSON_TEXT = 1024 * 1024
#: Data URIs longer than this are cut out of the text before it is parsed and decoded on
#: their own, as the UTF-8 they are (json.loads reads a string character by character,
#: holding the GIL: a quarter of a second for 60 MB); each is checked later against its
#: field's file limit (:func:`vidserve.api.submit.data_uri_errors`).
LIFT_BYTES = 4096
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
    #: Whether the store answers: 503 at once while it does not (:mod:`vidserve.api.reads`).
    health: StoreHealth = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reader", StatusReader(self.store))
        object.__setattr__(self, "health", StoreHealth(self.store))

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


def status_body(view: StatusView, base: str) -> StatusBody:
    """A status object as fal's clients parse it; ``logs`` is None when not asked for."""
    urls = request_urls(base, view.endpoint_id, view.request_id)
    body: StatusBody = {
        "status": view.status.value,
        "request_id": view.request_id,
        "response_url": urls["response_url"],
        "status_url": urls["status_url"],
        "cancel_url": urls["cancel_url"],
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
            body["error_type"] = view.error_type or ErrorType.ENGINE.value
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


async def read_json(request: Request, max_bytes: int, max_keys: int = MAX_JSON_KEYS) -> Any:
    """The JSON body, read with a size cap (413 over it) and checked against the limits above
    as it arrives (422 at the first one crossed, before the rest is read); InputError (422)
    when it is not JSON. The parse runs on a worker thread, with the body's data URIs cut out
    and decoded on their own: no call holds the event loop (or the GIL) for long."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLargeError(f"Request body is larger than {max_bytes} bytes")
    body = bytearray()
    scan = _JsonScan(max_keys)
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLargeError(f"Request body is larger than {max_bytes} bytes")
        scan.feed(body)
        await anyio.sleep(0)  # other requests' turn between chunks, however they come
    if not body or body.isspace():
        return {}
    return await run_in_threadpool(_parse, body, scan.lifted)


def _too_much(message: str, kind: str) -> InputError:
    return InputError.at(("body",), message, kind)


class _JsonScan:
    """What a JSON body holds, counted as it arrives without parsing it: object members
    (the colons outside strings), array items and members (the commas), the length of each
    string and of the text outside data URIs. ``feed`` after each chunk looks at the bytes
    not seen yet, jumping from quote to quote (C speed), and raises InputError at the first
    limit crossed; the strings it finds are at most :data:`MAX_JSON_ITEMS` +
    ``max_keys``, so its Python-level steps are bounded too. ``lifted``: where the data
    URIs longer than :data:`LIFT_BYTES` are (their quotes included)."""

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.pos = 0  # the first byte not looked at
        self.open = -1  # where the string being read opened (its quote); -1 outside strings
        self.slashes = 0  # backslashes that end what was looked at of the open string
        self.keys = 0
        self.items = 0
        self.strings = 0
        self.lifted: list[tuple[int, int]] = []
        self.lifted_bytes = 0

    def feed(self, buf: bytearray) -> None:
        end, pos = len(buf), self.pos
        while pos < end:
            if self.open < 0:
                quote = buf.find(b'"', pos)
                stop = end if quote < 0 else quote
                self.keys += buf.count(b":", pos, stop)
                self.items += buf.count(b",", pos, stop)
                self._check_counts()
                if quote < 0:
                    pos = end
                    break
                self.open, self.slashes, pos = quote, 0, quote + 1
                continue
            quote = buf.find(b'"', pos)
            if quote < 0:
                self.slashes = _slashes_before(buf, pos, end, self.slashes)
                pos = end
                break
            escaped = _slashes_before(buf, pos, quote, self.slashes) % 2 == 1
            pos = quote + 1
            if not escaped:
                self._close(buf, pos)
                continue
            if self._data_uri(buf):
                raise _too_much("A data URI in the body holds a '\"'", "json_invalid")
            self.slashes = 0
            self._check_open(buf, pos)
        self.pos = pos
        self._check_open(buf, end)

    def _data_uri(self, buf: bytearray) -> bool:
        return buf.startswith(b'"data:', self.open)

    def _check_counts(self) -> None:
        if self.keys > self.max_keys:
            raise _too_much(
                f"JSON body has more than {self.max_keys} object members", "json_too_many_keys"
            )
        if self.items > MAX_JSON_ITEMS:
            raise _too_much(
                f"JSON body has more than {MAX_JSON_ITEMS} array items and object members",
                "json_too_many_items",
            )

    def _check_open(self, buf: bytearray, end: int) -> None:
        """The open string (if any) is not already too long, nor the text so far."""
        outside = end - self.lifted_bytes
        if self.open >= 0:
            if not self._data_uri(buf):
                self._check_string(end - self.open - 1)
            else:
                outside = self.open - self.lifted_bytes
        self._check_text(outside)

    @staticmethod
    def _check_text(outside: int) -> None:
        if outside > MAX_JSON_TEXT:
            raise _too_much(
                f"JSON body is larger than {MAX_JSON_TEXT} bytes outside its data URIs",
                "json_too_large",
            )

    @staticmethod
    def _check_string(length: int) -> None:
        if length > MAX_JSON_STRING:
            raise _too_much(
                f"A JSON string in the body is longer than {MAX_JSON_STRING} bytes (only "
                "data URIs may be longer)",
                "json_string_too_long",
            )

    def _close(self, buf: bytearray, stop: int) -> None:
        """The open string ends just before ``stop``."""
        length = stop - self.open
        if self._data_uri(buf):
            if length > LIFT_BYTES:
                self.lifted.append((self.open, stop))
                self.lifted_bytes += length
        else:
            self._check_string(length - 2)
            self._check_text(stop - self.lifted_bytes)
        self.open = -1
        # Valid JSON has a separator between any two strings: more strings than that is no
        # JSON, and would cost a step each.
        self.strings += 1
        if self.strings > self.keys + self.items + 1:
            self.items = self.strings
            self._check_counts()


def _slashes_before(buf: bytearray, lo: int, hi: int, carried: int) -> int:
    """How many backslashes end ``buf[:hi]``, counting back no further than ``lo``, where
    ``carried`` more end what comes before (copying only the run, once)."""
    if hi <= lo:
        return carried
    if buf[hi - 1] != 0x5C:
        return 0
    run = hi - lo - len(buf[lo:hi].rstrip(b"\\"))
    return run + carried if run == hi - lo else run


def _parse(body: bytearray, lifted: list[tuple[int, int]]) -> Any:
    """``body`` parsed: its ``lifted`` strings (data URIs, see :class:`_JsonScan`) replaced
    by placeholders that no body can hold, the rest parsed by json.loads, then each lifted
    string decoded as the UTF-8 it is and put back in its placeholder's place."""
    token = secrets.token_hex(8)
    names: dict[str, tuple[int, int]] = {}
    widths: list[int] = []
    parts: list[bytes | bytearray] = []
    last = 0
    for i, (start, stop) in enumerate(lifted):
        name = f"\0{token}:{i}"
        names[name] = (start, stop)
        placeholder = json.dumps(name).encode()
        widths.append(len(placeholder))
        parts += (body[last:start], placeholder)
        last = stop
    text = b"".join([*parts, body[last:]]) if lifted else body
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        at = _body_pos(exc.pos, lifted, widths)
        raise InputError.at(("body", at), f"JSON decode error: {exc.msg}", "json_invalid") from None
    except (RecursionError, UnicodeDecodeError):
        raise InputError.at(
            ("body",), "JSON body is nested too deeply or not UTF-8", "json_invalid"
        ) from None
    strings = {name: _lifted_string(body, *span) for name, span in names.items()}
    if isinstance(data, str):
        data = strings.get(data, data)
    if _restore(data, strings) > MAX_JSON_DEPTH:
        raise InputError.at(
            ("body",), f"JSON body is nested deeper than {MAX_JSON_DEPTH} levels", "json_depth"
        )
    return data


def _body_pos(pos: int, lifted: list[tuple[int, int]], widths: list[int]) -> int:
    """Where in the body a position in its parsed text (placeholders for ``lifted``) is."""
    shift = 0
    for (start, stop), width in zip(lifted, widths, strict=True):
        begin = start - shift  # where the placeholder is in the text
        if pos < begin:
            break
        if pos < begin + width:
            return start
        shift += stop - start - width
    return pos + shift


#: Bytes a JSON string may not hold as they are.
_CONTROL = bytes(range(0x20))
#: What one step of a lifted string's check covers (the GIL is free between steps).
_STEP = 1 << 20


def _lifted_string(body: bytearray, start: int, stop: int) -> str:
    """The JSON string ``body[start:stop]`` (quotes included), decoded in steps."""
    if body.find(b"\\", start + 1, stop - 1) >= 0:
        value: str = json.loads(body[start:stop])  # escapes: rare in a data URI
        return value
    inner = memoryview(body)[start + 1 : stop - 1]
    decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
    pieces: list[str] = []
    try:
        for at in range(0, len(inner), _STEP):
            piece = inner[at : at + _STEP].tobytes()
            if len(piece.translate(None, _CONTROL)) != len(piece):
                raise InputError.at(
                    ("body",),
                    "JSON decode error: a control character in a data URI",
                    "json_invalid",
                )
            pieces.append(decoder.decode(piece))
        pieces.append(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        raise InputError.at(("body",), "JSON body is not UTF-8", "json_invalid") from None
    return "".join(pieces)


def _restore(data: Any, strings: dict[str, str]) -> int:
    """Put the lifted ``strings`` back in place of their placeholders in ``data`` (keys
    too); returns how deeply its lists and objects nest (iteratively: no recursion to
    exhaust)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            if strings and not strings.keys().isdisjoint(item):
                pairs = list(item.items())
                item.clear()
                item.update((strings.get(k, k), v) for k, v in pairs)
            entries: Any = item.items()
        elif isinstance(item, list):
            entries = enumerate(item)
        else:
            continue
        deepest = max(deepest, level)
        for key, child in entries:
            if isinstance(child, dict | list):
                stack.append((child, level + 1))
            elif strings and isinstance(child, str) and child in strings:
                item[key] = strings[child]
    return deepest
