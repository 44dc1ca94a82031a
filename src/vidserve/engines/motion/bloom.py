"""Bloombloom: flowers grow and open over the photo.

The flowers are procedural and seeded (the request's seed), so a seed gives the same
garden every time. They stand on a jittered grid, one to a cell with some cells left
empty, each with its own petal count, colour, size, turn and the moment it starts to grow;
a flower grows from a closed bud (its petals bunched together) to a full, open flower. The
photo is never warped, only drawn over: frame 0 has no flowers, so it is the photo.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import cv2
import numpy as np

from vidserve.engines.base import Image
from vidserve.engines.motion.fit import clip_time, smoothstep

#: Petal colours as (hue in [0, 1), saturation, value): pinks, red, coral, yellow, lilac,
#: white.
_PALETTE = (
    (0.93, 0.55, 1.0),
    (0.97, 0.75, 0.95),
    (0.0, 0.85, 0.9),
    (0.03, 0.6, 1.0),
    (0.14, 0.8, 1.0),
    (0.78, 0.45, 0.95),
    (0.0, 0.04, 1.0),
)
#: A full-grown flower's radius, as a share of the shorter side.
_RADIUS = (0.07, 0.12)
#: A share of the grid cells that grows no flower.
_EMPTY = 0.2
#: Flowers start growing in this part of the clip and take this long to open.
_BIRTHS = (0.0, 0.6)
_GROW = (0.25, 0.4)
#: Sub-pixel precision of OpenCV's drawing (coordinates in 1/16 px).
_SHIFT = 4


@dataclass(frozen=True)
class Flower:
    """One flower: where, how large, how many petals, its colours and its timing."""

    x: float
    y: float
    radius: float
    petals: int
    turn: float  # radians: where its first petal points
    colour: tuple[int, int, int]
    heart: tuple[int, int, int]
    born: float  # clip time it starts to grow
    grows: float  # clip time it takes to open


def plant(width: int, height: int, seed: int) -> list[Flower]:
    """The garden for a ``width x height`` frame, in the order to draw it (oldest first)."""
    rng = np.random.default_rng(seed)
    short = min(width, height)
    cell = 2.0 * _RADIUS[0] * short * 1.45
    columns, rows = max(1, round(width / cell)), max(1, round(height / cell))
    flowers = []
    for row in range(rows):
        for column in range(columns):
            if rng.random() < _EMPTY:
                continue
            hue, sat, val = _PALETTE[int(rng.integers(len(_PALETTE)))]
            red, green, blue = colorsys.hsv_to_rgb(
                (hue + rng.uniform(-0.02, 0.02)) % 1.0, sat, val * rng.uniform(0.85, 1.0)
            )
            heart_hue = 0.12 if sat > 0.1 else 0.15
            heart = colorsys.hsv_to_rgb(heart_hue, 0.9, rng.uniform(0.7, 1.0))
            flowers.append(
                Flower(
                    x=(column + rng.uniform(0.1, 0.9)) * width / columns,
                    y=(row + rng.uniform(0.1, 0.9)) * height / rows,
                    radius=rng.uniform(*_RADIUS) * short,
                    petals=int(rng.integers(5, 9)),
                    turn=rng.uniform(0, 2 * math.pi),
                    colour=(round(red * 255), round(green * 255), round(blue * 255)),
                    heart=(round(heart[0] * 255), round(heart[1] * 255), round(heart[2] * 255)),
                    born=rng.uniform(*_BIRTHS),
                    grows=rng.uniform(*_GROW),
                )
            )
    flowers.sort(key=lambda flower: flower.born)
    return flowers


class BloomRender:
    """Frames of flowers blooming over ``photo`` (already output-sized)."""

    def __init__(self, photo: Image, num_frames: int, seed: int) -> None:
        self.num_frames = num_frames
        self._photo = photo
        height, width = photo.shape[:2]
        self.flowers = plant(width, height, seed)

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        t = clip_time(index, self.num_frames)
        frame = self._photo.copy()
        for flower in self.flowers:
            growth = smoothstep((t - flower.born) / flower.grows)
            if growth > 0.0:
                _draw(frame, flower, growth)
        return frame


def _draw(frame: Image, flower: Flower, growth: float) -> None:
    """One flower ``growth`` (0..1) of the way from a bud to open."""
    size = flower.radius * (0.25 + 0.75 * growth)
    if size < 0.5:
        return
    # Petals fan out from bunched (a bud pointing along ``turn``) to evenly round.
    opened = smoothstep((growth - 0.15) / 0.85)
    spread = 0.18 + 0.82 * opened
    length, breadth = size, size * (0.3 + 0.22 * opened)
    dark = tuple(round(c * 0.72) for c in flower.colour)
    light = tuple(min(255, round(c * 0.5 + 255 * 0.5)) for c in flower.colour)
    for k in range(flower.petals):
        offset = 2 * math.pi * k / flower.petals
        offset = (offset + math.pi) % (2 * math.pi) - math.pi  # in [-pi, pi): fans both ways
        angle = flower.turn + offset * spread
        # The petal is an ellipse from the heart outwards; a lighter inner one shades it.
        for scale, colour in ((1.0, dark), (0.8, flower.colour), (0.45, light)):
            reach = length * scale
            centre = (
                flower.x + math.cos(angle) * reach / 2,
                flower.y + math.sin(angle) * reach / 2,
            )
            _ellipse(frame, centre, (reach / 2, breadth * scale / 2), angle, colour)
    heart = size * (0.12 + 0.12 * opened)
    _ellipse(frame, (flower.x, flower.y), (heart, heart), 0.0, flower.heart)


def _ellipse(
    frame: Image,
    centre: tuple[float, float],
    axes: tuple[float, float],
    angle: float,
    colour: tuple[int, ...],
) -> None:
    unit = 1 << _SHIFT
    cv2.ellipse(
        frame,
        (round(centre[0] * unit), round(centre[1] * unit)),
        (max(1, round(axes[0] * unit)), max(1, round(axes[1] * unit))),
        math.degrees(angle),
        0,
        360,
        colour,
        -1,
        cv2.LINE_AA,
        _SHIFT,
    )
