"""Following one face through a video: detect once, then let each frame's mesh place the next.

The detector runs on the first frame and whenever the face is lost (the mesh model says its
square holds no face); otherwise each frame's square comes from the last frame's mesh, as in
MediaPipe's face mesh. The points handed out are smoothed with a One Euro filter: strong at
rest (no jitter on a still face), weak in motion (no lag on a moving one or a speaking mouth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.faces.detect import Face, detect_faces
from vidserve.engines.faces.mesh import (
    MIN_PRESENCE,
    Landmarks,
    Mesh,
    read_mesh,
    roi_from_face,
    roi_from_points,
)


@dataclass(frozen=True, eq=False)
class TrackedFace:
    """One frame's face: ``points`` smoothed (468, 3) as :func:`.landmarks` gives them,
    ``raw`` the same unsmoothed, ``presence`` 0..1, and ``detected`` True when the detector
    (re)found the face on this frame."""

    points: Landmarks
    raw: Landmarks
    presence: float
    detected: bool


class FaceTracker:
    """Follows the largest face of a video's first frame. When the mesh loses it, the face
    nearest where it was is taken up again on the same frame; after a frame without it, the
    largest again. Call :meth:`update` with each frame in order; it returns None on frames
    without the face. ``fps`` is the video's frame rate (the smoothing is in seconds);
    ``min_cutoff`` (Hz) sets the smoothing at rest, lower is smoother, and ``beta`` how fast it
    lets go with speed (in face widths per second); ``smooth=False`` hands out raw points."""

    def __init__(
        self, fps: float = 25.0, *, min_cutoff: float = 1.0, beta: float = 20.0,
        smooth: bool = True, min_presence: float = MIN_PRESENCE,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.min_presence = min_presence
        self._filter = _OneEuro(fps, min_cutoff, beta) if smooth else None
        self._last: Mesh | None = None
        #: How many times the detector has run (once per start or loss).
        self.detections = 0

    def reset(self) -> None:
        """Forget the face: the next frame is searched afresh."""
        self._last = None
        if self._filter is not None:
            self._filter.reset()

    def update(self, frame: Image) -> TrackedFace | None:
        """The face in the next frame, or None when it is not there."""
        mesh = None
        if self._last is not None:
            mesh = read_mesh(frame, roi_from_points(self._last.points))
            if mesh.presence < self.min_presence:
                mesh = None
        detected = mesh is None
        if mesh is None:
            mesh = self._detect(frame)
            if mesh is None:
                self.reset()
                return None
            if self._filter is not None:
                self._filter.reset()
        self._last = mesh
        points = mesh.points if self._filter is None else self._filter(mesh.points)
        return TrackedFace(points, mesh.points, mesh.presence, detected)

    def _detect(self, frame: Image) -> Mesh | None:
        self.detections += 1
        faces = detect_faces(frame)
        if not faces:
            return None
        face = faces[0] if self._last is None else _nearest(faces, self._last.points)
        mesh = read_mesh(frame, roi_from_face(face))
        # A second read from the mesh's own square is better centred (as on a next frame).
        mesh = read_mesh(frame, roi_from_points(mesh.points))
        return mesh if mesh.presence >= self.min_presence else None


def _nearest(faces: list[Face], points: Landmarks) -> Face:
    x, y = (float(v) for v in points[:, :2].mean(axis=0))
    return min(faces, key=lambda f: math.hypot(f.center[0] - x, f.center[1] - y))


class _OneEuro:
    """Casiez et al.'s One Euro filter on every coordinate, speeds in face widths per second
    so that one setting suits near and far faces."""

    def __init__(self, fps: float, min_cutoff: float, beta: float, d_cutoff: float = 1.0):
        self.fps, self.min_cutoff, self.beta, self.d_cutoff = fps, min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._value: npt.NDArray[np.float64] | None = None
        self._speed = np.zeros(1)

    def _alpha(self, cutoff: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return np.asarray(1.0 / (1.0 + self.fps / (2 * math.pi * np.asarray(cutoff))))

    def __call__(self, points: Landmarks) -> Landmarks:
        value = points.astype(np.float64)
        if self._value is None:
            self._value, self._speed = value, np.zeros_like(value)
            return points.copy()
        width = max(float(np.ptp(value[:, 0])), 1.0)
        speed = (value - self._value) * self.fps / width
        self._speed = self._speed + self._alpha(self.d_cutoff) * (speed - self._speed)
        alpha = self._alpha(self.min_cutoff + self.beta * np.abs(self._speed))
        self._value = self._value + alpha * (value - self._value)
        return self._value.astype(np.float32)
