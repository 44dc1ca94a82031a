"""A little head motion for avatars: a slow sway (turn in the picture plane and drift), as a
smooth warp of the head that fades out over the neck, shoulders and background.

The motion is a sum of three slow sines per axis (0.07 to 0.35 Hz) with phases and
frequencies from the request's seed, scaled to at most about 1.5 degrees and 2 % of the
face's width, plus a small nod that follows the speech's loudness. Inside an ellipse around
the head everything moves rigidly; from there to twice its size the motion fades to nothing
(a smoothstep), so the frame's edges never move and nothing outside the head is uncovered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.faces import FACE_OVAL
from vidserve.engines.talk.mouth import smoothstep
from vidserve.engines.talk.warp import Box, Points

Float32 = npt.NDArray[np.float32]

#: Largest turn (degrees), drift (face widths) and speech nod (face widths).
_TURN, _DRIFT, _NOD = 1.5, 0.02, 0.012
_FREQUENCIES = (0.07, 0.35)


@dataclass(frozen=True)
class Sway:
    """The seeded motion: per axis (turn, x, y), three sines' frequencies and phases."""

    frequencies: npt.NDArray[np.float64]
    phases: npt.NDArray[np.float64]

    @classmethod
    def seeded(cls, seed: int) -> Sway:
        rng = np.random.default_rng([seed, 1])  # apart from the blinks' stream
        return cls(rng.uniform(*_FREQUENCIES, (3, 3)), rng.uniform(0, 2 * math.pi, (3, 3)))

    def at(self, t: float) -> tuple[float, float, float]:
        """``(turn, x, y)`` at ``t`` seconds, each in [-1, 1]."""
        waves = np.sin(2 * math.pi * self.frequencies * t + self.phases) @ [0.5, 0.3, 0.2]
        return float(waves[0]), float(waves[1]), float(waves[2])


class HeadMotion:
    """Moves the head of one still picture; :meth:`apply` per frame."""

    def __init__(self, points: Points, width: int, height: int, seed: int) -> None:
        oval = points[list(FACE_OVAL), :2].astype(np.float64)
        self.centre = (oval.min(axis=0) + oval.max(axis=0)) / 2
        size = oval.max(axis=0) - oval.min(axis=0)
        self.face_width = float(size[0])
        # The head with its hair: a bit wider and taller than the face's outline.
        axes = np.array([0.8 * size[0], 0.75 * size[1]])
        corners = np.array([self.centre - 2 * axes, self.centre + 2 * axes], np.float32)
        self.box = Box.around(corners, width, height)
        xs, ys = self.box.grid()
        self.dx = xs - np.float32(self.centre[0])
        self.dy = ys - np.float32(self.centre[1])
        radius = np.sqrt((self.dx / axes[0]) ** 2 + (self.dy / axes[1]) ** 2)
        self.weight = (1 - smoothstep(radius - 1.0)).astype(np.float32)
        self.sway = Sway.seeded(seed)

    def pose(self, t: float, loudness: float) -> tuple[float, float, float]:
        """``(radians, dx, dy)`` of the head at ``t`` seconds, with ``loudness`` in [0, 1]."""
        turn, x, y = self.sway.at(t)
        angle = math.radians(_TURN * turn)
        return (angle, _DRIFT * self.face_width * x,
                _DRIFT * self.face_width * y + _NOD * self.face_width * loudness)  # fmt: skip

    def apply(self, frame: Image, t: float, loudness: float = 0.0) -> Image:
        """``frame`` with the head moved to its pose at ``t`` (a new array)."""
        angle, tx, ty = self.pose(t, loudness)
        cos, sin = math.cos(angle) - 1.0, math.sin(angle)
        # Each output pixel samples where the head came from: p - w(p) (R(p - c) + t - p),
        # a first-order inverse that is exact enough for moves of a few pixels.
        back_x = self.weight * (cos * self.dx - sin * self.dy + np.float32(tx))
        back_y = self.weight * (sin * self.dx + cos * self.dy + np.float32(ty))
        map_x = self.dx + np.float32(self.centre[0]) - back_x
        map_y = self.dy + np.float32(self.centre[1]) - back_y
        out = frame.copy()
        box = self.box
        out[box.y0 : box.y1, box.x0 : box.x1] = cv2.remap(
            frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        return out
