"""Rotated square regions of an image and sampling them into a model's input tensor.

Coordinates are continuous pixels: ``(0, 0)`` is the image's top-left corner and the pixel
``(i, j)`` covers ``[i, i+1) x [j, j+1)``, so its centre is ``(i + 0.5, j + 0.5)``. Every
model input is cut with one affine map, and its outputs are mapped back with the same map, so
points land where the model saw them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image

Points = npt.NDArray[np.float32]
Affine = npt.NDArray[np.float64]
Tensor = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Roi:
    """A square of side ``size`` centred on ``(cx, cy)``, turned ``angle`` radians clockwise
    (y points down) about its centre."""

    cx: float
    cy: float
    size: float
    angle: float = 0.0

    def to_tensor(self, side: int) -> Affine:
        """The 2x3 map from image points to the points of a ``side`` x ``side`` upright crop."""
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        k = side / self.size
        # Undo the turn about the centre, scale, then put the centre in the crop's middle.
        a = np.array([[cos, sin], [-sin, cos]]) * k
        shift = np.array([side / 2, side / 2]) - a @ np.array([self.cx, self.cy])
        return np.hstack([a, shift[:, None]])


def apply(matrix: Affine, points: Points) -> Points:
    """``points`` (N, 2) through a 2x3 affine map."""
    out = points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    return out.astype(np.float32)


def invert(matrix: Affine) -> Affine:
    """The inverse of a 2x3 affine map."""
    return np.asarray(cv2.invertAffineTransform(matrix), dtype=np.float64)


def sample(image: Image, matrix: Affine, side: int, low: float, high: float) -> Tensor:
    """The ``side`` x ``side`` float32 tensor that ``matrix`` (image -> tensor points) cuts,
    values scaled from 0..255 to ``low``..``high``; outside the image is ``low``."""
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    if scale < 0.5:
        # Shrinking a lot: area-average the part that is used first, so the crop is not an
        # aliased pick of single pixels (a face at 1080p is many times the model's input).
        image, matrix = _shrunk(image, matrix, side, scale)
    index = matrix.copy()
    # cv2 maps pixel indices, whose centres sit half a pixel in from our points.
    index[:, 2] += 0.5 * matrix[:, :2].sum(axis=1) - 0.5
    crop = cv2.warpAffine(
        image, index, (side, side), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
    )
    return (crop.astype(np.float32) * ((high - low) / 255.0) + low).astype(np.float32)


def _shrunk(image: Image, matrix: Affine, side: int, scale: float) -> tuple[Image, Affine]:
    height, width = image.shape[:2]
    corners = apply(invert(matrix), np.array([[0, 0], [side, 0], [0, side], [side, side]],
                                             dtype=np.float32))
    x0 = max(0, math.floor(float(corners[:, 0].min())) - 1)
    y0 = max(0, math.floor(float(corners[:, 1].min())) - 1)
    x1 = min(width, math.ceil(float(corners[:, 0].max())) + 1)
    y1 = min(height, math.ceil(float(corners[:, 1].max())) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image, matrix
    part = image[y0:y1, x0:x1]
    w, h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    small: Image = np.ascontiguousarray(
        cv2.resize(part, (w, h), interpolation=cv2.INTER_AREA), dtype=np.uint8
    )
    # small point = (image point - (x0, y0)) * (w / width_of_part, h / height_of_part)
    sx, sy = w / (x1 - x0), h / (y1 - y0)
    to_image = np.array([[1 / sx, 0, x0], [0, 1 / sy, y0], [0, 0, 1]])
    return small, np.asarray(matrix @ to_image, dtype=np.float64)


def eye_line_angle(right_eye: npt.ArrayLike, left_eye: npt.ArrayLike) -> float:
    """How far the line from the subject's right eye (image left) to the left eye is turned
    clockwise from horizontal, in radians."""
    rx, ry = np.asarray(right_eye, dtype=np.float64)[:2]
    lx, ly = np.asarray(left_eye, dtype=np.float64)[:2]
    return math.atan2(ly - ry, lx - rx)


def check_image(image: Image) -> None:
    """Raise ValueError unless ``image`` is an RGB ``uint8`` array of shape (h, w, 3)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"face models take an RGB uint8 image of shape (height, width, 3); got "
            f"{image.dtype} {image.shape}"
        )
