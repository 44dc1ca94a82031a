"""Decoding input images and masks into arrays, typed by content, never by name, and
Kling's rules on them (``reference/kling-controls.md`` 1.3 and 1.4): a start or end image is
JPEG, PNG or WebP, at least 300 px on each side, with a width/height ratio in [0.4, 2.5];
masks have the start image's aspect ratio and one resolution among them. The 10 MB limit on
a file is the fetch's (:mod:`vidserve.media.fetch`).
"""

from __future__ import annotations

import io
import warnings
from collections import Counter
from collections.abc import Mapping
from typing import Any

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
#: Kling's smallest input image side, in pixels.
MIN_SIDE = 300
#: Kling's aspect ratio range for input images (width / height): 1:2.5 to 2.5:1.
MIN_ASPECT, MAX_ASPECT = 0.4, 2.5
#: How far (relative) a mask's aspect ratio may be from the start image's: masks painted on
#: a resized copy come out a pixel off.
MASK_ASPECT_TOLERANCE = 0.01


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


def _name(loc: Loc) -> str:
    return ".".join(str(p) for p in loc if p != "body")


def _detail(loc: Loc, msg: str, type_: str, **ctx: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {"loc": list(loc), "msg": msg, "type": type_}
    if ctx:
        detail["ctx"] = ctx
    return detail


def check_image_size(width: int, height: int, loc: Loc) -> None:
    """Kling's rules on a start or end image's size: each side at least :data:`MIN_SIDE`
    and width / height within [:data:`MIN_ASPECT`, :data:`MAX_ASPECT`]. Raises
    :class:`InputError` at ``loc`` with every rule broken."""
    details: list[dict[str, Any]] = []
    if min(width, height) < MIN_SIDE:
        details.append(
            _detail(
                loc,
                f"image is {width}x{height}; Kling needs at least {MIN_SIDE} px on each side",
                "image_too_small",
                min_width=MIN_SIDE,
                min_height=MIN_SIDE,
            )
        )
    aspect = width / height
    if not MIN_ASPECT <= aspect <= MAX_ASPECT:
        details.append(
            _detail(
                loc,
                f"image is {width}x{height}, an aspect ratio (width/height) of {aspect:.2f}; "
                f"Kling needs one from {MIN_ASPECT} (2:5) to {MAX_ASPECT} (5:2)",
                "image_aspect_ratio",
                min_aspect_ratio=MIN_ASPECT,
                max_aspect_ratio=MAX_ASPECT,
            )
        )
    if details:
        raise InputError(details)


def check_masks(image_size: tuple[int, int], masks: Mapping[Loc, tuple[int, int]]) -> None:
    """Kling's motion-brush rules: every mask (``loc`` -> ``(width, height)``) has the start
    image's aspect ratio (``image_size`` is its width and height; within
    :data:`MASK_ASPECT_TOLERANCE`), and the static mask and all dynamic masks share one
    resolution. Raises :class:`InputError` naming every offending mask."""
    details: list[dict[str, Any]] = []
    image_w, image_h = image_size
    image_aspect = image_w / image_h
    for loc, (w, h) in masks.items():
        if abs((w / h) / image_aspect - 1) > MASK_ASPECT_TOLERANCE:
            details.append(
                _detail(
                    loc,
                    f"mask is {w}x{h} (aspect ratio {w / h:.3f}) but the start image is "
                    f"{image_w}x{image_h} ({image_aspect:.3f}); Kling needs every mask at "
                    "the start image's aspect ratio",
                    "mask_aspect_ratio",
                )
            )
    if len(set(masks.values())) > 1:
        # The resolution most masks share is the reference (the first one on a tie).
        common = Counter(masks.values()).most_common(1)[0][0]
        ref_loc = next(loc for loc, size in masks.items() if size == common)
        for loc, (w, h) in masks.items():
            if (w, h) != common:
                details.append(
                    _detail(
                        loc,
                        f"mask is {w}x{h} but {_name(ref_loc)} is {common[0]}x{common[1]}; "
                        "Kling needs the static mask and every dynamic mask at one resolution",
                        "mask_resolution",
                    )
                )
    if details:
        raise InputError(details)


def decode_image(data: bytes, loc: Loc) -> Image:
    """A start or end image as an RGB ``uint8`` array (alpha composited on black), checked
    against Kling's size rules (:func:`check_image_size`)."""
    img = _open(data, loc)
    check_image_size(img.width, img.height, loc)
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
