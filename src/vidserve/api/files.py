"""Stored files at ``/files/<key>``, with HTTP Range so video players can seek."""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from vidserve.api.wire import ApiContext, get_ctx
from vidserve.errors import NotFoundError
from vidserve.storage import LocalStorage

router = APIRouter(include_in_schema=False)


@router.api_route("/files/{key:path}", methods=["GET", "HEAD"])
def get_file(key: str, ctx: Annotated[ApiContext, Depends(get_ctx)]) -> FileResponse:
    """A stored file; Starlette's FileResponse answers Range requests with 206."""
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
