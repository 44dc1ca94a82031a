"""Bending the photo along short motion-brush trajectories: a smooth deformation field.

A region that moves a little (a hand waving, a branch swaying, a head turning) drags what
touches it: a rigid cut-out would open a hole and draw a seam around it. Here each region
moves as a whole, and the displacement falls off smoothly with the distance from the region,
to nothing at :data:`FALLOFF` times the trajectory's reach (at least :data:`MIN_FALLOFF` of
the frame's diagonal). Every frame is one resample of the photo through that field: no
hole, no seam.

The field must not fold the picture: a displacement ``o * w(p)`` keeps the map one-to-one
while ``|o| * max|grad w| < 1``. The falloff ``w = smoothstep(1 - d / R)`` has slope at most
``1.5 / R``, so with ``R >= 4 |o|`` the product stays under 0.375: the picture is stretched
or squeezed by at most ``1 / (1 - 0.375) = 1.6x`` anywhere.
"""

from __future__ import annotations

import math
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image, Mask
from vidserve.engines.motion.path import Trajectory

Field = npt.NDArray[np.float32]

#: The falloff radius, in units of the trajectory's reach (see the module docstring).
FALLOFF = 4.0
#: The least falloff radius, a share of the frame's diagonal: a tiny wiggle still bends a
#: neighbourhood rather than a ring of pixels.
MIN_FALLOFF = 0.05
#: Fixed-point steps that invert the field (see :meth:`Bend.frame`).
_INVERSION_STEPS = 4


class Bend:
    """The deformation for ``masks`` moving along ``paths`` over ``image``; the static
    mask's pixels (and a soft edge around them) do not move."""

    def __init__(
        self, image: Image, masks: list[Mask], paths: list[Trajectory], static_mask: Mask | None
    ) -> None:
        self._image = image
        self._paths = paths
        height, width = image.shape[:2]
        diagonal = math.hypot(width, height)
        held = None
        if static_mask is not None:
            held = cv2.GaussianBlur((static_mask >= 128).astype(np.float32), (0, 0), 2.0)
        self._weights = []
        for mask, path in zip(masks, paths, strict=True):
            radius = max(FALLOFF * path.reach, MIN_FALLOFF * diagonal)
            weight = _falloff(mask, radius)
            if held is not None:
                weight = weight * (1.0 - held)
            self._weights.append(cast(Field, weight.astype(np.float32)))
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        self._xs, self._ys = xs, ys

    def frame(self, progress: float) -> Image:
        """The photo bent ``progress`` (eased, 0..1) of the way along the paths."""
        offsets = [path.offset(progress) for path in self._paths]
        if not offsets or all(dx == 0.0 and dy == 0.0 for dx, dy in offsets):
            return self._image.copy()
        # Content at p moves to q = p + sum w_i(p) o_i, so the output pixel q samples the
        # p that solves p = q - sum w_i(p) o_i: a contraction (see the module docstring),
        # so a few fixed-point steps from p = q converge.
        map_x, map_y = self._xs.copy(), self._ys.copy()
        for _ in range(_INVERSION_STEPS):
            shift_x = np.zeros_like(map_x)
            shift_y = np.zeros_like(map_y)
            for weight, (dx, dy) in zip(self._weights, offsets, strict=True):
                at = cv2.remap(
                    weight, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
                )
                shift_x += at * np.float32(dx)
                shift_y += at * np.float32(dy)
            map_x, map_y = self._xs - shift_x, self._ys - shift_y
        out = cv2.remap(
            self._image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        return cast(Image, out)


def _falloff(mask: Mask, radius: float) -> npt.NDArray[np.float32]:
    """1 on the region, falling smoothly (smoothstep of the distance) to 0 at ``radius``."""
    outside = (mask < 128).astype(np.uint8)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, 5)
    t = np.clip(1.0 - distance / np.float32(radius), 0.0, 1.0)
    return cast(npt.NDArray[np.float32], t * t * (3.0 - 2.0 * t))
