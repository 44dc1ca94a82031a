"""Effects that bend the photo: squish, expansion (inflate) and dizzydizzy (swirl).

Each is a field that says, for every output pixel, where in the photo to sample; its
strength grows from nothing (frame 0 is the photo) to full. Squish and expansion move the
subject (:mod:`.subject`) and leave the picture around it alone: the field is weighted by
a soft box around where the subject is and will be, falling to no displacement outside.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.motion.fit import clip_time, smoothstep
from vidserve.engines.motion.outpaint import defocus
from vidserve.engines.motion.subject import Subject

Field = npt.NDArray[np.float32]
#: Maps strength in [0, 1] to the sampling positions ``(map_x, map_y)``.
Deformation = Callable[[float], tuple[Field, Field]]

#: Squish: the subject ends at this share of its height, and this much wider.
SQUASHED_HEIGHT = 0.5
SQUASH_BULGE = 0.15
#: Expansion: the subject ends this much larger, its middle puffed this much more again.
GROWTH = 0.5
PUFF = 0.15
#: Dizzydizzy: the swirl's turn at the centre at full strength, and its reach (a share of
#: the half-diagonal; the corners stay put).
TWIST = 3.0 * math.pi
SWIRL_REACH = 0.9
#: Squish and expansion reach full strength this far through the clip, then hold.
DEFORM_BY = 0.85
#: How out of focus what lies beyond the photo's edge is: a share of its longer side.
BACKDROP_BLUR = 0.08


class DeformRender:
    """Frames of ``photo`` (already output-sized) under ``deformation``."""

    def __init__(
        self, photo: Image, deformation: Deformation, num_frames: int, by: float = 1.0
    ) -> None:
        self.num_frames = num_frames
        self._photo = photo
        # What a sample beyond the photo finds (a squished subject uncovers what was above
        # the frame): the photo mirrored at its edge and out of focus, a continuation that
        # reads as background, rather than its edge rows smeared inwards. RGBX: OpenCV's
        # remap has vector code for 4 channels, not 3.
        height, width = photo.shape[:2]
        self._pad = pad = max(height, width) // 2
        photo4 = cv2.cvtColor(photo, cv2.COLOR_RGB2RGBA)
        mirrored = cv2.copyMakeBorder(photo4, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        extended = defocus(cast(Image, mirrored), BACKDROP_BLUR * max(height, width), 8)
        extended[pad : pad + height, pad : pad + width] = photo4
        self._extended = extended
        self._deformation = deformation
        self._by = by

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        strength = smoothstep(clip_time(index, self.num_frames) / self._by)
        if strength == 0.0:
            return self._photo.copy()
        map_x, map_y = self._deformation(strength)
        pad = np.float32(self._pad)
        out = cv2.remap(
            self._extended,
            map_x + pad,
            map_y + pad,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return cast(Image, cv2.cvtColor(out, cv2.COLOR_RGBA2RGB))


def _grid(width: int, height: int) -> tuple[Field, Field]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def _soft_box(
    box: tuple[float, float, float, float], width: int, height: int, margin: float
) -> Field:
    """1 inside ``box`` (x0, y0, x1, y1) grown by ``margin``, falling smoothly to 0 about
    ``margin`` further out: the rectangle blurred by a Gaussian of sigma ``margin / 2``,
    worked out exactly (a blurred rectangle is the product of two blurred intervals)."""
    x0, y0, x1, y1 = box
    sigma = max(1.0, margin / 2) * math.sqrt(2.0)

    def interval(size: int, lo: float, hi: float) -> npt.NDArray[np.float64]:
        at = np.arange(size, dtype=np.float64)
        erf = np.vectorize(math.erf)
        return 0.5 * (erf((at - lo) / sigma) - erf((at - hi) / sigma))  # type: ignore[no-any-return]

    across = interval(width, x0 - margin - 0.5, x1 + margin - 0.5)
    down = interval(height, y0 - margin - 0.5, y1 + margin - 0.5)
    # At ``margin`` from the rectangle's edge a Gaussian of sigma margin/2 leaves 97.7 %.
    return np.clip(np.outer(down, across) * 1.03, 0.0, 1.0).astype(np.float32)


def squish(subject: Subject, width: int, height: int) -> Deformation:
    """Flatten the subject onto its bottom edge, bulging it a little sideways."""
    xs, ys = _grid(width, height)
    x0, y0, x1, y1 = subject.box
    floor = y1 - 0.5  # the subject's bottom edge stays where it is
    centre_x = subject.centre[0]
    margin = 0.04 * max(width, height) + SQUASH_BULGE * (x1 - x0) / 2
    weight = _soft_box((x0, y0, x1, y1), width, height, margin)
    above = np.minimum(ys - floor, 0.0)
    # Nothing below the floor moves; the sideways bulge fades out over two rows there.
    sideways = weight * np.clip((floor + 2.0 - ys) / 2.0, 0.0, 1.0)

    def at(strength: float) -> tuple[Field, Field]:
        squash = 1.0 - (1.0 - SQUASHED_HEIGHT) * strength
        widen = 1.0 + SQUASH_BULGE * strength
        map_y = ys + weight * above * np.float32(1.0 / squash - 1.0)
        map_x = xs + sideways * (xs - centre_x) * np.float32(1.0 / widen - 1.0)
        return cast(Field, map_x), cast(Field, map_y)

    return at


def expansion(subject: Subject, width: int, height: int) -> Deformation:
    """Inflate the subject about its centre like a balloon: larger, its middle most."""
    xs, ys = _grid(width, height)
    x0, y0, x1, y1 = subject.box
    cx, cy = subject.centre
    grow = 1.0 + GROWTH + PUFF
    half_w, half_h = (x1 - x0) / 2 * grow, (y1 - y0) / 2 * grow
    grown = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    weight = _soft_box(grown, width, height, 0.04 * max(width, height))
    dx, dy = xs - np.float32(cx), ys - np.float32(cy)
    # 1 at the centre, 0 at the grown box's inscribed ellipse and beyond: where to puff.
    middle = np.clip(1.0 - (dx / half_w) ** 2 - (dy / half_h) ** 2, 0.0, 1.0)

    def at(strength: float) -> tuple[Field, Field]:
        scale = (1.0 + GROWTH * strength) * (1.0 + PUFF * strength * middle)
        keep = 1.0 - weight * (1.0 - 1.0 / scale)
        return cast(Field, cx + dx * keep), cast(Field, cy + dy * keep)

    return at


def swirl(width: int, height: int) -> Deformation:
    """Twist the picture about its centre, most at the centre, turning ever further."""
    xs, ys = _grid(width, height)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    dx, dy = xs - np.float32(cx), ys - np.float32(cy)
    reach = SWIRL_REACH * math.hypot(width, height) / 2
    profile = np.clip(1.0 - np.hypot(dx, dy) / np.float32(reach), 0.0, 1.0) ** 2

    def at(strength: float) -> tuple[Field, Field]:
        # Content turns clockwise on screen by ``turn``: sample ``turn`` back from it.
        turn = profile * np.float32(TWIST * strength)
        cos, sin = np.cos(turn), np.sin(turn)
        map_x = cx + dx * cos + dy * sin
        map_y = cy - dx * sin + dy * cos
        return cast(Field, map_x.astype(np.float32)), cast(Field, map_y.astype(np.float32))

    return at
