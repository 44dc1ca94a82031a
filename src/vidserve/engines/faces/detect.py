"""Find faces: BlazeFace short-range (MediaPipe's front-camera detector) over the image.

The model sees 128x128 squares. The whole image is letterboxed into one (as MediaPipe does);
a wide or tall image is also cut into overlapping squares of its short side, so that a small
face beside others keeps enough pixels. Each square's 896 anchor boxes are decoded, faces cut
by a square's inner edge are dropped (the overlapping square sees them whole), and all are
merged by MediaPipe's weighted non-max suppression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from functools import cache

import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.faces.geometry import Roi, check_image, sample
from vidserve.engines.faces.models import DETECTOR, load

_SIDE = 128
#: Faces scoring less than this are dropped (MediaPipe's default).
MIN_SCORE = 0.5
#: Boxes overlapping more than this (intersection over union) are one face.
_SAME_FACE_IOU = 0.3
# A square is cut where the image's long side exceeds its short side by this much.
_TILE_ABOVE = 1.25


class Keypoint(IntEnum):
    """The detector's six keypoints; left and right are the subject's own."""

    RIGHT_EYE = 0
    LEFT_EYE = 1
    NOSE_TIP = 2
    MOUTH = 3
    RIGHT_EAR = 4
    LEFT_EAR = 5


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face, in image pixels (see :mod:`.geometry` for the convention)."""

    #: ``(x0, y0, x1, y1)``: left, top, right, bottom.
    box: tuple[float, float, float, float]
    #: The detector's confidence, 0..1.
    score: float
    #: ``(6, 2)`` float32, indexed by :class:`Keypoint`.
    keypoints: npt.NDArray[np.float32]

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        """Box centre ``(x, y)``."""
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def area(self) -> float:
        """Box area in square pixels (what "largest" means)."""
        return self.width * self.height


def detect_faces(image: Image, min_score: float = MIN_SCORE) -> list[Face]:
    """Every face in an RGB image, largest first. Loads the detector on first use."""
    check_image(image)
    height, width = image.shape[:2]
    found: list[_Raw] = []
    for x0, y0, side in _windows(width, height):
        window = Roi(x0 + side / 2, y0 + side / 2, side)
        tensor = sample(image, window.to_tensor(_SIDE), _SIDE, -1.0, 1.0)
        # (896, 16) box and keypoint offsets, (896, 1) score logits.
        boxes, scores = sorted(load(DETECTOR).run(tensor), key=lambda t: -t.shape[-1])
        for raw in _decode(boxes, scores, min_score):
            raw = raw.placed(x0, y0, side)
            if not _cut_by_window(raw, x0, y0, side, width, height):
                found.append(raw)
    faces = [r.face(width, height) for r in _weighted_nms(found)]
    return sorted(faces, key=lambda f: f.area, reverse=True)


def largest_face(faces: list[Face]) -> tuple[int, Face] | None:
    """The largest face and its index in ``faces``; None when there is none."""
    if not faces:
        return None
    index = max(range(len(faces)), key=lambda i: faces[i].area)
    return index, faces[index]


@dataclass(frozen=True, eq=False)
class _Raw:
    # Box and keypoints as one row: x0, y0, x1, y1, then 6 (x, y) pairs.
    row: npt.NDArray[np.float64]
    score: float

    def placed(self, x0: float, y0: float, side: float) -> _Raw:
        """From a window's 0..1 coordinates to image pixels."""
        offset = np.tile([x0, y0], 8)
        return _Raw(self.row * side + offset, self.score)

    def face(self, width: int, height: int) -> Face:
        x0, y0, x1, y1 = (float(v) for v in self.row[:4])
        box = (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))
        return Face(box, self.score, self.row[4:].reshape(6, 2).astype(np.float32))


def _windows(width: int, height: int) -> list[tuple[float, float, float]]:
    """``(x0, y0, side)`` squares: the letterboxed whole image, then tiles of a long one."""
    long, short = max(width, height), min(width, height)
    windows = [((width - long) / 2, (height - long) / 2, float(long))]
    if long > _TILE_ABOVE * short:
        count = math.ceil(2 * long / short) - 1  # overlapping by at least half a tile
        for i in range(count):
            start = (long - short) * i / (count - 1)
            windows.append((start, 0.0, short) if width > height else (0.0, start, short))
    return windows


@cache
def _anchors() -> npt.NDArray[np.float64]:
    """The 896 anchor centres, 0..1: MediaPipe's SSD options for this model (4 layers, strides
    8, 16, 16, 16, two anchors per cell and layer, fixed size 1)."""
    centres = []
    for grid, per_cell in ((_SIDE // 8, 2), (_SIDE // 16, 6)):
        ys, xs = np.mgrid[0:grid, 0:grid]
        cells = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], axis=-1).reshape(-1, 2)
        centres.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(centres)


def _decode(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32],
            min_score: float) -> list[_Raw]:
    """Anchor offsets (in input pixels) to boxes and keypoints in the window's 0..1."""
    logits = np.clip(scores[:, 0].astype(np.float64), -100.0, 100.0)
    probability = 1.0 / (1.0 + np.exp(-logits))
    keep = np.flatnonzero(probability >= min_score)
    anchors = _anchors()[keep]
    raw = boxes[keep].astype(np.float64) / _SIDE
    centre = anchors + raw[:, 0:2]
    half = raw[:, 2:4] / 2
    points = anchors[:, None, :] + raw[:, 4:16].reshape(-1, 6, 2)
    rows = np.hstack([centre - half, centre + half, points.reshape(-1, 12)])
    return [_Raw(row, float(p)) for row, p in zip(rows, probability[keep], strict=True)]


def _cut_by_window(raw: _Raw, x0: float, y0: float, side: float, width: int,
                   height: int) -> bool:
    """Whether the face crosses an edge of the window that lies inside the image."""
    bx0, by0, bx1, by1 = raw.row[:4]
    slack = 0.02 * side
    return bool(
        (x0 > 0 and bx0 < x0 - slack) or (y0 > 0 and by0 < y0 - slack)
        or (x0 + side < width and bx1 > x0 + side + slack)
        or (y0 + side < height and by1 > y0 + side + slack)
    )


def _iou(box: npt.NDArray[np.float64], others: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    wide = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    tall = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = wide * tall
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9), dtype=np.float64)


def _weighted_nms(found: list[_Raw]) -> list[_Raw]:
    """MediaPipe's weighted NMS: each strongest remaining box absorbs those overlapping it,
    its coordinates becoming their score-weighted mean; it keeps its own score."""
    if not found:
        return []
    order = sorted(found, key=lambda r: r.score, reverse=True)
    rows = np.stack([r.row for r in order])
    scores = np.array([r.score for r in order])
    left = np.arange(len(order))
    merged: list[_Raw] = []
    while left.size:
        top = left[0]
        same = left[_iou(rows[top], rows[left]) > _SAME_FACE_IOU]
        same = np.union1d(same, [top])
        weights = scores[same] / scores[same].sum()
        merged.append(_Raw(weights @ rows[same], float(scores[top])))
        # Indices follow score order, and setdiff1d keeps them sorted.
        left = np.setdiff1d(left, same, assume_unique=True)
    return merged
