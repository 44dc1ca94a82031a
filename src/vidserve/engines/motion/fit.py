"""Cover-fitting (scale to cover, centre crop) of images, masks and points, and easing."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image, Mask
from vidserve.engines.motion.upscale import SHARP_FROM, enlarge

#: A cover crop that keeps less of the photo than this is worth a line in the log.
SMALL_CROP = 0.4

#: A 3x3 projective transform of pixel coordinates (``float64``).
Matrix = npt.NDArray[np.float64]


def smoothstep(t: float) -> float:
    """Ease-in-out on [0, 1]: zero velocity at both ends, clamped outside."""
    t = min(1.0, max(0.0, t))
    return t * t * (3.0 - 2.0 * t)


def clip_time(index: int, num_frames: int) -> float:
    """Frame ``index``'s position in the clip, 0 at the first frame and 1 at the last."""
    return index / (num_frames - 1) if num_frames > 1 else 0.0


@dataclass(frozen=True)
class CoverFit:
    """Scale a ``src_w x src_h`` image to cover ``width x height``, then crop the centre.

    The resize goes to whole pixels (``resized_w x resized_h``) and the crop starts at a
    whole pixel, so one resample does the fit and images, masks and points all agree on the
    same map (the aspect may change by under a pixel from rounding).
    """

    src_w: int
    src_h: int
    width: int
    height: int
    resized_w: int
    resized_h: int
    crop_x: int
    crop_y: int

    @classmethod
    def create(cls, src_w: int, src_h: int, width: int, height: int) -> CoverFit:
        """The fit of a ``src_w x src_h`` image onto a ``width x height`` frame."""
        if min(src_w, src_h, width, height) <= 0:
            raise ValueError("sizes must be positive")
        scale = max(width / src_w, height / src_h)
        resized_w = max(width, round(src_w * scale))
        resized_h = max(height, round(src_h * scale))
        return cls(
            src_w,
            src_h,
            width,
            height,
            resized_w,
            resized_h,
            (resized_w - width) // 2,
            (resized_h - height) // 2,
        )

    @property
    def scale(self) -> float:
        """The (larger) scale factor from source pixels to output pixels."""
        return max(self.resized_w / self.src_w, self.resized_h / self.src_h)

    @property
    def kept(self) -> float:
        """The share of the photo's area the crop keeps (1: none cut away)."""
        return (self.width * self.height) / (self.resized_w * self.resized_h)

    def notes(self, what: str = "the photo") -> list[str]:
        """Log lines for a fit that costs picture quality: a large enlargement (and how it
        is done) and a crop that keeps little of the photo."""
        lines = []
        if self.scale > SHARP_FROM:
            lines.append(
                f"{what} ({self.src_w}x{self.src_h}) is enlarged {self.scale:.2f}x to cover "
                f"{self.width}x{self.height} (back-projected Lanczos with edge-aware "
                "sharpening; a larger photo would be sharper)"
            )
        if self.kept < SMALL_CROP:
            lines.append(
                f"the {self.width}x{self.height} frame keeps only {self.kept:.0%} of "
                f"{what} ({self.src_w}x{self.src_h}): the rest is cropped away"
            )
        return lines

    def image(self, image: Image) -> Image:
        """Fit an RGB image; area-averaging when shrinking avoids aliasing, and a large
        enlargement is edge-directed (:mod:`.upscale`) rather than bicubic."""
        self._check(image.shape[:2])
        shrinking = self.resized_w * self.resized_h < self.src_w * self.src_h
        if shrinking:
            resized = cv2.resize(
                image, (self.resized_w, self.resized_h), interpolation=cv2.INTER_AREA
            )
        else:
            resized = enlarge(image, self.resized_w, self.resized_h)
        return self._crop(cast(Image, resized))

    def soft_mask(self, mask: Mask) -> Mask:
        """Fit a soft (0..255) mask, keeping its grey levels (linear resize, no threshold)."""
        resized = cv2.resize(mask, (self.resized_w, self.resized_h), interpolation=cv2.INTER_LINEAR)
        return self._crop(cast(Mask, resized))

    def mask(self, mask: Mask) -> Mask:
        """Fit a mask: linear resize, then threshold back to 0/255 at the midpoint."""
        if mask.shape[:2] != (self.src_h, self.src_w):
            # Adapters check the aspect matches the image; the resolution may still differ.
            mask = cast(
                Mask, cv2.resize(mask, (self.src_w, self.src_h), interpolation=cv2.INTER_LINEAR)
            )
        return np.where(self.soft_mask(mask) >= 128, 255, 0).astype(np.uint8)

    def point(self, x: float, y: float) -> tuple[float, float]:
        """Map a source pixel position (top-left origin, pixel centres at integers)."""
        sx = self.resized_w / self.src_w
        sy = self.resized_h / self.src_h
        return (x + 0.5) * sx - 0.5 - self.crop_x, (y + 0.5) * sy - 0.5 - self.crop_y

    def _check(self, shape: tuple[int, ...]) -> None:
        if shape != (self.src_h, self.src_w):
            raise ValueError(f"expected a {self.src_w}x{self.src_h} image, got {shape[::-1]}")

    def _crop(self, array: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        cropped = array[
            self.crop_y : self.crop_y + self.height, self.crop_x : self.crop_x + self.width
        ]
        return np.ascontiguousarray(cropped)


def pixel_scale(sx: float, sy: float) -> Matrix:
    """Scale by ``(sx, sy)`` in pixel-centre coordinates (the image corner stays fixed)."""
    # With pixel centres at integers, the image spans [-0.5, size - 0.5]: scale about -0.5.
    return np.array(
        [[sx, 0.0, 0.5 * (sx - 1.0)], [0.0, sy, 0.5 * (sy - 1.0)], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )


def disc(radius: float) -> npt.NDArray[np.uint8]:
    """A round structuring element of the given radius (at least one pixel)."""
    r = max(1, math.ceil(radius))
    return cast(
        npt.NDArray[np.uint8], cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    )
