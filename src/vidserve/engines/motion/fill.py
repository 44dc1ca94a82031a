"""Filling what a moving region uncovers: smooth structure plus borrowed texture.

Diffusion-style inpainting (OpenCV's Telea) continues colours and edges into a hole but
leaves it smooth, which reads as a smear on a textured surface. So the fill is two bands:
the inpainted image supplies the low frequencies, and the fine detail (image minus its blur)
is copied from the nearest hole-sized patch of intact picture beside each hole, the way a
retoucher's clone brush would. Both are computed once per clip.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image, Mask

#: Inpainting runs at most this large (longest side): the structure it fills is smooth
#: anyway, and Telea's cost grows with the hole's pixel count.
_INPAINT_SIDE = 640
#: The borrowed band: what a blur of this sigma (a fraction of the longest side) removes.
#: Telea leaves a hole smooth over its whole size, so the band reaches well below a pixel's
#: detail; wider would copy the donor's shading too.
_DETAIL_SIGMA = 0.01
#: Gap between a hole and the patch its texture is borrowed from, in pixels.
_GAP = 4


def fill_holes(image: Image, hole: Mask) -> Image:
    """``image`` with the pixels where ``hole`` > 0 replaced by a plausible fill."""
    height, width = image.shape[:2]
    factor = min(1.0, _INPAINT_SIDE / max(width, height))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole, size, interpolation=cv2.INTER_NEAREST)
    smooth = cv2.inpaint(small, small_hole, 3, cv2.INPAINT_TELEA)
    smooth = cv2.resize(smooth, (width, height), interpolation=cv2.INTER_LINEAR)
    # At least what inpainting at reduced size cannot carry: detail finer than its pixel.
    sigma = max(1.5, _DETAIL_SIGMA * max(width, height), 0.5 / factor)
    detail = image.astype(np.float32) - cv2.GaussianBlur(image, (0, 0), sigma).astype(np.float32)
    borrowed = np.zeros_like(detail)
    inside = hole > 0
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        inside.astype(np.uint8), connectivity=8
    )
    for label in range(1, count):
        x, y, w, h = (int(v) for v in stats[label, :4])
        shift = _donor_shift(inside, x, y, w, h)
        if shift is None:
            continue
        dx, dy = shift
        piece = labels[y : y + h, x : x + w] == label
        target = borrowed[y : y + h, x : x + w]
        target[piece] = detail[y + dy : y + dy + h, x + dx : x + dx + w][piece]
    filled = np.clip(smooth.astype(np.float32) + borrowed, 0, 255).astype(np.uint8)
    return cast(Image, np.where(inside[:, :, None], filled, image))


def _donor_shift(
    inside: npt.NDArray[np.bool_], x: int, y: int, w: int, h: int
) -> tuple[int, int] | None:
    """The nearest offset of the box ``(x, y, w, h)`` that lies in the frame and over the
    fewest hole pixels (none, when the picture allows), or None when no offset fits."""
    height, width = inside.shape
    candidates = []
    for dx, dy in (
        (w + _GAP, 0), (-w - _GAP, 0), (0, h + _GAP), (0, -h - _GAP),
        (w + _GAP, h + _GAP), (-w - _GAP, h + _GAP), (w + _GAP, -h - _GAP), (-w - _GAP, -h - _GAP),
    ):  # fmt: skip
        if 0 <= x + dx and x + dx + w <= width and 0 <= y + dy and y + dy + h <= height:
            covered = int(np.count_nonzero(inside[y + dy : y + dy + h, x + dx : x + dx + w]))
            candidates.append((covered, abs(dx) + abs(dy), (dx, dy)))
    return min(candidates)[2] if candidates else None
