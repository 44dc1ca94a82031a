"""What an opened mouth shows: the inside, painted into the opening the warp made.

The upper teeth stay with the skull, so what the picture already showed between the lips
(teeth of a smile) stays where it was; below it, the newly opened part gets a drawn inside: a
row of upper teeth (no taller than half the opening, shorter toward the corners, with faint
gaps between them), a dark mouth deepening away from them, and a hint of tongue above the
lower lip once the mouth is well open. Colours are scaled by the light on the face around
the mouth, so the inside is never brighter than the skin.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.faces import LIPS_INNER
from vidserve.engines.talk.mouth import LOWER_INNER, UPPER_INNER, MouthMesh, smoothstep
from vidserve.engines.talk.warp import Box, Points

_TEETH = np.array([236.0, 229.0, 214.0])
_UNDER_TEETH = np.array([62.0, 24.0, 27.0])
_DEEP = np.array([22.0, 6.0, 8.0])
_TONGUE = np.array([140.0, 62.0, 66.0])
#: Teeth height as a share of the mouth's width, and the width of one front tooth.
_TEETH_HEIGHT, _TOOTH_WIDTH = 0.085, 0.115
_SHIFT = 4
Float = npt.NDArray[np.float64]


def paint_interior(out: Image, source: Image, mesh: MouthMesh, dst: Points) -> None:
    """Paint the inside of the mouth into ``out`` where the warp to ``dst`` opened it wider
    than ``source`` shows it (``out`` is the warped frame)."""
    height, width = out.shape[:2]
    polygon = mesh.landmark_positions(dst, LIPS_INNER)
    box = Box.around(polygon, width, height, margin=3)
    if box.empty:
        return
    opening = _coverage(polygon, box)
    if not opening.any():
        return
    layer = _drawn_inside(mesh, dst, box) * _light(source, box)
    # A picture that shows its teeth keeps them; a near-closed one gets drawn ones only.
    keep = smoothstep(np.array((mesh.gap / mesh.frame.width - 0.05) / 0.05))
    before = mesh.landmark_positions(mesh.src, LIPS_INNER)
    shown = _coverage(before, box)[..., None] * float(keep)
    region = source[box.y0 : box.y1, box.x0 : box.x1].astype(np.float64)
    layer = region * shown + layer * (1 - shown)
    alpha = opening[..., None]
    target = out[box.y0 : box.y1, box.x0 : box.x1]
    blended = target.astype(np.float64) * (1 - alpha) + layer * alpha
    target[:] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def _coverage(polygon: Points, box: Box) -> Float:
    """Anti-aliased coverage of a polygon over ``box``, 0..1."""
    mask = np.zeros((box.y1 - box.y0, box.x1 - box.x0), np.uint8)
    corners = np.round((polygon - [box.x0, box.y0]) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [corners], 255, cv2.LINE_AA, _SHIFT)
    return mask.astype(np.float64) / 255.0


def _light(source: Image, box: Box) -> float:
    """How bright the face is around the mouth, relative to a typical lit face."""
    region = source[box.y0 : box.y1, box.x0 : box.x1]
    luma = cast(npt.NDArray[np.uint8], cv2.cvtColor(region, cv2.COLOR_RGB2GRAY))
    return float(np.clip(np.percentile(luma, 75) / 165.0, 0.45, 1.25))


def _drawn_inside(mesh: MouthMesh, dst: Points, box: Box) -> Float:
    """The drawn inside of the mouth over ``box``, RGB float, before lighting."""
    frame, w = mesh.frame, mesh.frame.width
    xs, ys = box.grid()
    uv = frame.to_uv(np.stack([xs, ys], axis=-1).astype(np.float64))
    u, v = uv[..., 0], uv[..., 1]
    top = frame.to_uv(mesh.landmark_positions(dst, UPPER_INNER).astype(np.float64))
    bottom = frame.to_uv(mesh.landmark_positions(dst, LOWER_INNER).astype(np.float64))
    upper = np.interp(u, *_by_u(top))
    gap = np.maximum(np.interp(u, *_by_u(bottom)) - upper, 0.0)
    reach = max(float(np.ptp(top[:, 0])) / 2, 1.0)
    across = np.sqrt(np.clip(1 - (u / reach) ** 2, 0, 1))
    teeth_height = np.minimum(_TEETH_HEIGHT * w, 0.45 * gap) * across
    depth = v - upper
    # The inside: lit just under the teeth, dark further in, a tongue above the lower lip.
    inward = smoothstep((depth - teeth_height) / np.maximum(0.5 * gap, 1.0))[..., None]
    layer = _UNDER_TEETH * (1 - inward) + _DEEP * inward
    tongue = smoothstep((depth - 0.6 * gap) / np.maximum(0.3 * gap, 1.0))
    tongue *= np.clip(1 - (u / (0.8 * reach)) ** 2, 0, 1) * smoothstep((gap - 0.1 * w) / (0.1 * w))
    tongue = 0.5 * tongue[..., None]
    layer = layer * (1 - tongue) + _TONGUE * tongue
    # Upper teeth: shaded toward the corners and under the lip, with gaps between teeth.
    inside_teeth = depth / np.maximum(teeth_height, 0.5)
    teeth_alpha = (depth >= -0.5) * (1 - smoothstep((inside_teeth - 0.75) / 0.5))
    teeth_alpha *= smoothstep((teeth_height - 0.5) / 1.0)
    tooth = _TOOTH_WIDTH * w
    seam = np.abs((u / tooth + 0.5) % 1.0 - 0.5) * tooth  # pixels to the nearest seam
    shade = (0.72 + 0.28 * across) * (0.88 + 0.12 * smoothstep(inside_teeth * 3))
    shade = shade * (1 - 0.12 * np.exp(-((seam / 0.8) ** 2)))
    teeth = _TEETH * shade[..., None]
    alpha = teeth_alpha[..., None]
    return np.asarray(layer * (1 - alpha) + teeth * alpha, dtype=np.float64)


def _by_u(uv: Float) -> tuple[Float, Float]:
    order = np.argsort(uv[:, 0])
    return uv[order, 0], uv[order, 1]
