"""Picture beyond the photo's edge: a mirrored extension that goes out of focus with distance.

A camera move that starts on the photo itself (frame 0 is the photo) and then travels, turns
or widens must show something past the photo's edge. Magnification hides most of it
(:mod:`.camera` grows it only as needed), and this extension fills a band of at most
:data:`~vidserve.engines.motion.camera.MARGIN` of the frame: the photo mirrored at its edge
(so edges and colours continue across it without a seam), blurred more the further it lies
from the photo. Right at the edge it is sharp, so the border itself never shows; further out
it reads as out-of-focus surroundings, where a sharp mirror image would read as a
kaleidoscope.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image

#: Blur (Gaussian sigma, a share of the photo's longer side) at the far end of the band,
#: and how far out (a share of the band) the blur is complete.
_FAR_BLUR = 0.05
_RAMP = 0.6


def extend(image: npt.NDArray[np.uint8], pad_x: int, pad_y: int) -> npt.NDArray[np.uint8]:
    """``image`` (any channel count) with ``pad_x`` columns and ``pad_y`` rows of mirrored,
    progressively defocused picture added on every side."""
    if pad_x <= 0 and pad_y <= 0:
        return image
    height, width = image.shape[:2]
    out = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REFLECT_101)
    longer = max(width, height)
    # Both blurs are wide: done at a fraction of the size, which keeps all they keep.
    far = defocus(cast(Image, out), _FAR_BLUR * longer, 8)
    near = defocus(cast(Image, out), max(1.0, 0.15 * _FAR_BLUR * longer), 4)
    ramp = max(1.0, _RAMP * max(pad_x, pad_y))
    full_h, full_w = out.shape[:2]
    distance = band_distance(height, width, pad_x, pad_y)
    # Only the band changes: its four strips (top, bottom, then the sides between them).
    for rows, cols in (
        (slice(0, pad_y), slice(0, full_w)),
        (slice(pad_y + height, full_h), slice(0, full_w)),
        (slice(pad_y, pad_y + height), slice(0, pad_x)),
        (slice(pad_y, pad_y + height), slice(pad_x + width, full_w)),
    ):
        dist = distance[rows, cols] / np.float32(ramp)
        if dist.size == 0:
            continue
        # Sharp at the edge -> soft within a tenth of the ramp -> fully defocused at its end.
        w_near = np.clip(dist * 10.0, 0.0, 1.0)
        w_far = np.sqrt(np.clip(dist, 0.0, 1.0))
        if image.ndim == 3:
            w_near, w_far = w_near[:, :, None], w_far[:, :, None]
        base = out[rows, cols].astype(np.float32)
        soft = base + (near[rows, cols].astype(np.float32) - base) * w_near
        blended = soft + (far[rows, cols].astype(np.float32) - soft) * w_far
        out[rows, cols] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return cast(npt.NDArray[np.uint8], out)


def band_distance(height: int, width: int, pad_x: int, pad_y: int) -> npt.NDArray[np.float32]:
    """For every pixel of the extended picture, its distance (pixels) past the photo's edge:
    0 on the photo."""
    xs = np.arange(width + 2 * pad_x, dtype=np.float32)
    ys = np.arange(height + 2 * pad_y, dtype=np.float32)
    out_x = np.maximum(0.0, np.maximum(pad_x - xs, xs - (pad_x + width - 1)))
    out_y = np.maximum(0.0, np.maximum(pad_y - ys, ys - (pad_y + height - 1)))
    return cast(npt.NDArray[np.float32], np.sqrt(out_y[:, None] ** 2 + out_x[None, :] ** 2))


def defocus(image: Image, sigma: float, factor: int) -> Image:
    """A wide Gaussian blur done at ``1 / factor`` of the size (it keeps no finer detail)."""
    height, width = image.shape[:2]
    small = cv2.resize(
        image, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA
    )
    blurred = cv2.GaussianBlur(small, (0, 0), max(0.5, sigma / factor))
    return cast(Image, cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR))
