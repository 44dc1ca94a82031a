"""Smooth paths through trajectory points: centripetal Catmull-Rom, walked at even speed.

Centripetal parametrisation (alpha = 0.5) never overshoots into loops or cusps, however
unevenly a user's points are spaced. The curve is sampled densely once and walked by arc
length, so the speed along it stays even through every point: pacing follows the caller's
progress (the engine eases it), not the spacing of the points.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]

#: Samples of the curve per segment between two points: a chord error far below a pixel.
_SAMPLES = 48


class Trajectory:
    """A smooth curve through ``points``, walked at even speed in ``progress``.

    ``offset(0)`` is ``(0, 0)`` and ``offset(1)`` is the last point minus the first: the
    displacement of whatever sat at the first point.
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
        self._curve = _sample(np.array(kept, dtype=np.float64))
        steps = np.hypot(*np.diff(self._curve, axis=0).T)
        self._lengths = np.concatenate(([0.0], np.cumsum(steps)))

    @property
    def start(self) -> Point:
        """The first point."""
        return self._points[0]

    @property
    def length(self) -> float:
        """The curve's length in pixels."""
        return float(self._lengths[-1])

    def position(self, progress: float) -> Point:
        """The point ``progress`` (0..1) of the way along the curve, by arc length."""
        if len(self._points) == 1:
            return self._points[0]
        distance = min(max(progress, 0.0), 1.0) * self._lengths[-1]
        x = float(np.interp(distance, self._lengths, self._curve[:, 0]))
        y = float(np.interp(distance, self._lengths, self._curve[:, 1]))
        return x, y

    def offset(self, progress: float) -> Point:
        """The displacement from the first point at ``progress``."""
        x, y = self.position(progress)
        return x - self._points[0][0], y - self._points[0][1]

    @functools.cached_property
    def reach(self) -> float:
        """The farthest the path takes what it moves from where it started, in pixels."""
        return max(math.hypot(*self.offset(p)) for p in np.linspace(0.0, 1.0, 65))


def _sample(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The curve through ``points`` as a dense polyline (each given point on it)."""
    if len(points) < 2:
        return points
    # Mirror the neighbours past the ends so the end segments leave straight.
    padded = np.vstack((2 * points[0] - points[1], points, 2 * points[-1] - points[-2]))
    pieces = [_segment(*padded[i : i + 4]) for i in range(len(points) - 1)]
    return np.vstack([*pieces, points[-1:]])


def _segment(
    p0: npt.NDArray[np.float64],
    p1: npt.NDArray[np.float64],
    p2: npt.NDArray[np.float64],
    p3: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Samples from ``p1`` (included) to ``p2`` (excluded): Barry and Goldman's pyramid."""

    def knot(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
        # sqrt of the chord: the centripetal choice; a floor keeps knots distinct.
        return max(math.sqrt(float(np.hypot(*(b - a)))), 1e-6)

    t0 = 0.0
    t1 = t0 + knot(p0, p1)
    t2 = t1 + knot(p1, p2)
    t3 = t2 + knot(p2, p3)
    t = np.linspace(t1, t2, _SAMPLES, endpoint=False)[:, None]
    a1 = (t1 - t) / (t1 - t0) * p0 + (t - t0) / (t1 - t0) * p1
    a2 = (t2 - t) / (t2 - t1) * p1 + (t - t1) / (t2 - t1) * p2
    a3 = (t3 - t) / (t3 - t2) * p2 + (t - t2) / (t3 - t2) * p3
    b1 = (t2 - t) / (t2 - t0) * a1 + (t - t0) / (t2 - t0) * a2
    b2 = (t3 - t) / (t3 - t1) * a2 + (t - t1) / (t3 - t1) * a3
    curve: npt.NDArray[np.float64] = (t2 - t) / (t2 - t1) * b1 + (t - t1) / (t2 - t1) * b2
    return curve
