"""Fuzzyfuzzy: fur grows over the subject.

Fur is thousands of thin, slightly curved strands rooted in the subject (:mod:`.subject`),
each the photo's colour at its root, a little lighter or darker. They point outwards: along
the outward normal of the subject's outline where it is near (so the silhouette turns
fuzzy), away from the subject's centre deeper inside, with a little droop and a random lean.
Each strand starts growing at its own moment and lengthens to its full length by the end.
The strands are seeded (the request's seed) and drawn over the photo, so frame 0, with no
fur yet, is the photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.motion.fit import clip_time
from vidserve.engines.motion.subject import find_subject

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]

#: A full-grown strand's length, as a share of the shorter side.
_LENGTH = 0.05
#: How many strands cover each point of the subject, on average, once fully grown.
_COVER = 2.5
_MAX_STRANDS = 12000
#: Strands start growing in this part of the clip and take this long to grow.
_BIRTHS = (0.0, 0.45)
_GROW = 0.5
#: Colours are grouped to this many levels per channel, so each group is one draw call.
_LEVELS = 12
_SHIFT = 3  # drawing precision: 1/8 px


@dataclass(frozen=True)
class Strands:
    """Every strand's root, unit direction, bend, full length, colour and birth time."""

    roots: Floats  # (n, 2)
    directions: Floats  # (n, 2)
    bends: Floats  # (n,), a share of the length, sideways
    lengths: Floats  # (n,)
    colours: npt.NDArray[np.int64]  # (n, 3)
    born: Floats  # (n,)


def grow_strands(photo: Image, seed: int) -> tuple[Strands, int]:
    """The strands for ``photo`` and the line thickness to draw them with."""
    height, width = photo.shape[:2]
    rng = np.random.default_rng(seed)
    subject = find_subject(photo)
    inside = subject.mask > 0
    thickness = max(1, round(min(width, height) / 500))
    length = _LENGTH * min(width, height)
    area = int(np.count_nonzero(inside))
    count = min(_MAX_STRANDS, max(1, round(_COVER * area / (length * thickness))))
    ys, xs = np.nonzero(inside)
    pick = rng.integers(0, len(xs), count)
    roots = np.stack([xs[pick], ys[pick]], axis=1) + rng.uniform(-0.5, 0.5, (count, 2))
    rx, ry = xs[pick], ys[pick]
    normal = _outward(inside, length, rx, ry)
    near_edge = np.clip(np.linalg.norm(normal, axis=1, keepdims=True) * length * 4, 0, 1)
    normal = _unit(normal)
    radial = _unit(roots - np.array(subject.centre))
    droop = np.array([0.0, 0.35])
    directions = _unit(near_edge * normal + (1 - near_edge) * radial + droop)
    lean = rng.normal(0.0, 0.35, count)  # radians
    cos, sin = np.cos(lean), np.sin(lean)
    directions = np.stack(
        [directions[:, 0] * cos - directions[:, 1] * sin,
         directions[:, 0] * sin + directions[:, 1] * cos], axis=1
    )  # fmt: skip
    # Colour from a little inside the outline: the border pixels mix in the background.
    inward = np.rint(roots - normal * near_edge * 3 * thickness).astype(np.int64)
    cx = np.clip(inward[:, 0], 0, width - 1)
    cy = np.clip(inward[:, 1], 0, height - 1)
    base = cv2.GaussianBlur(photo, (0, 0), 1.0)[cy, cx].astype(np.float64)
    shade = rng.uniform(0.7, 1.35, (count, 1))
    colours = np.clip(base * shade, 0, 255)
    step = 255 / (_LEVELS - 1)
    grouped = (np.rint(colours / step) * step).astype(np.int64)
    strands = Strands(
        roots=roots,
        directions=directions,
        bends=rng.uniform(-0.3, 0.3, count),
        lengths=length * rng.uniform(0.6, 1.0, count),
        colours=grouped,
        born=rng.uniform(*_BIRTHS, count),
    )
    return strands, thickness


def _outward(inside: npt.NDArray[np.bool_], length: float, xs: Ints, ys: Ints) -> Floats:
    """The outward normal at each ``(xs, ys)``: down the slope of the mask blurred by
    ``length`` (worked out at a reduced size when that is wide: it is smooth anyway)."""
    height, width = inside.shape
    factor = max(1, int(length // 8))
    size = (max(1, width // factor), max(1, height // factor))
    small = cv2.resize(inside.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    soft = cv2.GaussianBlur(small, (0, 0), max(1.0, length / factor))
    grad_y, grad_x = np.gradient(soft)
    sx = np.clip(xs * size[0] // width, 0, size[0] - 1)
    sy = np.clip(ys * size[1] // height, 0, size[1] - 1)
    # Per output pixel: the small image's slope is per small pixel.
    return -np.stack([grad_x[sy, sx], grad_y[sy, sx]], axis=1).astype(np.float64) / factor


def _unit(vectors: Floats) -> Floats:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return cast(Floats, vectors / np.maximum(norms, 1e-9))


class FurRender:
    """Frames of fur growing over ``photo`` (already output-sized)."""

    def __init__(self, photo: Image, num_frames: int, seed: int) -> None:
        self.num_frames = num_frames
        self._photo = photo
        self.strands, self._thickness = grow_strands(photo, seed)
        # One draw call per colour: the strands' indices for each distinct colour.
        keys = self.strands.colours @ np.array([1 << 16, 1 << 8, 1])
        order = np.argsort(keys, kind="stable")
        bounds = np.flatnonzero(np.diff(keys[order])) + 1
        self._groups = np.split(order, bounds)

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        t = clip_time(index, self.num_frames)
        s = self.strands
        growth = np.clip((t - s.born) / _GROW, 0.0, 1.0)
        growth = growth * growth * (3 - 2 * growth)
        frame = self._photo.copy()
        if not np.any(growth > 0):
            return frame
        reach = (s.lengths * growth)[:, None]
        side = np.stack([-s.directions[:, 1], s.directions[:, 0]], axis=1)
        bend = side * (s.bends[:, None] * reach)
        middle = s.roots + s.directions * reach * 0.5 + bend * 0.5
        tip = s.roots + s.directions * reach + bend
        points = np.rint(np.stack([s.roots, middle, tip], axis=1) * (1 << _SHIFT)).astype(np.int32)
        visible = reach[:, 0] >= 0.3
        for group in self._groups:
            group = group[visible[group]]
            if len(group):
                colour = tuple(int(c) for c in s.colours[group[0]])
                cv2.polylines(
                    frame, list(points[group]), False, colour, self._thickness, cv2.LINE_AA,
                    _SHIFT,
                )  # fmt: skip
        return frame
