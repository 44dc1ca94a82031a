"""Decoding input images and masks into arrays, typed by content, never by name: JPEG, PNG or
WebP, at most :data:`MAX_PIXELS`. The 10 MB limit on a file is the fetch's
(:mod:`vidserve.media.fetch`); Kling's rules on sizes and masks are the endpoint's
(:mod:`vidserve.endpoints.rules`), checked once every file is decoded.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from vidserve.engines.base import Image, Mask
from vidserve.errors import InputError

Loc = tuple[str | int, ...]

#: Formats Kling accepts (jpg/png) plus webp, which fal's own examples use.
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}
#: Largest image we decode, in pixels (about 8K x 8K).
MAX_PIXELS = 64_000_000


def _open(data: bytes, loc: Loc) -> PILImage.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            img = PILImage.open(io.BytesIO(data))
            if img.format not in ALLOWED_FORMATS:
                raise InputError.at(
                    loc,
                    f"unsupported image format {img.format}; use JPEG, PNG or WebP",
                    "image_load_error",
                )
            if img.width * img.height > MAX_PIXELS:
                raise InputError.at(
                    loc,
                    f"image has {img.width}x{img.height} pixels; the limit is {MAX_PIXELS:,}",
                    "image_too_large",
                )
            img.load()
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise InputError.at(loc, "image is too large to decode safely", "image_too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError.at(
            loc, "file is not a readable image (JPEG, PNG or WebP)", "image_load_error"
        ) from None
    # Respect the camera's orientation tag, as browsers do.
    return ImageOps.exif_transpose(img)


def decode_image(data: bytes, loc: Loc) -> Image:
    """An image as an RGB ``uint8`` array (alpha composited on black)."""
    img = _open(data, loc)
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        background = PILImage.new("RGBA", img.size, (0, 0, 0, 255))
        img = PILImage.alpha_composite(background, img)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def decode_mask(data: bytes, loc: Loc) -> Mask:
    """A single-channel ``uint8`` mask; 255 = inside. An alpha channel, when present and not
    fully opaque, is the mask (painters export transparent PNGs); otherwise the luminance."""
    img = _open(data, loc)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA"))[:, :, 3]
        if alpha.min() < 255:
            return alpha.astype(np.uint8).copy()
    return np.asarray(img.convert("L"), dtype=np.uint8).copy()
