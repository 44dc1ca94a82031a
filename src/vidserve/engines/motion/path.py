"""Smooth paths through trajectory points (Catmull-Rom, paced by arc length)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

Point = tuple[float, float]


class Trajectory:
    """A Catmull-Rom curve through ``points``, walked at even speed in ``progress``.

    ``offset(0)`` is ``(0, 0)`` and ``offset(1)`` is the last point minus the first: the
    displacement of whatever sat at the first point. Progress maps to distance along the
    polyline, so more points make the path more precise without changing its pace.
    """

    def __init__(self, points: Sequence[Point]) -> None:
        if not points:
            raise ValueError("a trajectory needs at least one point")
        # Repeated points would make zero-length segments with no direction.
        kept = [points[0]]
        for point in points[1:]:
            if point != kept[-1]:
                kept.append(point)
        self._points = kept
        self._lengths = [0.0]
        for (ax, ay), (bx, by) in zip(kept, kept[1:], strict=False):
            self._lengths.append(self._lengths[-1] + math.hypot(bx - ax, by - ay))

    @property
    def start(self) -> Point:
        """The first point."""
        return self._points[0]

    def position(self, progress: float) -> Point:
        """The point ``progress`` (0..1) of the way along the path."""
        points = self._points
        if len(points) == 1:
            return points[0]
        total = self._lengths[-1]
        distance = min(max(progress, 0.0), 1.0) * total
        segment = min(bisect.bisect_right(self._lengths, distance) - 1, len(points) - 2)
        span = self._lengths[segment + 1] - self._lengths[segment]
        s = (distance - self._lengths[segment]) / span
        p1, p2 = points[segment], points[segment + 1]
        # Past the ends, mirror the neighbour so the end segments stay straight-paced.
        p0 = points[segment - 1] if segment > 0 else _mirror(p2, p1)
        p3 = points[segment + 2] if segment + 2 < len(points) else _mirror(p1, p2)
        return _catmull_rom(p0, p1, p2, p3, s)

    def offset(self, progress: float) -> Point:
        """The displacement from the first point at ``progress``."""
        x, y = self.position(progress)
        return x - self._points[0][0], y - self._points[0][1]


def _mirror(point: Point, about: Point) -> Point:
    return 2.0 * about[0] - point[0], 2.0 * about[1] - point[1]


def _catmull_rom(p0: Point, p1: Point, p2: Point, p3: Point, s: float) -> Point:
    s2, s3 = s * s, s * s * s

    def axis(a: float, b: float, c: float, d: float) -> float:
        return 0.5 * (
            2.0 * b
            + (c - a) * s
            + (2.0 * a - 5.0 * b + 4.0 * c - d) * s2
            + (3.0 * (b - c) + d - a) * s3
        )

    return axis(p0[0], p1[0], p2[0], p3[0]), axis(p0[1], p1[1], p2[1], p3[1])
