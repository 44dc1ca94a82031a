"""Hug, kiss and heart_gesture: two photos come together.

The photos start side by side, each cover-fitted to one half of the frame (frame 0 is the
two halves, untouched), and slide toward each other until they overlap in the middle,
where a soft crossfade across the overlap joins them into one frame. The strips they leave
at the outer edges show a blurred, darkened blend of both, as behind a portrait video.

- ``hug``: they slide together and press in (both grow a little as they meet);
- ``kiss``: they lean in toward each other as they slide, and meet closer;
- ``heart_gesture``: they slide together and a red heart pops up between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.motion.fit import CoverFit, clip_time, smoothstep

Layer = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Meeting:
    """How a scene brings the two photos together."""

    #: How far each photo slides toward the middle, as a share of the frame's width.
    slide: float
    #: Degrees each photo turns toward the other (its top leaning in).
    lean: float = 0.0
    #: How much larger both are at the end.
    squeeze: float = 0.0
    heart: bool = False


SCENES = {
    "hug": Meeting(slide=0.16, squeeze=0.06),
    "kiss": Meeting(slide=0.17, lean=7.0, squeeze=0.03),
    "heart_gesture": Meeting(slide=0.14, heart=True),
}
#: The widest the seam joining the photos gets, as a share of the frame's width.
SEAM = 0.1
#: The photos have come together this far through the clip, then hold.
MEET_BY = 0.8
#: The heart pops up over this part of the clip.
HEART_FROM, HEART_TO = 0.45, 0.85
HEART_RED = (225, 25, 65)
#: The heart's final width as a share of the frame's height.
HEART_SIZE = 0.34


class PairRender:
    """Frames of ``left`` and ``right`` coming together in ``meeting``'s way."""

    def __init__(
        self, left: Image, right: Image, width: int, height: int, num_frames: int,
        meeting: Meeting,
    ) -> None:  # fmt: skip
        self.num_frames = num_frames
        self.width, self.height = width, height
        self._meeting = meeting
        half = width // 2
        halves = [
            CoverFit.create(image.shape[1], image.shape[0], size, height).image(image)
            for image, size in ((left, half), (right, width - half))
        ]
        # RGBA: each frame sets the alpha, and OpenCV warps 4 channels fastest.
        self._halves = [cast(Image, cv2.cvtColor(h, cv2.COLOR_RGB2RGBA)) for h in halves]
        # Blurred at an eighth of the size: the same look for a fraction of the work.
        both = np.hstack(halves)
        small_size = (max(2, width // 8), max(2, height // 8))
        small = cv2.resize(both, small_size, interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), max(1.0, 0.005 * width))
        dimmed = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR) * 0.7
        self._backdrop = cast(Image, np.rint(dimmed).astype(np.uint8))

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        t = clip_time(index, self.num_frames)
        together = smoothstep(t / MEET_BY)
        meeting, width, half = self._meeting, self.width, self.width // 2
        slide = meeting.slide * width * together
        scale = 1.0 + meeting.squeeze * together
        feather = min(slide, 0.01 * width)
        canvas = self._backdrop
        right_alpha = _ramps(width - half, 0.0, feather)
        canvas = _over(canvas, self._place(1, -slide, -meeting.lean * together, scale, right_alpha))
        # The left photo fades out across a seam in the middle of the overlap: a short
        # crossfade joins them (one across the whole overlap would double-expose both).
        seam = min(2.0 * slide, SEAM * width)
        left_alpha = _ramps(half, feather, seam, half - slide + seam / 2)
        canvas = _over(canvas, self._place(0, slide, meeting.lean * together, scale, left_alpha))
        if meeting.heart:
            _heart(canvas, smoothstep((t - HEART_FROM) / (HEART_TO - HEART_FROM)))
        return canvas

    def _place(self, which: int, dx: float, lean: float, scale: float, alpha: Layer) -> Image:
        """Photo ``which`` (0 left, 1 right) with ``alpha`` (one value per column), moved
        ``dx``, turned ``lean`` degrees clockwise about its bottom centre and scaled about
        its centre, on a transparent frame-sized RGBA layer."""
        rgba = self._halves[which].copy()
        h, w = rgba.shape[:2]
        rgba[:, :, 3] = np.rint(alpha * 255).astype(np.uint8)
        left = 0 if which == 0 else self.width // 2
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        matrix = (
            _about(left + cx + dx, h - 0.5, lean, 1.0)
            @ _about(0.0, 0.0, 0.0, 1.0, shift=(left + dx, 0.0))
            @ _about(cx, cy, 0.0, scale)
        )
        out = cv2.warpAffine(
            rgba, matrix[:2], (self.width, self.height), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0),
        )  # fmt: skip
        return cast(Image, out)


def _about(
    x: float, y: float, degrees: float, scale: float, shift: tuple[float, float] = (0.0, 0.0)
) -> npt.NDArray[np.float64]:
    """3x3: turn ``degrees`` clockwise on screen and scale about ``(x, y)``, then shift."""
    cos, sin = math.cos(math.radians(degrees)) * scale, math.sin(math.radians(degrees)) * scale
    return np.array(
        [
            [cos, -sin, x - cos * x + sin * y + shift[0]],
            [sin, cos, y - sin * x - cos * y + shift[1]],
            [0.0, 0.0, 1.0],
        ],
        dtype=np.float64,
    )


def _ramps(size: int, left: float, right: float, end: float | None = None) -> Layer:
    """One alpha per column of a ``size``-wide photo: 1, falling to 0 over ``left`` columns
    at its left edge and over ``right`` columns up to ``end`` (its right edge unless given)
    at its right (no fall under half a column)."""
    x = np.arange(size, dtype=np.float32) + 0.5
    alpha = np.ones(size, np.float32)
    if left >= 0.5:
        alpha = np.minimum(alpha, x / np.float32(left))
    if right >= 0.5:
        alpha = np.minimum(alpha, (np.float32(size if end is None else end) - x) / right)
    return np.clip(alpha, 0.0, 1.0)[None, :]


def _over(canvas: Image, layer: Image) -> Image:
    """An RGBA ``layer`` composited over the RGB ``canvas``."""
    alpha = layer[:, :, 3].astype(np.float32) * np.float32(1 / 255)
    colour = cv2.cvtColor(layer, cv2.COLOR_RGBA2RGB)
    return cast(Image, cv2.blendLinear(colour, canvas, alpha, 1.0 - alpha))


def _heart(canvas: Image, grown: float) -> None:
    """A red heart with a soft glow between the photos, ``grown`` (0..1) of the way in."""
    if grown <= 0.0:
        return
    height, width = canvas.shape[:2]
    # It pops up: an ease-out that overshoots by about 10 % before settling.
    back = 1.70158
    pop = 1 + (back + 1) * (grown - 1) ** 3 + back * (grown - 1) ** 2
    size = HEART_SIZE * height * pop
    u = np.linspace(0, 2 * math.pi, 96, endpoint=False)
    # The classic heart curve: 32 units across, from -17 to 12 units tall.
    xs = 16 * np.sin(u) ** 3
    ys = -(13 * np.cos(u) - 5 * np.cos(2 * u) - 2 * np.cos(3 * u) - np.cos(4 * u))
    cx, cy = width / 2.0, height * 0.45
    points = np.stack([cx + xs * size / 32, cy + ys * size / 32], axis=1)
    glow = max(2.0, size * 0.12)
    x0, y0 = (max(0, math.floor(v - 3 * glow)) for v in points.min(axis=0))
    x1 = min(width, math.ceil(points[:, 0].max() + 3 * glow))
    y1 = min(height, math.ceil(points[:, 1].max() + 3 * glow))
    if x0 >= x1 or y0 >= y1:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    local = np.rint((points - (x0, y0)) * 8).astype(np.int32)
    cv2.fillPoly(mask, [local], 255, cv2.LINE_AA, 3)
    shape = mask.astype(np.float32)[:, :, None] / 255.0
    # The glow is smooth: blurred at a reduced size, which is far cheaper for a wide glow.
    factor = max(1, int(glow // 4))
    small = cv2.resize(
        shape[:, :, 0],
        (max(1, (x1 - x0) // factor), max(1, (y1 - y0) // factor)),
        interpolation=cv2.INTER_AREA,
    )
    small = cv2.GaussianBlur(small, (0, 0), glow / factor)
    halo = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)[:, :, None]
    roi = canvas[y0:y1, x0:x1].astype(np.float32)
    roi += (np.array((255, 150, 180), np.float32) - roi) * np.clip(halo * 1.2, 0, 0.7) * grown
    roi += (np.array(HEART_RED, np.float32) - roi) * shape
    # A highlight on the left lobe.
    spot = np.zeros_like(mask)
    hx, hy = (cx - size * 0.2 - x0) * 8, (cy - size * 0.18 - y0) * 8
    axes = (max(1, round(size * 0.09 * 8)), max(1, round(size * 0.05 * 8)))
    cv2.ellipse(spot, (round(hx), round(hy)), axes, -35, 0, 360, 255, -1, cv2.LINE_AA, 3)
    roi += (np.array((255, 235, 240), np.float32) - roi) * (
        spot.astype(np.float32)[:, :, None] / 320.0
    )
    canvas[y0:y1, x0:x1] = np.clip(np.rint(roi), 0, 255).astype(np.uint8)
