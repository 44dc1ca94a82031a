"""How the end image sits on the start image: a homography from matched features.

Two photos of one scene (a crop, a zoom, a shift or a small turn of the camera) differ
mostly by a projective map. Dense optical flow alone cannot bridge a large zoom or shift
(it ghosts, or swirls), but sparse features can: ORB keypoints matched across the two
images, filtered by Lowe's ratio test and fitted with RANSAC, give the map and a count of
matches that agree with it (the inliers). Few inliers mean the photos show different
things, and the transition should not pretend otherwise (:mod:`.transition`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidserve.engines.base import Image
from vidserve.engines.motion.fit import Matrix

#: Features are found at this size (longest side): enough for a few hundred keypoints.
_SIDE = 640
_FEATURES = 4000
#: Lowe's ratio: the best match must be clearly better than the second best.
_RATIO = 0.8
#: RANSAC's reprojection tolerance, in pixels at the feature size.
_TOLERANCE = 3.0
#: At least this many inliers, and this share of the ratio-test survivors, make a match.
MIN_INLIERS = 40
MIN_INLIER_SHARE = 0.25
#: A plausible map between two views: area change within this factor either way.
_MAX_AREA_CHANGE = 9.0


@dataclass(frozen=True)
class Alignment:
    """The map from start pixels to end pixels (None when the images do not match), with
    the evidence: how many matches passed the ratio test, and how many agree with it."""

    matrix: Matrix | None
    matches: int
    inliers: int
    reason: str

    def describe(self) -> str:
        """For the log: the verdict and its evidence."""
        return f"{self.inliers} of {self.matches} feature matches agree ({self.reason})"


def align(start: Image, end: Image) -> Alignment:
    """Fit the homography taking ``start``'s pixels onto ``end``'s (RGB, any sizes)."""
    a, sa = _grey(start)
    b, sb = _grey(end)
    orb = cv2.ORB_create(nfeatures=_FEATURES, fastThreshold=5)  # type: ignore[attr-defined]
    ka, da = orb.detectAndCompute(a, None)
    kb, db = orb.detectAndCompute(b, None)
    if da is None or db is None or len(ka) < 8 or len(kb) < 8:
        return Alignment(None, 0, 0, "too few features to match")
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < _RATIO * p[1].distance]
    if len(good) < 8:
        return Alignment(None, len(good), 0, "too few matches")
    src = np.array([ka[m.queryIdx].pt for m in good], np.float32)
    dst = np.array([kb[m.trainIdx].pt for m in good], np.float32)
    small, inlier_mask = cv2.findHomography(src, dst, cv2.RANSAC, _TOLERANCE)
    inliers = int(inlier_mask.sum()) if inlier_mask is not None else 0
    if small is None:
        return Alignment(None, len(good), 0, "no consistent map")
    matrix: Matrix = np.linalg.inv(sb) @ small @ sa
    matrix /= matrix[2, 2]
    if inliers < MIN_INLIERS or inliers < MIN_INLIER_SHARE * len(good):
        return Alignment(None, len(good), inliers, f"need {MIN_INLIERS} and a quarter")
    if not _plausible(matrix, start.shape[1], start.shape[0]):
        return Alignment(None, len(good), inliers, "the map folds or flips the picture")
    return Alignment(matrix, len(good), inliers, "one scene")


def _grey(image: Image) -> tuple[np.ndarray, Matrix]:
    """The image in grey at the feature size, and the map from its pixels to that size's."""
    height, width = image.shape[:2]
    factor = min(1.0, _SIDE / max(width, height))
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    sx, sy = size[0] / width, size[1] / height
    scale = np.array([[sx, 0.0, 0.5 * (sx - 1)], [0.0, sy, 0.5 * (sy - 1)], [0.0, 0.0, 1.0]])
    return grey, scale


def _plausible(matrix: Matrix, width: int, height: int) -> bool:
    """The map keeps the frame's corners in front, unflipped, and its area within reason."""
    corners = np.array([[0, width, width, 0], [0, 0, height, height], [1, 1, 1, 1]], float)
    placed = matrix @ corners
    if np.any(placed[2] <= 0):
        return False
    xy = (placed[:2] / placed[2]).T
    area = 0.5 * float(np.sum(xy[:, 0] * np.roll(xy[:, 1], -1) - np.roll(xy[:, 0], -1) * xy[:, 1]))
    change = area / (width * height)
    return 1.0 / _MAX_AREA_CHANGE < change < _MAX_AREA_CHANGE
