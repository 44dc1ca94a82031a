"""Veils drawn over frames: fog drifting sideways, steam and smoke rising, rays of light.

A veil is a smooth field worked out at an eighth of the frame's size and scaled up to it
(mist has no fine detail, so this costs little and looks the same). Fog, steam and smoke
scroll a seeded, seamlessly tiling cloud texture; rays are beams fanning out from a point
above the frame whose brightness slowly shimmers. See :mod:`.particles` for the table of
names and how density and speed apply.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.motion.particles import Alpha, blend

_CELL = 8  # frame pixels per field sample


@dataclass(frozen=True)
class VeilStyle:
    """How a veil looks: its colour, its strongest opacity, how it moves (frame widths and
    heights per second, + right and + down), and whether it rises from the bottom."""

    colour: tuple[int, int, int]
    opacity: float
    drift: float
    rise: float
    from_below: bool = False
    #: The share of the opacity that is an even haze under the banks (fog), none for wisps.
    haze: float = 0.0


VEILS: dict[str, VeilStyle] = {
    "fog": VeilStyle((222, 226, 232), 0.55, 0.025, 0.0, haze=0.4),
    "steam": VeilStyle((242, 244, 247), 0.45, 0.01, -0.07, from_below=True),
    "smoke": VeilStyle((118, 118, 124), 0.55, 0.012, -0.06, from_below=True),
}


def _field(width: int, height: int, seed: int) -> npt.NDArray[np.float32]:
    """A seamlessly tiling cloud texture in 0..1: noise low-passed in the Fourier domain (so
    it wraps), two scales mixed, its contrast raised so there are banks and gaps."""
    rng = np.random.default_rng([seed, 11])
    noise = rng.standard_normal((height, width))
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    spectrum = np.fft.rfft2(noise)
    big = np.fft.irfft2(spectrum * np.exp(-((radius / 0.03) ** 2)), s=(height, width))
    small = np.fft.irfft2(spectrum * np.exp(-((radius / 0.09) ** 2)), s=(height, width))
    mixed = big / big.std() + 0.35 * small / small.std()
    level = np.clip((mixed + 0.6) / 2.6, 0.0, 1.0)
    return np.asarray(level * level * (3 - 2 * level), dtype=np.float32)


def _window(
    texture: npt.NDArray[np.float32], x: float, y: float, size: tuple[int, int]
) -> npt.NDArray[np.float32]:
    """The ``size`` (w, h) view of ``texture`` whose top-left corner is at ``(x, y)``,
    wrapping around, with bilinear weights for the fraction of a sample (OpenCV's wrapping
    warp moves in whole samples only, which shows as jerks once scaled up)."""
    width, height = size
    left, top = math.floor(x), math.floor(y)
    fx, fy = np.float32(x - left), np.float32(y - top)
    rows = np.mod(np.arange(top, top + height + 1), texture.shape[0])
    cols = np.mod(np.arange(left, left + width + 1), texture.shape[1])
    patch = texture[np.ix_(rows, cols)]
    column = patch[:-1] * (1 - fy) + patch[1:] * fy
    return np.asarray(column[:, :-1] * (1 - fx) + column[:, 1:] * fx, dtype=np.float32)


class _Overlay(abc.ABC):
    """A layer of one colour over the frame, as opaque as :meth:`alpha` says, worked out
    small and enlarged."""

    width: int
    height: int
    colour: Image

    @abc.abstractmethod
    def alpha(self, t: float) -> Alpha:
        """The layer's opacity over the frame at ``t`` seconds."""

    def draw(self, frame: Image, t: float, strength: float) -> Image:
        """``frame`` with the layer at ``t`` seconds over it, at ``strength`` (0..1)."""
        if strength <= 0.0:
            return frame
        return blend(frame, self.colour, self.alpha(t) * np.float32(strength))

    def _full_size(self, small: Alpha) -> Alpha:
        enlarged = cv2.resize(small, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return np.asarray(enlarged, dtype=np.float32)


class Veil(_Overlay):
    """Fog, steam or smoke over ``width x height`` frames: :meth:`draw` at time ``t``."""

    def __init__(
        self, style: VeilStyle, width: int, height: int, seed: int, density: float = 1.0,
        speed: float = 1.0,
    ) -> None:  # fmt: skip
        self.style, self.width, self.height = style, width, height
        self.small = (max(2, math.ceil(width / _CELL)), max(2, math.ceil(height / _CELL)))
        # Twice the view each way, so the view never shows the same bank twice at once.
        self.texture = _field(2 * self.small[0], 2 * self.small[1], seed)
        self.velocity = (style.drift * speed * self.small[0], style.rise * speed * self.small[1])
        self.opacity = min(0.85, style.opacity * density)
        rows = np.linspace(0.0, 1.0, self.small[1], dtype=np.float32)[:, None]
        self.mask = (
            np.clip((rows - 0.15) / 0.65, 0.0, 1.0) if style.from_below else np.ones_like(rows)
        )
        self.colour = np.empty((height, width, 3), np.uint8)
        self.colour[:] = style.colour

    def alpha(self, t: float) -> Alpha:
        """The veil's opacity over the frame at ``t`` seconds (before the fade-in)."""
        # The view slides against the motion, so the veil moves with it.
        view = _window(self.texture, -self.velocity[0] * t, -self.velocity[1] * t, self.small)
        view = (self.style.haze + (1 - self.style.haze) * view) * self.mask
        view *= np.float32(self.opacity)
        return self._full_size(view)



class Rays(_Overlay):
    """Soft beams of light fanning down from a point above the frame, slowly shimmering."""

    _BEAMS = 7
    _BINS = 512

    def __init__(
        self, width: int, height: int, seed: int, density: float = 1.0, speed: float = 1.0
    ) -> None:
        rng = np.random.default_rng([seed, 13])
        self.width, self.height = width, height
        small_w, small_h = max(2, math.ceil(width / _CELL)), max(2, math.ceil(height / _CELL))
        source = (rng.uniform(-0.2, 1.2) * small_w, -0.35 * small_h)
        ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
        dx, dy = xs - source[0], ys - source[1]
        angles = np.arctan2(dx, dy)  # 0 straight down
        low, high = float(angles.min()), float(angles.max())
        self.bins = np.clip(((angles - low) / (high - low + 1e-9) * (self._BINS - 1)), 0,
                            self._BINS - 1).astype(np.intp)  # fmt: skip
        self.falloff = np.exp(-np.hypot(dx, dy) / (1.3 * small_h)).astype(np.float32)
        self.centres = rng.uniform(0.05, 0.95, self._BEAMS) * (self._BINS - 1)
        self.widths = rng.uniform(0.01, 0.05, self._BEAMS) * self._BINS
        self.rates = rng.uniform(0.1, 0.35, self._BEAMS) * speed
        self.phases = rng.uniform(0, 2 * math.pi, self._BEAMS)
        self.opacity = min(0.9, 0.75 * density)
        self.colour = np.empty((height, width, 3), np.uint8)
        self.colour[:] = (255, 240, 205)

    def alpha(self, t: float) -> Alpha:
        """The beams' opacity over the frame at ``t`` seconds."""
        bins = np.arange(self._BINS, dtype=np.float64)[:, None]
        sway = self.widths * 0.6 * np.sin(2 * math.pi * self.rates * 0.5 * t + self.phases)
        shimmer = 0.55 + 0.45 * np.sin(2 * math.pi * self.rates * t + 2 * self.phases)
        beams = np.exp(-(((bins - self.centres - sway) / self.widths) ** 2)) * shimmer
        lut = np.clip(beams.sum(axis=1), 0.0, 1.0).astype(np.float32)
        view = lut[self.bins] * self.falloff * np.float32(self.opacity)
        return self._full_size(view)
