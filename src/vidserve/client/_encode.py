"""Data URIs from bytes, files and images, for inputs that accept them (no upload)."""

from __future__ import annotations

import base64
import io
import mimetypes
import os
from typing import Any


def encode(data: str | bytes, content_type: str) -> str:
    """``data:<content_type>;base64,...``"""
    raw = data.encode() if isinstance(data, str) else data
    return f"data:{content_type};base64,{base64.b64encode(raw).decode()}"


def encode_file(path: str | os.PathLike[str]) -> str:
    """A data URI of a local file, typed by its name."""
    mime = mimetypes.guess_type(os.fspath(path))[0] or "application/octet-stream"
    with open(path, "rb") as f:
        return encode(f.read(), mime)


def encode_image(image: Any, format: str = "jpeg") -> str:  # noqa: A002 - fal_client's name
    """A data URI of a Pillow image."""
    with io.BytesIO() as buffer:
        image.save(buffer, format=format)
        return encode(buffer.getvalue(), f"image/{format}")
