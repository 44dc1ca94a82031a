"""Weather and particles drawn over frames: snow, rain, leaves, petals, embers, bubbles, dust,
fog, steam and smoke, light rays.

Everything is procedural and seeded (the request's seed): the same seed gives the same flakes
in the same places. Particles live in three depth layers: far ones are small, slow and faint,
near ones large, fast and blurred (out of focus), so the weather has depth. Every particle's
place is a closed-form function of time (a start, a speed, a sway, wrapped around the frame),
so any frame can be drawn on its own and nothing accumulates. Veils (fog, steam, smoke, light
rays) are low-resolution fields that drift, scaled up to the frame.

=========  =====================================================================================
name       what a viewer sees
=========  =====================================================================================
snow       white flakes falling and swaying; near flakes large and soft
rain       thin pale streaks falling fast, slanted a little; near streaks long and soft
leaves     autumn-coloured leaves tumbling down, turning as they fall
petals     pink and white petals drifting down, turning
embers     orange sparks rising and flickering, dying out as they rise
bubbles    pale rings with a highlight, rising and wobbling
dust       tiny warm motes drifting slowly in every direction, twinkling
fog        soft banks of mist drifting sideways across the frame
steam      white wisps rising from the lower part of the frame
smoke      grey wisps rising from the lower part of the frame
rays       soft beams of light from above, slowly shimmering
=========  =====================================================================================

``density`` scales how many particles there are (or a veil's strength) and ``speed`` how fast
they move; both are 1 for plain words and come from the prompt ("heavy snow", "slowly
drifting fog"). Particles fade in over the first half second (a fifth of shorter clips), so
frame 0 is the frame underneath, untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.motion.fit import smoothstep

Floats = npt.NDArray[np.float64]
Alpha = npt.NDArray[np.float32]

#: Seconds over which the weather fades in from nothing (at most a fifth of the clip).
FADE_IN = 0.5
#: The most blur (pixels) a near layer gets: a wider kernel costs more than it shows.
MAX_BLUR = 2.5
_SHIFT = 4  # sub-pixel bits for OpenCV's drawing
_ONE = 1 << _SHIFT
#: Where a leaf's outline is sampled along its length (-1 tip to 1 tip).
_OUTLINE = np.linspace(-1.0, 1.0, 9)


@dataclass(frozen=True)
class Depth:
    """One depth layer: scales of size and speed, opacity, blur (in particle radii), and its
    share of the particles."""

    size: float
    speed: float
    opacity: float
    blur: float
    share: float


#: Far, middle and near layers.
DEPTHS = (
    Depth(0.55, 0.5, 0.6, 0.0, 0.5),
    Depth(1.0, 1.0, 0.85, 0.0, 0.33),
    Depth(2.2, 1.8, 0.95, 0.45, 0.17),
)


@dataclass(frozen=True)
class Kind:
    """How one kind of particle looks and moves, at density and speed 1.

    Sizes are shares of the frame's shorter side; speeds are frame heights (``fall``, + down)
    and widths (``drift``, + right) per second; ``sway`` is a side-to-side swing (shorter
    sides) and ``wander`` a random share of the speed each particle adds in any direction.
    """

    shape: str  # "dot", "streak", "leaf", "ring"
    count: int  # particles on a 1280x720 frame
    radius: float
    fall: float
    drift: float
    sway: float
    colours: tuple[tuple[int, int, int], ...]
    opacity: float = 1.0
    wander: float = 0.0
    #: Streaks: how long one is, in seconds of its travel (a camera's shutter).
    shutter: float = 0.0
    #: Embers: fade as they rise; dust: twinkle.
    flicker: bool = False
    dies_rising: bool = False


_AUTUMN = ((196, 92, 28), (222, 150, 40), (160, 52, 24), (205, 178, 60))
_BLOSSOM = ((255, 190, 208), (255, 214, 226), (250, 240, 244))

# fmt: off
KINDS: dict[str, Kind] = {
    "snow": Kind("dot", 1100, 0.0035, 0.12, 0.01, 0.012, ((246, 248, 255),), wander=0.15),
    "rain": Kind("streak", 800, 0.0009, 1.6, 0.12, 0.0, ((205, 215, 230),), 0.5, shutter=0.025),
    "leaves": Kind("leaf", 60, 0.022, 0.1, 0.03, 0.03, _AUTUMN, wander=0.2),
    "petals": Kind("leaf", 120, 0.011, 0.07, 0.03, 0.025, _BLOSSOM, wander=0.2),
    "embers": Kind("dot", 400, 0.004, -0.18, 0.0, 0.01, ((255, 150, 50),), wander=0.3,
                   flicker=True, dies_rising=True),
    "bubbles": Kind("ring", 70, 0.012, -0.09, 0.0, 0.015, ((225, 240, 255),), 0.7, wander=0.2),
    "dust": Kind("dot", 600, 0.0018, 0.004, 0.006, 0.004, ((255, 242, 210),), 0.75, wander=2.0,
                 flicker=True),
}
# fmt: on


def fade(t: float, duration: float) -> float:
    """How much of the weather shows at ``t`` seconds: 0 at the start, 1 after the fade-in."""
    span = min(FADE_IN, 0.2 * duration)
    return 1.0 if span <= 0 else smoothstep(t / span)


def blend(frame: Image, colour: Image, alpha: Alpha) -> Image:
    """``frame`` with ``colour`` laid over it at ``alpha`` (0..1 per pixel)."""
    weight = np.clip(alpha, 0.0, 1.0, dtype=np.float32)
    return cast(Image, cv2.blendLinear(frame, colour, 1.0 - weight, weight))


class Particles:
    """One kind of particle over ``width x height`` frames; :meth:`draw` lays them over a
    frame at time ``t``.

    Dots (snow, embers, dust) are splatted all at once and blurred into soft dots; streaks
    (rain) and leaves are drawn with one OpenCV call per layer; bubbles one by one (there are
    few). A layer's opacity is its coverage; the colour comes from one plane per kind (a
    colour per leaf for leaves and petals)."""

    def __init__(
        self, kind: Kind, width: int, height: int, seed: int, density: float = 1.0,
        speed: float = 1.0,
    ) -> None:  # fmt: skip
        self.kind, self.width, self.height = kind, width, height
        rng = np.random.default_rng([seed, 7])
        short = min(width, height)
        total = max(1, round(kind.count * density * width * height / (1280 * 720)))
        self.layers = []
        for depth in DEPTHS:
            count = max(1, round(total * depth.share))
            self.layers.append(_Layer.seeded(rng, kind, depth, count, width, height, short, speed))
        self.colour = np.empty((height, width, 3), np.uint8)
        self.colour[:] = kind.colours[0]

    def draw(self, frame: Image, t: float, strength: float) -> Image:
        """``frame`` with the particles at ``t`` seconds over it, at ``strength`` (0..1)."""
        if strength <= 0.0:
            return frame
        if self.kind.shape == "dot":
            colour, alpha = self.colour, self._dots(t)
        else:
            colour, alpha = self._drawn(t)
        alpha *= np.float32(strength * self.kind.opacity)
        return blend(frame, colour, alpha)

    def _dots(self, t: float) -> Alpha:
        """The dots' coverage: layers splatted at the same size are added first, so the
        half-size ones are scaled up once."""
        planes: dict[int, Alpha] = {}
        for layer in self.layers:
            plane, scale = layer.splat(t, self.width, self.height)
            planes[scale] = planes[scale] + plane if scale in planes else plane
        size = (self.width, self.height)
        alpha = np.zeros((self.height, self.width), np.float32)
        for scale, plane in planes.items():
            if scale > 1:
                plane = np.asarray(cv2.resize(plane, size, interpolation=cv2.INTER_LINEAR))
            alpha += plane
        return alpha

    def _drawn(self, t: float) -> tuple[Image, Alpha]:
        """Streaks, leaves and rings drawn as shapes: their colours and coverage."""
        colour = self.colour.copy() if len(self.kind.colours) > 1 else self.colour
        # Sharp layers share one plane; the blurred (near) layer gets its own.
        sharp = np.zeros((self.height, self.width), np.uint8)
        soft = np.zeros_like(sharp)
        blur = 0.0
        for layer in self.layers:
            layer.draw(soft if layer.blur > 0 else sharp, colour, t, self.height)
            blur = max(blur, layer.blur)
        if blur > 0:
            cv2.max(sharp, cv2.GaussianBlur(soft, (0, 0), blur), dst=sharp)
        alpha = sharp.astype(np.float32)
        alpha *= np.float32(1.0 / 255.0)
        return colour, alpha


@dataclass
class _Layer:
    """The particles of one kind at one depth: start places, velocities and looks."""

    kind: Kind
    x0: Floats
    y0: Floats
    vx: Floats
    vy: Floats
    phase: Floats
    rate: Floats
    radius: Floats
    colour: npt.NDArray[np.intp]
    sway: float
    margin: float
    opacity: float
    blur: float
    span: tuple[float, float]

    @classmethod
    def seeded(
        cls, rng: np.random.Generator, kind: Kind, depth: Depth, count: int, width: int,
        height: int, short: int, speed: float,
    ) -> _Layer:  # fmt: skip
        radius = np.maximum(0.6, kind.radius * short * depth.size * rng.uniform(0.7, 1.3, count))
        margin = float(radius.max()) * 3 + kind.fall * height * depth.speed * kind.shutter * 2
        span = (width + 2 * margin, height + 2 * margin)
        pace = depth.speed * speed * rng.uniform(0.8, 1.2, count)
        # A share of the speed in a random direction: flakes and motes do not move in step.
        angle = rng.uniform(0, 2 * math.pi, count)
        wander = kind.wander * max(abs(kind.fall), 0.05) * height
        vx = pace * (kind.drift * width + wander * np.cos(angle))
        vy = pace * (kind.fall * height + wander * np.sin(angle) * 0.5)
        return cls(
            kind, rng.uniform(0, span[0], count), rng.uniform(0, span[1], count), vx, vy,
            rng.uniform(0, 2 * math.pi, count), rng.uniform(0.3, 0.9, count) * speed,
            radius, rng.integers(0, len(kind.colours), count), kind.sway * short * depth.size,
            margin, depth.opacity, min(MAX_BLUR, depth.blur * float(radius.mean())), span,
        )  # fmt: skip

    def places(self, t: float) -> tuple[Floats, Floats]:
        """Every particle's centre at ``t`` seconds, wrapped around the frame's margins."""
        swing = self.sway * np.sin(2 * math.pi * self.rate * t + self.phase)
        x = np.mod(self.x0 + self.vx * t + swing, self.span[0]) - self.margin
        y = np.mod(self.y0 + self.vy * t, self.span[1]) - self.margin
        return x, y

    def levels(self, y: Floats, t: float, height: int) -> Floats:
        """Each particle's opacity (0..1) at ``t``: the layer's, flickering or dying out."""
        level = np.full(len(y), self.opacity)
        if self.kind.flicker:
            level *= 0.55 + 0.45 * np.sin(2 * math.pi * 3 * self.rate * t + 5 * self.phase) ** 2
        if self.kind.dies_rising:
            level *= np.clip(0.2 + y / (0.6 * height), 0.0, 1.0)
        return level

    def splat(self, t: float, width: int, height: int) -> tuple[Alpha, int]:
        """The layer's dots at ``t`` as an opacity plane, all at once, and the plane's scale
        (1: ``width x height``; 2: half that each way, for soft dots). Each dot is a point
        shared bilinearly among its four nearest pixels (so it moves smoothly by fractions of
        a pixel), and one Gaussian blur spreads every point into a soft dot of peak 1.

        One dot size per layer (its mean radius); larger flakes are brighter instead, and the
        clip at full opacity widens them. Drawing dots one by one costs a few microseconds
        each in Python: too much for thousands of flakes at 30 frames a second."""
        x, y = self.places(t)
        # Sharing a point among four pixels lowers its peak; 1.3 makes up most of that.
        level = 1.3 * self.levels(y, t, height) * (self.radius / self.radius.mean()) ** 2
        sigma = math.hypot(0.6 * float(self.radius.mean()), self.blur)
        # Wide (near, soft) dots are splatted and blurred at half size, to be scaled up: the
        # same soft dots for a quarter of the blur's cost.
        scale = 2 if sigma > 1.2 else 1
        width, height = -(-width // scale), -(-height // scale)
        x, y, sigma = (x + 0.5) / scale - 0.5, (y + 0.5) / scale - 0.5, sigma / scale
        left, top = np.floor(x), np.floor(y)
        fx, fy = x - left, y - top
        left_i, top_i = left.astype(np.intp), top.astype(np.intp)
        spots, weights = [], []
        for dx, dy, share in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                              (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):  # fmt: skip
            cx, cy = left_i + dx, top_i + dy
            inside = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
            spots.append(cy[inside] * width + cx[inside])
            weights.append((share * level)[inside])
        points = np.bincount(np.concatenate(spots), np.concatenate(weights), width * height)
        spread = cv2.GaussianBlur(points.astype(np.float32).reshape(height, width), (0, 0), sigma)
        plane = np.asarray(spread, dtype=np.float32) * np.float32(2 * math.pi * sigma * sigma)
        return plane, scale

    def draw(self, plane: Image, colour: Image, t: float, height: int) -> None:
        """Draw the layer's coverage into ``plane`` and its colours into ``colour``."""
        x, y = self.places(t)
        if self.kind.shape == "streak":
            self._streaks(plane, x, y)
            return
        if self.kind.shape == "leaf":
            self._leaves(plane, colour, x, y, t)
            return
        level = self.levels(y, t, height) * 255.0
        fixed_x, fixed_y = np.round(x * _ONE).astype(int), np.round(y * _ONE).astype(int)
        for i in range(len(x)):
            self._ring(plane, i, (int(fixed_x[i]), int(fixed_y[i])), float(level[i]))

    def _streaks(self, plane: Image, x: Floats, y: Floats) -> None:
        """Drops as streaks: each blurs into a line as long as its travel while the shutter
        is open. Drawn in one call per line thickness (one by one costs more in Python than
        the drawing does)."""
        head = np.stack([x, y], axis=1)
        tail = head - np.stack([self.vx, self.vy], axis=1) * self.kind.shutter
        lines = np.round(np.stack([tail, head], axis=1) * _ONE).astype(np.int32)
        thickness = np.maximum(1, np.round(self.radius * 2)).astype(int)
        for width in np.unique(thickness):
            cv2.polylines(plane, lines[thickness == width], False, 255.0 * self.opacity,
                          int(width), cv2.LINE_AA, _SHIFT)  # fmt: skip

    def _leaves(self, plane: Image, colour: Image, x: Floats, y: Floats, t: float) -> None:
        """Leaves and petals: pointed (leaves) or round (petals) outlines, turning in the
        picture plane and tumbling (their width shrinks and grows as they turn over), all
        drawn in one call, then their colours, one call per colour."""
        spin = self.phase + 2.5 * self.rate * t
        tumble = 0.25 + 0.75 * np.abs(np.cos(self.phase * 3 + 4 * self.rate * t))
        # The outline in the leaf's own axes: along -1..1, across bulging most in the middle.
        along = np.concatenate([_OUTLINE, _OUTLINE[::-1]])
        side = np.concatenate([np.ones(len(_OUTLINE)), -np.ones(len(_OUTLINE))])
        bulge = (1 - _OUTLINE**2) ** (1.0 if self.kind.count < 100 else 0.5)
        across = side * np.concatenate([bulge, bulge[::-1]]) * 0.45
        r = self.radius[:, None]
        u, v = along[None, :] * r, across[None, :] * r * tumble[:, None]
        cos, sin = np.cos(spin)[:, None], np.sin(spin)[:, None]
        px, py = x[:, None] + u * cos - v * sin, y[:, None] + u * sin + v * cos
        shapes = np.round(np.stack([px, py], axis=2) * _ONE).astype(np.int32)
        cv2.fillPoly(plane, list(shapes), 255.0 * self.opacity, cv2.LINE_AA, _SHIFT)
        # Colours reach a little past each outline, so soft edges never show black.
        wide = np.stack([x[:, None] + (px - x[:, None]) * 1.3 + 1,
                         y[:, None] + (py - y[:, None]) * 1.3 + 1], axis=2)  # fmt: skip
        wide_shapes = np.round(wide * _ONE).astype(np.int32)
        for index, rgb in enumerate(self.kind.colours):
            chosen = wide_shapes[self.colour == index]
            if len(chosen):
                cv2.fillPoly(colour, list(chosen), rgb, cv2.LINE_8, _SHIFT)

    def _ring(self, plane: Image, i: int, centre: tuple[int, int], value: float) -> None:
        r = float(self.radius[i])
        thickness = max(1, round(0.12 * r))
        cv2.circle(plane, centre, round(r * _ONE), value * 0.15, -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(plane, centre, round(r * _ONE), value, thickness, cv2.LINE_AA, _SHIFT)
        glint = (centre[0] - round(0.4 * r * _ONE), centre[1] - round(0.4 * r * _ONE))
        cv2.circle(plane, glint, max(_ONE // 2, round(0.18 * r * _ONE)), value, -1, cv2.LINE_AA,
                   _SHIFT)  # fmt: skip
