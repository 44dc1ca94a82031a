"""Stored files at ``/files/<key>``, with HTTP Range so video players can seek.

A local folder is served from this process. Any other storage (an S3 bucket) answers with a
307 redirect to a fresh, short-lived URL of its own: the bytes never pass through the API,
and that URL answers Range requests itself. Result URLs therefore stay the same whichever
storage holds the files.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, RedirectResponse

from vidserve.api.wire import ApiContext, get_ctx
from vidserve.errors import NotFoundError
from vidserve.storage import LocalStorage

router = APIRouter(include_in_schema=False)


@router.api_route("/files/{key:path}", methods=["GET", "HEAD"])
def get_file(key: str, request: Request, ctx: Annotated[ApiContext, Depends(get_ctx)]) -> Response:
    """A stored file; Starlette's FileResponse answers Range requests with 206."""
    # A sync route: FastAPI runs it in a thread, so a storage's network calls block no one.
    return file_response(ctx, key, request.method)


def file_response(ctx: ApiContext, key: str, method: str = "GET") -> Response:
    """The stored file ``key``: its bytes (local storage) or a redirect to them."""
    target = ctx.storage.download_url(key, method)
    if target is not None:
        # The target expires, so the redirect itself must not be cached.
        return RedirectResponse(target, status_code=307, headers={"Cache-Control": "no-store"})
    if not isinstance(ctx.storage, LocalStorage):
        raise NotFoundError("files are not served by this process")
    path = ctx.storage.path(key)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    # Keys are unguessable and never rewritten, so clients may cache them for good.
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )
