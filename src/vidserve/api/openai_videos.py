"""OpenAI's Videos API, as the official ``openai`` SDK's ``client.videos`` calls it: create
(JSON or multipart), retrieve, list, delete, download the content, remix; and ``/v1/models``.

It runs on the same queue, keys (``Authorization: Bearer <key>``), engines and files as the
fal dialect. A video is a request of this dialect alone: its id (``video_<hex>``) is found by
no fal route, and fal's requests are found by none of these. Errors take OpenAI's shape
(:func:`error_response`), with the fal dialect's rules and messages. How ``model`` and the
create's fields map onto the catalog: :mod:`vidserve.api.openai_models`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.types import Message

from vidserve.api import openai_models as models
from vidserve.api.auth import Caller, CallerDep
from vidserve.api.errors import Refusal
from vidserve.api.files import file_response
from vidserve.api.submit import Submission, digest, earlier, idempotency_key, record
from vidserve.api.wire import (
    ApiContext,
    PayloadTooLargeError,
    base_url,
    get_ctx,
    read_json,
    route_path,
)
from vidserve.endpoints import ENDPOINTS
from vidserve.errors import InputError, NotFoundError
from vidserve.schema import ErrorType, Status
from vidserve.storage.base import THUMBNAIL_NAME, sibling_key
from vidserve.store import Dialect, Idempotency, Job

router = APIRouter(prefix="/v1", tags=["OpenAI videos"])
Ctx = Annotated[ApiContext, Depends(get_ctx)]

PREFIX = "/v1/"
ID_PREFIX = "video_"
#: What a retrieve of an unfinished video tells the SDK's poller to wait.
POLL_AFTER_MS = 500
MAX_LIST = 100
#: The create's own fields; any other is passed on to the fal input.
_CREATE_FIELDS = ("prompt", "model", "seconds", "size", "input_reference")
_STATUS = {Status.IN_QUEUE: "queued", Status.IN_PROGRESS: "in_progress"}


# -- errors ------------------------------------------------------------------------------


def speaks_openai(request: Request) -> bool:
    """Whether the request came to this dialect (its errors take OpenAI's shape)."""
    return route_path(request.scope).startswith(PREFIX)


def _param(loc: list[Any]) -> str | None:
    """The dialect's name for an error's location (``["body", "duration"]`` -> seconds)."""
    if len(loc) < 2:
        return None
    name = str(loc[1])
    return models.PARAMS.get(name, ".".join(str(p) for p in loc[1:]))


def _error(
    status: int, message: str, type_: str, code: str | None, param: str | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def error_response(refusal: Refusal) -> JSONResponse:
    """``refusal`` as OpenAI answers errors: ``{"error": {"message", "type", "param",
    "code"}}``; field errors are a 400 naming this dialect's parameter (the SDK's
    ``BadRequestError`` with ``.param``)."""
    if refusal.details is not None:
        details = refusal.details
        first = details[0] if details else {"loc": [], "type": "invalid_value"}
        message = "; ".join(
            f"{_param(list(d.get('loc', []))) or 'body'}: {d.get('msg')}" for d in details
        )
        code = str(first.get("type", "invalid_value"))
        return _error(400, message, "invalid_request_error", code, _param(list(first["loc"])))
    status = refusal.status
    kind = "requests" if status == 429 else "server_error" if status >= 500 else None
    code = {
        ErrorType.UNAUTHORIZED: "invalid_api_key",
        ErrorType.RATE_LIMITED: "rate_limit",
    }.get(refusal.error_type, refusal.error_type.value)
    param = "model" if refusal.error_type is ErrorType.NOT_SERVED else None
    response = _error(status, refusal.message, kind or "invalid_request_error", code, param)
    response.headers.update(
        {k: v for k, v in refusal.headers.items() if k.lower() != "www-authenticate"}
    )
    return response


# -- the video object -----------------------------------------------------------------


def video_body(job: Job) -> dict[str, Any]:
    """The request as OpenAI's ``Video`` object."""
    spec = ENDPOINTS[job.endpoint_id]
    inp = job.input
    if job.status.is_terminal:
        status, progress = ("failed", 0) if job.error is not None else ("completed", 100)
    else:
        status, progress = _STATUS[job.status], round(100 * (job.progress or 0.0))
    expires = None
    if job.completed_at is not None and job.output_lifetime is not None:
        expires = int(job.completed_at + job.output_lifetime)
    fields = job.dialect_fields
    return {
        "id": job.request_id,
        "object": "video",
        "model": fields.get("model", job.endpoint_id),
        "status": status,
        "progress": progress,
        "created_at": int(job.created_at),
        "completed_at": None if job.completed_at is None else int(job.completed_at),
        "expires_at": expires,
        "prompt": inp.get("prompt", inp.get("text")),
        "seconds": str(inp.get("duration", "")),
        "size": models.size_of(spec, inp, job.metrics, fields.get("size")),
        "remixed_from_video_id": fields.get("remixed_from_video_id"),
        "error": None
        if job.error is None
        else {"code": job.error_type or "error", "message": job.error},
    }


def _video(ctx: ApiContext, video_id: str, caller: Caller) -> Job:
    """The caller's video ``video_id`` (not deleted), or NotFoundError."""
    job = ctx.store.get(video_id) if video_id.startswith(ID_PREFIX) else None
    if (
        job is None
        or job.dialect is not Dialect.OPENAI
        or job.owner != caller.owner
        or job.deleted_at is not None
    ):
        raise NotFoundError(f"Video {video_id!r} not found")
    return job


def _answer(job: Job) -> JSONResponse:
    headers = {} if job.status.is_terminal else {"openai-poll-after-ms": str(POLL_AFTER_MS)}
    return JSONResponse(video_body(job), headers=headers)


# -- create ---------------------------------------------------------------------------


def _capped(request: Request, max_bytes: int) -> Request:
    """``request`` whose body may not pass ``max_bytes`` (413), however it is sent."""
    seen = 0

    async def receive() -> Message:
        nonlocal seen
        message = await request.receive()
        seen += len(message.get("body", b""))
        if seen > max_bytes:
            raise PayloadTooLargeError(f"Request body is larger than {max_bytes} bytes")
        return message

    return Request(request.scope, receive)


@dataclass(frozen=True)
class _Upload:
    """An ``input_reference`` sent as a file."""

    data: bytes
    content_type: str
    name: str


async def _create_fields(request: Request, ctx: ApiContext) -> dict[str, Any]:
    """A create's fields from JSON or multipart (``input_reference`` as a file there, read
    into an :class:`_Upload`, or as ``input_reference[image_url]``)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        data = await read_json(request, ctx.settings.max_body_bytes)
        if not isinstance(data, dict):
            raise models.bad("body", "The body must be a JSON object or multipart/form-data")
        return data
    fields: dict[str, Any] = {}
    capped = _capped(request, ctx.settings.max_body_bytes)
    async with capped.form(max_files=1, max_fields=64) as form:
        for name, value in form.multi_items():
            if name.startswith("input_reference["):
                reference = fields.setdefault("input_reference", {})
                if not isinstance(reference, dict):
                    raise models.bad("input_reference", "send one input_reference, not two")
                reference[name[16:].rstrip("]")] = value
            elif name in fields:
                raise models.bad(name, f"{name} is sent twice")
            elif isinstance(value, UploadFile):
                fields[name] = await _read_upload(ctx, name, value)
            else:
                fields[name] = value
    return fields


async def _read_upload(ctx: ApiContext, name: str, upload: UploadFile) -> _Upload:
    limit = ctx.settings.max_input_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise models.bad(name, f"{name} is larger than {limit} bytes", "file_too_large")
    content_type = upload.content_type or "application/octet-stream"
    return _Upload(data, content_type, upload.filename or name)


def _reference(value: Any) -> str | _Upload | None:
    """``input_reference``: a URL, an uploaded file, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str | _Upload):
        return value
    if isinstance(value, Mapping):
        if isinstance(value.get("image_url"), str):
            return str(value["image_url"])
        if "file_id" in value:
            raise models.bad(
                "input_reference",
                "file_id references are not served here: upload the file itself or send "
                "{'image_url': URL}",
                "unsupported_value",
            )
    raise models.bad(
        "input_reference", "input_reference must be a file, a URL or {'image_url': URL}"
    )


def _text(fields: dict[str, Any], name: str) -> str | None:
    """A create field that must be text (``seconds`` may be a number in JSON)."""
    value = fields.get(name)
    if value is None or isinstance(value, str):
        return value
    if name == "seconds" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise models.bad(name, f"{name} must be a string")


@router.post("/videos")
async def create_video(request: Request, ctx: Ctx, caller: CallerDep) -> JSONResponse:
    """Queue a video; answers the ``Video`` object (``queued``)."""
    key = idempotency_key(request)
    fields = await _create_fields(request, ctx)
    prompt = _text(fields, "prompt")
    if not prompt:
        raise models.bad("prompt", "prompt is required", "missing")
    model = _text(fields, "model") or models.DEFAULT_MODEL
    seconds, size = _text(fields, "seconds"), _text(fields, "size")
    reference = _reference(fields.get("input_reference"))
    spec = models.resolve(model, reference is not None)
    extras = {k: v for k, v in fields.items() if k not in _CREATE_FIELDS}
    sent = (
        hashlib.sha256(reference.data).hexdigest() if isinstance(reference, _Upload) else reference
    )
    submission = Submission(
        dialect=Dialect.OPENAI,
        dialect_fields={"model": model, **({"size": size} if size else {})},
        output_lifetime=ctx.settings.output_lifetime,
        idempotency=None
        if key is None
        else Idempotency(key, digest("openai", model, prompt, seconds, size, sent, extras)),
    )
    found = await earlier(ctx, caller, submission.idempotency)
    if found is not None:  # before the upload is stored again
        return _answer(found)
    duration = None if seconds is None else models.seconds_value(seconds)
    aspect = None if size is None else models.aspect_for(spec, size)
    stored, url = None, reference if isinstance(reference, str) else None
    if isinstance(reference, _Upload):
        stored = await run_in_threadpool(
            ctx.storage.put_bytes,
            reference.data,
            content_type=reference.content_type,
            file_name=reference.name,
        )
        url = ctx.storage.url(stored.key, base_url(request))
    data = models.fal_input(spec, prompt, url, duration, aspect, extras)
    request_id = ID_PREFIX + uuid.uuid4().hex
    try:
        job = await record(ctx, request, spec, data, caller, submission, request_id)
    except BaseException:
        if stored is not None:  # refused: keep no file for it
            await run_in_threadpool(ctx.storage.delete, stored.key)
        raise
    if stored is not None and job.request_id != request_id:  # another process's replay
        await run_in_threadpool(ctx.storage.delete, stored.key)
    return _answer(job)


# -- read, list, delete, download, remix ----------------------------------------------


@router.get("/videos/{video_id}")
def retrieve_video(video_id: str, ctx: Ctx, caller: CallerDep) -> JSONResponse:
    """The ``Video`` object; while unfinished, ``openai-poll-after-ms`` paces the poller."""
    return _answer(_video(ctx, video_id, caller))


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return 20
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIST:
        raise InputError.at(("query", "limit"), f"limit must be 1 to {MAX_LIST}", "invalid_value")
    return int(value)


@router.get("/videos")
def list_videos(request: Request, ctx: Ctx, caller: CallerDep) -> JSONResponse:
    """The caller's videos, newest first (``order=asc``: oldest), ``limit`` a page (at most
    100), after the video ``after``."""
    query = request.query_params
    limit = _limit(query.get("limit"))
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise InputError.at(("query", "order"), "order must be 'asc' or 'desc'", "invalid_value")
    jobs = ctx.store.list_requests(
        caller.owner,
        Dialect.OPENAI,
        after=query.get("after") or None,
        limit=limit + 1,
        newest_first=order == "desc",
    )
    page = [video_body(job) for job in jobs[:limit]]
    return JSONResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(jobs) > limit,
        }
    )


def _output_key(ctx: ApiContext, job: Job) -> str | None:
    """The storage key of the request's video (or audio), if it has one."""
    for value in (job.result or {}).values():
        if isinstance(value, dict) and isinstance(value.get("url"), str):
            key = ctx.storage.key_from_url(value["url"], [job.base_url])
            if key is not None:
                return key
    return None


@router.delete("/videos/{video_id}")
def delete_video(video_id: str, ctx: Ctx, caller: CallerDep) -> JSONResponse:
    """Delete a video and its files; one still queued or running is cancelled first."""
    job = _video(ctx, video_id, caller)
    if not job.status.is_terminal:
        ctx.store.cancel(video_id)
    ctx.store.delete(video_id)
    key = _output_key(ctx, job)
    if key is not None:
        ctx.storage.delete(key)
        ctx.storage.delete(sibling_key(key, THUMBNAIL_NAME))
    return JSONResponse({"id": video_id, "object": "video.deleted", "deleted": True})


@router.get("/videos/{video_id}/content")
@router.head("/videos/{video_id}/content", include_in_schema=False)
def video_content(video_id: str, request: Request, ctx: Ctx, caller: CallerDep) -> Response:
    """The MP4 (``variant=video``, the default) or a JPEG of its first frame
    (``variant=thumbnail``), with HTTP Range."""
    job = _video(ctx, video_id, caller)
    variant = request.query_params.get("variant") or "video"
    if variant not in ("video", "thumbnail"):
        raise InputError.at(
            ("query", "variant"),
            f"variant {variant!r} is not served here: 'video' or 'thumbnail'",
            "unsupported_value",
        )
    state = video_body(job)["status"]
    key = _output_key(ctx, job)
    if state != "completed" or key is None:
        raise NotFoundError(f"Video {video_id!r} has no content: it is {state}")
    if variant == "thumbnail":
        key = sibling_key(key, THUMBNAIL_NAME)
    return file_response(ctx, key, request.method)


@router.post("/videos/{video_id}/remix")
async def remix_video(video_id: str, request: Request, ctx: Ctx, caller: CallerDep) -> JSONResponse:
    """A new video from the same inputs with a new ``prompt``."""
    key = idempotency_key(request)
    source = await run_in_threadpool(_video, ctx, video_id, caller)
    body = await read_json(request, ctx.settings.max_body_bytes)
    prompt = body.get("prompt") if isinstance(body, dict) else None
    if not isinstance(prompt, str) or not prompt:
        raise models.bad("prompt", "prompt is required", "missing")
    spec = ENDPOINTS[source.endpoint_id]
    # The source's input as sent: values at their default are left to default again (a
    # default the engine cannot honour is a note, an explicit one a refusal).
    fields = spec.input_model.model_fields
    data = {
        name: value
        for name, value in source.input.items()
        if name not in fields or value != fields[name].get_default(call_default_factory=True)
    }
    data.pop("multi_prompt", None)  # a storyboard's prompts give way to the new one
    data["text" if "prompt" not in spec.input_model.model_fields else "prompt"] = prompt
    submission = Submission(
        dialect=Dialect.OPENAI,
        dialect_fields={**source.dialect_fields, "remixed_from_video_id": video_id},
        output_lifetime=ctx.settings.output_lifetime,
        idempotency=None
        if key is None
        else Idempotency(key, digest("openai-remix", video_id, prompt)),
    )
    request_id = ID_PREFIX + uuid.uuid4().hex
    found = await earlier(ctx, caller, submission.idempotency)
    return _answer(found or await record(ctx, request, spec, data, caller, submission, request_id))


# -- models ---------------------------------------------------------------------------


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "vidserve"}


@router.get("/models")
def list_models() -> JSONResponse:
    """Every ``model`` a create accepts: the aliases, then the catalog's endpoint ids."""
    return JSONResponse({"object": "list", "data": [_model(m) for m in models.model_ids()]})


@router.get("/models/{model_id:path}")
def retrieve_model(model_id: str) -> JSONResponse:
    if model_id not in models.model_ids():
        raise NotFoundError(f"Model {model_id!r} not found: GET /v1/models lists them")
    return JSONResponse(_model(model_id))
