"""Piecewise-affine warps: a Delaunay triangulation of control points, each triangle mapped
affinely from where its corners are to where they go.

The warp is continuous (neighbouring triangles agree on their shared edge) and exact where it
matters: every output pixel is looked up through its own triangle's inverse map, so there is
no approximate inversion of a displacement field. Pixels outside every triangle are left
alone, so a ring of fixed points around the moving ones keeps the rest of the frame intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image

#: ``(n, 2)`` float32 pixel positions.
Points = npt.NDArray[np.float32]
#: ``(m, 3)`` indices into a point array.
Triangles = npt.NDArray[np.int32]

_SHIFT = 4  # sub-pixel bits for rasterising triangles
#: Widest box (pixels) whose warp map is worked out at every pixel.
FINE_UP_TO = 160


def triangulate(points: Points) -> Triangles:
    """The Delaunay triangles of ``points`` (indices); coincident points share triangles
    through the first of them, the others are left out."""
    low = np.floor(points.min(axis=0)) - 2
    high = np.ceil(points.max(axis=0)) + 2
    subdiv = cv2.Subdiv2D((int(low[0]), int(low[1]), int(high[0] - low[0]), int(high[1] - low[1])))
    index: dict[tuple[float, float], int] = {}
    for i, (x, y) in enumerate(points.astype(np.float32)):
        key = (float(x), float(y))
        if key not in index:
            index[key] = i
            subdiv.insert(key)
    rows = []
    for tri in np.asarray(subdiv.getTriangleList(), dtype=np.float32).reshape(-1, 3, 2):
        corners = [index.get((float(x), float(y))) for x, y in tri]
        if all(c is not None for c in corners):
            rows.append(corners)
    return np.asarray(rows, dtype=np.int32).reshape(-1, 3)


def signed_areas(points: Points, triangles: Triangles) -> npt.NDArray[np.float64]:
    """Twice each triangle's signed area (its orientation)."""
    p = points.astype(np.float64)[triangles]
    a, b = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    return np.asarray(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0], dtype=np.float64)


def folds(src: Points, dst: Points, triangles: Triangles, min_area: float = 0.5) -> bool:
    """Whether moving ``src`` to ``dst`` turns any triangle over (an area under ``min_area``
    square pixels does not count: slivers along a closed mouth are that thin)."""
    before, after = signed_areas(src, triangles), signed_areas(dst, triangles)
    solid = np.abs(before) >= 2 * min_area
    return bool(np.any(solid & (np.sign(before) != np.sign(after))))


@dataclass(frozen=True)
class Box:
    """A pixel rectangle ``[x0, x1) x [y0, y1)``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def around(cls, points: Points, width: int, height: int, margin: float = 1.0) -> Box:
        """The points' bounding box grown by ``margin`` pixels, clipped to the image."""
        low = np.floor(points.min(axis=0) - margin).astype(int)
        high = np.ceil(points.max(axis=0) + margin).astype(int) + 1
        return cls(
            max(0, int(low[0])), max(0, int(low[1])), min(width, int(high[0])),
            min(height, int(high[1])),
        )  # fmt: skip

    @property
    def empty(self) -> bool:
        return self.x1 <= self.x0 or self.y1 <= self.y0

    def grid(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Pixel-centre coordinates of the box, ``(xs, ys)``, each ``(h, w)``."""
        ys, xs = np.mgrid[self.y0 : self.y1, self.x0 : self.x1]
        return xs.astype(np.float32), ys.astype(np.float32)


def warp_maps(
    src: Points, dst: Points, triangles: Triangles, box: Box, step: int = 1
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """For every pixel of ``box``, where to sample the source: through the inverse affine map
    of the ``dst`` triangle it lies in, itself where it lies in none.

    With ``step`` > 1 the map is worked out on a grid that many pixels apart and its offsets
    (zero outside the mesh) interpolated between: exact inside each triangle, within a
    fraction of a pixel along their edges, and a quarter of the work at 2."""
    height, width = box.y1 - box.y0, box.x1 - box.x0
    rows, cols = -(-height // step), -(-width // step)
    # Coarse sample (j, k) sits at the centre of its step x step block, where a linear
    # resize by ``step`` puts it.
    centre = (step - 1) / 2
    x0, y0 = box.x0 + centre, box.y0 + centre
    label = np.zeros((rows, cols), np.int32)
    corners = (dst[triangles] - np.array([x0, y0], np.float32)) / step
    for number, polygon in enumerate(np.round(corners * (1 << _SHIFT)).astype(np.int32), 1):
        cv2.fillConvexPoly(label, polygon, number, cv2.LINE_8, _SHIFT)
    # Solve [x y 1] @ A = [sx sy] for each triangle (its 3 corners determine A exactly).
    lhs = np.concatenate([dst[triangles], np.ones((len(triangles), 3, 1), np.float32)], axis=2)
    rhs = src[triangles].astype(np.float64)
    solvable = np.abs(np.linalg.det(lhs.astype(np.float64))) > 1e-6
    coef = np.tile(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), (len(triangles) + 1, 1, 1))
    if solvable.any():
        coef[1:][solvable] = np.linalg.solve(lhs[solvable].astype(np.float64), rhs[solvable])
    # Each pixel's offset from where it is: A's rows less the identity.
    coef -= np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    picked = coef.astype(np.float32).reshape(-1, 6)[label]  # (rows, cols, 6)
    xs = (x0 + step * np.arange(cols, dtype=np.float32))[None, :]
    ys = (y0 + step * np.arange(rows, dtype=np.float32))[:, None]
    off_x = picked[..., 0] * xs + picked[..., 2] * ys + picked[..., 4]
    off_y = picked[..., 1] * xs + picked[..., 3] * ys + picked[..., 5]
    if step > 1:
        size = (cols * step, rows * step)
        off_x = np.asarray(cv2.resize(off_x, size, interpolation=cv2.INTER_LINEAR))
        off_y = np.asarray(cv2.resize(off_y, size, interpolation=cv2.INTER_LINEAR))
        off_x, off_y = off_x[:height, :width], off_y[:height, :width]
    map_x = off_x + np.arange(box.x0, box.x1, dtype=np.float32)[None, :]
    map_y = off_y + np.arange(box.y0, box.y1, dtype=np.float32)[:, None]
    return map_x.astype(np.float32), map_y.astype(np.float32)


def warp_into(
    out: Image, source: Image, src: Points, dst: Points, triangles: Triangles, box: Box
) -> None:
    """Write ``source`` warped by the mesh into ``out`` over ``box`` (the two may be one
    array: the box is read before it is written). Boxes wider than :data:`FINE_UP_TO`
    pixels get their map on a 2-pixel grid (see :func:`warp_maps`)."""
    if box.empty or len(triangles) == 0:
        return
    step = 2 if box.x1 - box.x0 > FINE_UP_TO else 1
    map_x, map_y = warp_maps(src, dst, triangles, box, step)
    warped = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    out[box.y0 : box.y1, box.x0 : box.x1] = cast(Image, warped)
