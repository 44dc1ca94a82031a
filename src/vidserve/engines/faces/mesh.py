"""The 468-point face mesh (MediaPipe Face Mesh) of one face.

The mesh model sees a 192x192 crop: a square 1.5 times the face, centred on it and turned so
the eyes are level (MediaPipe's region of interest). From a detection, the square comes from
the box and the two eye keypoints; from an earlier mesh (the next video frame, or a second,
better-centred pass on a still) it comes from the mesh's extent and its outer eye corners.
Points come back in image pixels with a relative depth ``z`` in the same unit (smaller is
nearer the camera; 0 is about the face's middle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.faces.detect import Face, Keypoint
from vidserve.engines.faces.geometry import (
    Roi,
    apply,
    check_image,
    eye_line_angle,
    invert,
    sample,
)
from vidserve.engines.faces.models import MESH, load

_SIDE = 192
#: How much larger than the face the model's square is.
_MARGIN = 1.5
#: Mesh points in the model.
POINTS = 468
#: Below this presence score the crop holds no face (MediaPipe's threshold).
MIN_PRESENCE = 0.5
# The outer eye corners, which level the crop when it is placed from a mesh.
_RIGHT_EYE_OUTER, _LEFT_EYE_OUTER = 33, 263

Landmarks = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class Mesh:
    """A mesh and where it was read: ``points`` (468, 3) ``x, y, z`` in image pixels;
    ``presence``, 0..1, whether the crop held a face; ``roi``, the crop."""

    points: Landmarks
    presence: float
    roi: Roi


def roi_from_face(face: Face) -> Roi:
    """The mesh model's square for a detected face."""
    angle = eye_line_angle(face.keypoints[Keypoint.RIGHT_EYE], face.keypoints[Keypoint.LEFT_EYE])
    cx, cy = face.center
    return Roi(cx, cy, max(face.width, face.height) * _MARGIN, angle)


def roi_from_points(points: Landmarks) -> Roi:
    """The mesh model's square around an earlier mesh of the same face."""
    angle = eye_line_angle(points[_RIGHT_EYE_OUTER], points[_LEFT_EYE_OUTER])
    # The extent is taken in the face's own (levelled) frame, so a tilted head is not
    # given a larger square than an upright one.
    level = Roi(0.0, 0.0, 1.0, angle).to_tensor(1)
    flat = apply(level, points[:, :2]) - 0.5
    low, high = flat.min(axis=0), flat.max(axis=0)
    centre = apply(invert(level), ((low + high) / 2 + 0.5)[None].astype(np.float32))[0]
    return Roi(float(centre[0]), float(centre[1]), float((high - low).max()) * _MARGIN, angle)


def read_mesh(image: Image, roi: Roi) -> Mesh:
    """Run the mesh model on one square of an RGB image."""
    check_image(image)
    matrix = roi.to_tensor(_SIDE)
    tensor = sample(image, matrix, _SIDE, 0.0, 1.0)
    outputs = load(MESH).run(tensor)
    coords = next(t for t in outputs if t.size == POINTS * 3).reshape(POINTS, 3)
    logit = float(next(t for t in outputs if t.size == 1).ravel()[0])
    points = np.empty((POINTS, 3), dtype=np.float32)
    points[:, :2] = apply(invert(matrix), coords[:, :2])
    points[:, 2] = coords[:, 2] * (roi.size / _SIDE)
    presence = 1.0 / (1.0 + np.exp(-np.clip(logit, -100.0, 100.0)))
    return Mesh(points, float(presence), roi)


def landmarks(image: Image, face: Face, refine: bool = True) -> Landmarks:
    """The face's 468 mesh points, ``(468, 3)`` float32: ``x, y`` in image pixels and a
    relative depth ``z`` (use ``[:, :2]`` for 2-D). ``refine`` reads the mesh a second time
    from a square placed by the first, as a video's next frame would be (better centred)."""
    mesh = read_mesh(image, roi_from_face(face))
    if refine:
        mesh = read_mesh(image, roi_from_points(mesh.points))
    return mesh.points
