"""Blinks: when they happen, and the eyelids closing as a mesh warp.

A blink comes every 2 to 6 seconds (uniformly, from the request's seed) and lasts about a
quarter second: the lid falls in 80 ms, rests 60 ms and rises in 130 ms, as real blinks do.
To close an eye, each upper-lid landmark moves most of the way to the lower-lid point facing
it and the lower lid rises a little; two rows of points above the lid follow part of the way
(the lid's skin stretching down), and a fixed ring around the eye keeps the brow and cheek
still. The warp alone would drag the lashes and the eye's edge down into a dark smear, so the
part of the eye the lid has swept over is painted in the lid's own skin colour (the median
of the skin above the lid), with a thin line of lashes along the lid's edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.faces import LEFT_EYE, RIGHT_EYE
from vidserve.engines.talk.mouth import smoothstep
from vidserve.engines.talk.warp import Box, Points, Triangles, triangulate, warp_into

#: Seconds between blinks, and the first one's earliest and latest start.
BLINK_EVERY = (2.0, 6.0)
_FIRST = (0.6, 3.0)
#: The lid's fall, rest and rise, in seconds.
_FALL, _HOLD, _RISE = 0.08, 0.06, 0.13
#: How far the upper lid travels toward the lower, and the lower toward the upper.
_UPPER_TRAVEL, _LOWER_TRAVEL = 0.9, 0.12
#: Rows above the lid (in eye widths) and the share of the lid's travel each follows.
_ROWS = ((0.12, 0.55), (0.26, 0.2))


def blink_times(seed: int, duration: float) -> list[float]:
    """When each blink starts, in seconds, for a clip of ``duration`` seconds."""
    rng = np.random.default_rng(seed)
    times, at = [], float(rng.uniform(*_FIRST))
    while at < duration:
        times.append(at)
        at += float(rng.uniform(*BLINK_EVERY))
    return times


def closure(times: list[float], t: float) -> float:
    """How closed the eyes are at ``t`` seconds: 0 open, 1 shut."""
    for start in times:
        into = t - start
        if 0 <= into < _FALL:
            return float(smoothstep(np.array(into / _FALL)))
        if _FALL <= into < _FALL + _HOLD:
            return 1.0
        if _FALL + _HOLD <= into < _FALL + _HOLD + _RISE:
            return 1.0 - float(smoothstep(np.array((into - _FALL - _HOLD) / _RISE)))
    return 0.0


@dataclass(frozen=True)
class EyeMesh:
    """The control points around one eye: its contour, rows above the lid, a fixed ring."""

    src: Points
    triangles: Triangles
    #: Per control point, what a full blink adds to it.
    shut: Points
    #: The lid's skin and the lashes' colour (RGB), and the eye's width in pixels.
    skin: npt.NDArray[np.float64]
    lashes: npt.NDArray[np.float64]
    width: float

    @classmethod
    def build(cls, image: Image, points: Points, contour: tuple[int, ...]) -> EyeMesh:
        """The mesh for the eye whose lid loop is ``contour`` (:data:`RIGHT_EYE` or
        :data:`LEFT_EYE`: outer corner, upper lid, inner corner, lower lid) in ``image``."""
        p = points[:, :2].astype(np.float64)
        loop = p[list(contour)]
        outer, inner = loop[0], loop[8]
        width = float(np.linalg.norm(inner - outer))
        along = (inner - outer) / max(width, 1e-6)
        # "Up" is away from the lower lid, whichever way the eye's corners are ordered.
        up = np.array([along[1], -along[0]])
        if float((loop[1:8].mean(axis=0) - loop[9:].mean(axis=0)) @ up) < 0:
            up = -up
        upper, lower = loop[1:8], loop[9:][::-1]  # each from the outer corner inward
        apart = lower - upper
        rows = [upper + up * width * rise for rise, _ in _ROWS]
        centre = (outer + inner) / 2
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        ring = centre + np.outer(np.cos(angles), along) * 0.95 * width
        ring += np.outer(np.sin(angles), up) * 0.8 * width
        src = np.concatenate([[outer, inner], upper, lower, *rows, ring])
        shut = np.concatenate([
            np.zeros((2, 2)), apart * _UPPER_TRAVEL, -apart * _LOWER_TRAVEL,
            *[apart * _UPPER_TRAVEL * share for _, share in _ROWS], np.zeros((16, 2)),
        ])  # fmt: skip
        src32 = src.astype(np.float32)
        skin, lashes = _colours(image, upper, up, width)
        return cls(src32, triangulate(src32), shut.astype(np.float32), skin, lashes, width)

    def moved(self, amount: float) -> Points:
        """The control points with the eye ``amount`` (0..1) shut."""
        return self.src + self.shut * np.float32(amount)

    def close(self, out: Image, amount: float) -> None:
        """Shut the eye in ``out`` by ``amount`` (0..1), in place."""
        if amount <= 0.0:
            return
        height, width = out.shape[:2]
        dst = self.moved(amount)
        warp_into(out, out, self.src, dst, self.triangles, Box.around(self.src, width, height))
        # The swept part: from the lid's old edge (with the corners) to its new one.
        edge_before = self.src[[0, *range(2, 9), 1]]
        edge_after = dst[[0, *range(2, 9), 1]]
        swept = np.concatenate([edge_before, edge_after[::-1]])
        box = Box.around(swept, width, height, margin=3)
        if box.empty:
            return
        shape = (box.y1 - box.y0, box.x1 - box.x0)
        offset = np.array([box.x0, box.y0], np.float32)
        cover = np.zeros(shape, np.uint8)
        cv2.fillPoly(cover, [_fixed(swept - offset)], 255, cv2.LINE_AA, _SHIFT)
        line = np.zeros(shape, np.uint8)
        thickness = max(1, round(0.05 * self.width))
        cv2.polylines(line, [_fixed(edge_after - offset)], False, 255, thickness, cv2.LINE_AA,
                      _SHIFT)  # fmt: skip
        region = out[box.y0 : box.y1, box.x0 : box.x1].astype(np.float64)
        soft = np.asarray(cv2.GaussianBlur(cover, (0, 0), max(0.6, 0.03 * self.width)))
        alpha = (soft.astype(np.float64) / 255.0)[..., None]
        region = region * (1 - alpha) + self.skin * alpha
        lash = (line.astype(np.float64) / 255.0 * min(1.0, 1.5 * amount))[..., None]
        region = region * (1 - lash) + self.lashes * lash
        out[box.y0 : box.y1, box.x0 : box.x1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)


_SHIFT = 4


def _fixed(points: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    return np.round(points * (1 << _SHIFT)).astype(np.int32)


def _colours(
    image: Image, upper: npt.NDArray[np.float64], up: npt.NDArray[np.float64], width: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The lid's skin (the median of the skin under the brow and under the eye, a little
    darker, as a lid is) and its lashes (the darkest quarter of the lid's edge)."""
    height, image_width = image.shape[:2]

    def sample(rows: list[float]) -> npt.NDArray[np.float64]:
        spots = np.concatenate([upper + up * width * r for r in rows])
        xs = np.clip(np.round(spots[:, 0]).astype(int), 0, image_width - 1)
        ys = np.clip(np.round(spots[:, 1]).astype(int), 0, height - 1)
        return np.asarray(image[ys, xs], dtype=np.float64)

    skin = np.median(sample([0.32, 0.38, -0.42, -0.48]), axis=0) * 0.95
    edge = sample([0.0, 0.03])
    lashes = edge[np.argsort(edge.sum(axis=1))[: max(1, len(edge) // 4)]].mean(axis=0)
    return skin, lashes


def eye_meshes(image: Image, points: Points) -> tuple[EyeMesh, EyeMesh]:
    """Both eyes' meshes in ``image``."""
    return EyeMesh.build(image, points, RIGHT_EYE), EyeMesh.build(image, points, LEFT_EYE)
