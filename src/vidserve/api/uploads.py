"""The upload paths fal's official clients use, each ending as a file in storage.

- ``fal_client`` 1.0.3: ``POST /rest/storage/auth/token`` for a CDN token, then
  ``POST /cdn/files/upload`` with the bytes; above 100 MiB, ``POST /cdn/files/upload/multipart``,
  ``PUT {access_url}/multipart/{upload_id}/{n}`` (ETag header) and ``.../complete``. Its
  fallback, like ``@fal-ai/client``: ``POST /rest/storage/upload/initiate`` then a ``PUT`` of
  the bytes to the returned ``upload_url`` (no auth: the clients send none).
- ``@fal-ai/client`` above 90 MiB: ``POST /rest/storage/upload/initiate-multipart``, then
  ``PUT {upload_url}/{n}`` (JSON ``{partNumber, etag}``) and ``POST {upload_url}/complete``.

Upload URLs and upload ids are signed tokens naming the storage key, so any API process
that shares the secret can take the bytes. Bodies stream to disk under a size cap, then go
to storage; so do multipart uploads' parts, so any API process of a fleet can take the next
part or complete the upload.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from vidserve.api.auth import AuthError, Caller, CallerDep, grant_valid
from vidserve.api.signing import Signer
from vidserve.api.wire import ApiContext, PayloadTooLargeError, base_url, get_ctx, read_json
from vidserve.errors import InputError, NotFoundError
from vidserve.storage import StoredFile, safe_file_name
from vidserve.storage.base import MAX_PARTS, PARTS_LIFETIME, MissingPartError, new_key

router = APIRouter(include_in_schema=False)
Ctx = Annotated[ApiContext, Depends(get_ctx)]

UPLOAD_TTL = 3600.0
assert UPLOAD_TTL < PARTS_LIFETIME  # noqa: S101 - parts outlive the grants that made them
CDN_TOKEN_TTL = 3600.0
_UPLOAD = "upload"
_CDN = "cdn-token"


class UploadRequest(BaseModel):
    """Body of ``/rest/storage/upload/initiate``."""

    content_type: str = "application/octet-stream"
    file_name: str | None = None


def _signer(ctx: ApiContext) -> Signer:
    return Signer(ctx.settings.secret.encode())


def _grant(
    ctx: ApiContext, file_name: str | None, content_type: str, owner: str | None
) -> dict[str, Any]:
    """A signed promise: whoever holds it may write this one new key, while the API key that
    asked for it (``owner``) stands."""
    name = safe_file_name(file_name, "upload.bin")
    payload = {"key": new_key(name), "name": name, "type": content_type, "owner": owner}
    return {**payload, "token": _signer(ctx).sign(_UPLOAD, payload, UPLOAD_TTL)}


async def _still_granted(request: Request, payload: dict[str, Any]) -> None:
    """AuthError (401) once the key a grant was made for is revoked."""
    if not await run_in_threadpool(grant_valid, request.app.state.keys, payload.get("owner")):
        raise AuthError("The API key this upload was granted to is revoked")


async def _claim(request: Request, ctx: ApiContext, token: str) -> dict[str, Any]:
    payload = _signer(ctx).verify(_UPLOAD, token)
    if payload is None:
        raise NotFoundError("upload URL is unknown or expired")
    await _still_granted(request, payload)
    return payload


async def _cdn_owner(ctx: ApiContext, request: Request) -> str | None:
    """The key a CDN token was made for; InputError (422) without a valid token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    payload = _signer(ctx).verify(_CDN, token) if scheme.lower() == "bearer" else None
    if payload is None:
        raise InputError.at(
            ("header", "authorization"),
            "a CDN upload needs 'Bearer <token>' from /rest/storage/auth/token",
            "missing_token",
        )
    await _still_granted(request, payload)
    owner: str | None = payload.get("owner")
    return owner


async def _spool(request: Request, ctx: ApiContext, directory: Path) -> Path:
    """Stream the body into a file in ``directory``, enforcing the upload cap."""
    directory.mkdir(parents=True, exist_ok=True)
    cap = ctx.settings.max_upload_bytes
    size = 0
    with tempfile.NamedTemporaryFile(dir=directory, delete=False, suffix=".part") as tmp:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > cap:
                    raise PayloadTooLargeError(f"Upload is larger than {cap} bytes")
                tmp.write(chunk)
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    return Path(tmp.name)


async def _store_body(
    request: Request, ctx: ApiContext, key: str, name: str, content_type: str
) -> StoredFile:
    spooled = await _spool(request, ctx, ctx.settings.uploads_dir)
    try:
        return await run_in_threadpool(
            ctx.storage.put_file, spooled, content_type=content_type, file_name=name, key=key
        )
    finally:
        spooled.unlink(missing_ok=True)


# --- fal_client: CDN token + direct upload ------------------------------------------------------


@router.post("/rest/storage/auth/token")
def cdn_token(request: Request, ctx: Ctx, caller: CallerDep) -> dict[str, str]:
    """A short-lived token for ``/cdn/files/upload`` (fal_client caches it until expiry)."""
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=CDN_TOKEN_TTL - 60)
    return {
        "token": _signer(ctx).sign(_CDN, {"owner": caller.owner}, CDN_TOKEN_TTL),
        "token_type": "Bearer",
        "base_url": f"{base_url(request)}/cdn",
        "expires_at": expires.isoformat(),
    }


@router.post("/cdn/files/upload")
async def cdn_upload(request: Request, ctx: Ctx) -> dict[str, str]:
    """Store the body; answer with its public URL."""
    owner = await _cdn_owner(ctx, request)
    content_type = request.headers.get("content-type", "application/octet-stream")
    grant = _grant(ctx, request.headers.get("x-fal-file-name"), content_type, owner)
    stored = await _store_body(request, ctx, grant["key"], grant["name"], content_type)
    return {"access_url": ctx.storage.url(stored.key, base_url(request))}


@router.post("/cdn/files/upload/multipart")
async def cdn_multipart_create(request: Request, ctx: Ctx) -> dict[str, str]:
    """Start a multipart upload; parts go to ``{access_url}/multipart/{uploadId}/{n}``."""
    owner = await _cdn_owner(ctx, request)
    content_type = request.headers.get("content-type", "application/octet-stream")
    grant = _grant(ctx, request.headers.get("x-fal-file-name"), content_type, owner)
    return {
        "access_url": ctx.storage.url(grant["key"], base_url(request)),
        "uploadId": grant["token"],
    }


@router.put("/files/{key:path}/multipart/{upload_id}/{part}")
async def cdn_multipart_part(
    key: str, upload_id: str, part: int, request: Request, ctx: Ctx
) -> JSONResponse:
    await _cdn_owner(ctx, request)
    grant = await _claim(request, ctx, upload_id)
    if grant["key"] != key:
        raise NotFoundError("upload id does not belong to this file")
    etag = await _save_part(request, ctx, upload_id, part)
    return JSONResponse({"partNumber": part, "etag": etag}, headers={"ETag": etag})


@router.post("/files/{key:path}/multipart/{upload_id}/complete")
async def cdn_multipart_complete(
    key: str, upload_id: str, request: Request, ctx: Ctx
) -> dict[str, str]:
    await _cdn_owner(ctx, request)
    grant = await _claim(request, ctx, upload_id)
    if grant["key"] != key:
        raise NotFoundError("upload id does not belong to this file")
    await _assemble(request, ctx, upload_id, grant)
    return {"access_url": ctx.storage.url(key, base_url(request))}


# --- initiate + PUT (both clients) --------------------------------------------------------------


async def _initiate(request: Request, ctx: Ctx, caller: Caller) -> dict[str, str]:
    data = await read_json(request, 64 * 1024)
    try:
        body = UploadRequest.model_validate(data)
    except ValueError as exc:
        raise InputError.at(("body",), str(exc)) from None
    grant = _grant(ctx, body.file_name, body.content_type, caller.owner)
    base = base_url(request)
    return {
        "upload_url": f"{base}/files/upload/{grant['token']}",
        "file_url": ctx.storage.url(grant["key"], base),
    }


@router.post("/rest/storage/upload/initiate")
async def initiate(request: Request, ctx: Ctx, caller: CallerDep) -> dict[str, str]:
    """An upload URL to PUT the bytes to (no auth needed), and the file's future URL."""
    return await _initiate(request, ctx, caller)


@router.post("/rest/storage/upload/initiate-multipart")
async def initiate_multipart(request: Request, ctx: Ctx, caller: CallerDep) -> dict[str, str]:
    """As ``initiate``; parts go to ``{upload_url}/{n}``, then ``{upload_url}/complete``."""
    return await _initiate(request, ctx, caller)


@router.put("/files/upload/{token}")
async def put_upload(token: str, request: Request, ctx: Ctx) -> dict[str, str]:
    grant = await _claim(request, ctx, token)
    content_type = request.headers.get("content-type") or grant["type"]
    stored = await _store_body(request, ctx, grant["key"], grant["name"], content_type)
    return {"file_url": ctx.storage.url(stored.key, base_url(request))}


@router.put("/files/upload/{token}/{part}")
async def put_upload_part(token: str, part: int, request: Request, ctx: Ctx) -> JSONResponse:
    await _claim(request, ctx, token)
    etag = await _save_part(request, ctx, token, part)
    return JSONResponse({"partNumber": part, "etag": etag}, headers={"ETag": etag})


@router.post("/files/upload/{token}/complete")
async def complete_upload(token: str, request: Request, ctx: Ctx) -> dict[str, str]:
    grant = await _claim(request, ctx, token)
    await _assemble(request, ctx, token, grant)
    return {"file_url": ctx.storage.url(grant["key"], base_url(request))}


# --- multipart parts ----------------------------------------------------------------------------


def _upload_name(upload_id: str) -> str:
    """The storage's name of an upload: a digest of its (long, signed) id."""
    return hashlib.sha256(upload_id.encode()).hexdigest()[:32]


async def _save_part(request: Request, ctx: ApiContext, upload_id: str, part: int) -> str:
    """Keep the body as a part, in storage (any API process may get the next part or the
    completion); its ETag is the MD5 of its bytes, as S3's."""
    if not 1 <= part <= MAX_PARTS:
        raise InputError.at(("path", "part"), f"part numbers run from 1 to {MAX_PARTS}")
    spooled = await _spool(request, ctx, ctx.settings.uploads_dir)
    try:
        digest = await run_in_threadpool(_md5_of, spooled)
        await run_in_threadpool(ctx.storage.put_part, _upload_name(upload_id), part, spooled)
    finally:
        spooled.unlink(missing_ok=True)
    return f'"{digest}"'


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as body:
        while chunk := body.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


async def _assemble(
    request: Request, ctx: ApiContext, upload_id: str, grant: dict[str, Any]
) -> None:
    """Join the parts the client lists, in its order, into the promised key."""
    body = await read_json(request, 1024 * 1024)
    parts = body.get("parts") if isinstance(body, dict) else None
    if not isinstance(parts, list) or not parts:
        raise InputError.at(("body", "parts"), "list the uploaded parts to complete")
    numbers = []
    for i, item in enumerate(parts):
        number = item.get("partNumber") if isinstance(item, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_PARTS:
            raise InputError.at(
                ("body", "parts", i, "partNumber"), f"a part number from 1 to {MAX_PARTS}"
            )
        numbers.append(number)
    try:
        await run_in_threadpool(
            ctx.storage.join_parts,
            _upload_name(upload_id),
            numbers,
            key=grant["key"],
            content_type=grant["type"],
            file_name=grant["name"],
        )
    except MissingPartError as exc:
        raise InputError.at(
            ("body", "parts", numbers.index(exc.number)), f"part {exc.number} was not uploaded"
        ) from None
