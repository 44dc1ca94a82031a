"""Pictures for the face tests that need no model."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image


def texture(seed: int = 0) -> Image:
    """A faceless picture: scikit-image's brick wall, in colour, with a little noise."""
    from skimage import data

    brick = np.repeat(data.brick()[:, :, None], 3, axis=2).astype(np.int16)
    noise = np.random.default_rng(seed).integers(-8, 9, brick.shape)
    return np.clip(brick + noise, 0, 255).astype(np.uint8)


def open_mouth(image: Image, points: npt.NDArray[np.float32], amount: float) -> Image:
    """The face with its jaw pulled down by ``amount`` mouth widths (OpenCV's remap): below
    the upper lip everything moves down, fading out across the jaw's width and under the
    chin; the opening between the lips is filled dark."""
    height, width = image.shape[:2]
    right, left = points[61, :2], points[291, :2]
    mouth = float(np.linalg.norm(left - right))
    drop = amount * mouth
    cx = float(right[0] + left[0]) / 2
    top, chin = float(points[13, 1]), float(points[152, 1])
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    across = np.clip(1 - np.abs(xs - cx) / (0.9 * mouth), 0, 1)
    across = across * across * (3 - 2 * across)
    below = np.clip((ys - top) / drop, 0, 1)
    fade = np.clip((chin + 1.5 * drop - ys) / (chin + 1.5 * drop - top), 0, 1)
    shift = (drop * across * np.minimum(below, fade)).astype(np.float32)
    out = cv2.remap(image, xs, ys - shift, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    upper = points[[78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308], :2]
    lower = upper[::-1].copy()
    lower[:, 1] += drop * np.clip(1 - np.abs(lower[:, 0] - cx) / (0.9 * mouth), 0, 1)
    cv2.fillPoly(out, [np.vstack([upper, lower]).astype(np.int32)], (60, 25, 30), cv2.LINE_AA)
    return np.asarray(out, dtype=np.uint8)


def shifted(image: Image, dx: int, dy: int, pad: int = 80) -> Image:
    """``image`` with its content moved by ``(dx, dy)`` pixels, the edges filled by
    reflection (so no border moves with it)."""
    height, width = image.shape[:2]
    big = cv2.copyMakeBorder(np.asarray(image), pad, pad, pad, pad, cv2.BORDER_REFLECT)
    return np.ascontiguousarray(big[pad - dy : pad - dy + height, pad - dx : pad - dx + width])
