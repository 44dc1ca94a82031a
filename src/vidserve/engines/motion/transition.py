"""Start-to-end transitions: an aligned morph for one scene, a zoom-through for two.

Two views of one scene (the end image a crop, zoom, shift or small turn of the start):

1. **Align** (:mod:`.align`): ORB features matched and fitted with RANSAC give the
   homography ``H`` from start pixels to end pixels. The camera then travels from the start
   image's frame to the end image's: frame ``t`` shows the quadrilateral whose corners are
   ``t`` (eased) of the way from the start frame's corners to the end frame's (the end frame
   drawn on the start image by ``H^-1``). A crop that shifts and tightens thus plays as the
   crop box gliding and shrinking, with no double edges: both images are resampled to the
   same view.
2. **Residual flow**: what ``H`` does not explain (parallax, things that moved) is dense
   optical flow between the start image and the end image drawn in start coordinates, in
   both directions. A pixel whose forward and backward flows disagree is occluded in the
   other image (or not in it at all): it does not move, and the blend leans on the image
   that does see it, so uncovered content fades in instead of smearing.

Unrelated images (too few inlier matches) get a **zoom-through**: the camera pushes ever
faster into the start image, the end image opens from the centre in a soft iris while both
are magnified, and the camera settles back out onto the end image. It reads as a deliberate
cut-with-motion, never as a double exposure. The log says which one ran, and why.

Frame 0 is the start image and the last frame the end image, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.motion.align import Alignment, align
from vidserve.engines.motion.fit import Matrix, clip_time, smoothstep

Flow = npt.NDArray[np.float32]
Field = npt.NDArray[np.float32]

#: Optical flow is estimated at this size (longest side) and upscaled: far cheaper, and
#: the residual after alignment is smooth.
_FLOW_SIDE = 384
#: Sampling maps are built on a grid this many times coarser than the frame and upscaled
#: (projective maps and smooth flows are nearly linear over a few pixels).
_GRID = 4
#: Fixed-point steps to find where each output pixel came from (see ``_displacement``).
_INVERSION_STEPS = 3
#: Forward-backward disagreement (small-flow pixels) at which a pixel counts as occluded.
_OCCLUSION_TOLERANCE = 1.0
#: Zoom-through: how far the camera pushes in at the switch, and when the iris opens.
ZOOM_THROUGH = 1.8
IRIS_FROM, IRIS_TO = 0.1, 0.9

Log = Callable[[str], None]


class TransitionRender:
    """From ``start`` to ``end`` (same size): frame 0 is ``start``, the last ``end``.

    ``path`` says which transition was chosen ("aligned morph" or "zoom-through") and
    ``alignment`` why; ``log`` (optional) receives a line saying so.
    """

    def __init__(self, start: Image, end: Image, num_frames: int, log: Log | None = None) -> None:
        if start.shape != end.shape:
            raise ValueError("start and end images must be the same size")
        self.num_frames = num_frames
        self._start = start
        self._end = end
        self.alignment: Alignment = align(start, end)
        self._inner: _AlignedMorph | _ZoomThrough
        if self.alignment.matrix is not None:
            self.path = "aligned morph"
            self._inner = _AlignedMorph(start, end, self.alignment.matrix)
            line = (
                f"motion: transition: aligned morph (one scene: {self.alignment.describe()}; "
                "homography plus residual flow)"
            )
        else:
            self.path = "zoom-through"
            self._inner = _ZoomThrough(start, end)
            line = (
                f"motion: transition: zoom-through (the images do not show one scene: "
                f"{self.alignment.describe()})"
            )
        if log is not None:
            log(line)

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        if index == 0 or self.num_frames == 1:
            return self._start.copy()
        if index == self.num_frames - 1:
            return self._end.copy()
        return self._inner.frame(clip_time(index, self.num_frames))


class _AlignedMorph:
    """The camera glides from the start frame to the end frame (``H``), and the residual
    flow carries what the homography does not explain (see the module docstring)."""

    def __init__(self, start: Image, end: Image, matrix: Matrix) -> None:
        self.height, self.width = start.shape[:2]
        self._start4 = cast(Image, cv2.cvtColor(start, cv2.COLOR_RGB2RGBA))
        self._end4 = cast(Image, cv2.cvtColor(end, cv2.COLOR_RGB2RGBA))
        self._h = matrix
        w, h = self.width - 1.0, self.height - 1.0
        self._frame = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
        self._end_frame = _apply(cast(Matrix, np.linalg.inv(matrix)), self._frame)
        factor = min(1.0, _FLOW_SIDE / max(self.width, self.height))
        self._small = (max(8, round(self.width * factor)), max(8, round(self.height * factor)))
        self._residual(start, end)
        gw, gh = math.ceil(self.width / _GRID), math.ceil(self.height / _GRID)
        # The grid's samples, in full-frame pixels (cv2.resize's pixel-centre convention).
        gx = (np.arange(gw) + 0.5) * (self.width / gw) - 0.5
        gy = (np.arange(gh) + 0.5) * (self.height / gh) - 0.5
        xs, ys = np.meshgrid(gx, gy)
        self._grid = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
        self._grid_shape = (gh, gw)

    def _residual(self, start: Image, end: Image) -> None:
        """Flow between the start image and the end image drawn on it, both ways, with
        each pixel's visibility in the other image (forward-backward consistency)."""
        size = (self.width, self.height)
        drawn = cast(
            Image, cv2.warpPerspective(end, np.linalg.inv(self._h), size, flags=cv2.INTER_LINEAR)
        )
        inside = cv2.warpPerspective(
            np.full((self.height, self.width), 255, np.uint8), np.linalg.inv(self._h), size
        )
        a, b = _small_grey(start, self._small), _small_grey(drawn, self._small)
        valid = cv2.resize(inside, self._small, interpolation=cv2.INTER_AREA) > 250
        # Outside the end image there is nothing to match: let the start image stand in.
        b = np.where(valid, b, a)
        params = (0.5, 4, 15, 4, 7, 1.5, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)
        forward = cv2.calcOpticalFlowFarneback(a, b, None, *params)  # type: ignore[call-overload]
        backward = cv2.calcOpticalFlowFarneback(b, a, None, *params)  # type: ignore[call-overload]
        seen_s = _consistency(forward, backward)
        seen_e = _consistency(backward, forward) * valid
        # Occluded pixels stay put; a light blur keeps the field from tearing at the seams.
        self._forward = _smooth(forward * seen_s[:, :, None])
        self._backward = _smooth(backward * seen_e[:, :, None])
        self._seen_s = seen_s.astype(np.float32)
        self._seen_e = seen_e.astype(np.float32)

    def frame(self, t: float) -> Image:
        """The frame ``t`` (0..1) of the way through."""
        e = smoothstep(t)
        quad = (1.0 - e) * self._frame + e * self._end_frame
        corners = self._frame.astype(np.float32)
        view = cv2.getPerspectiveTransform(quad.astype(np.float32), corners)
        # The start image's pixels under each grid point.
        at = _apply_grid(cast(Matrix, np.linalg.inv(view)), self._grid)
        from_start = at - self._offsets(self._forward, e, at)
        from_drawn = at - self._offsets(self._backward, 1.0 - e, at)
        from_end = _apply_grid(self._h, np.vstack([from_drawn, np.ones(from_drawn.shape[1])]))
        size = (self.width, self.height)
        seen_s = self._sample(self._seen_s, from_start) * _inside(from_start, *size)
        seen_e = self._sample(self._seen_e, from_drawn) * _inside(from_end, *size)
        # Occlusion-aware weights: each image counts where the other cannot see; where
        # neither can, the plain eased blend.
        ws = (1.0 - e) * (seen_s + 1e-3)
        we = e * (seen_e + 1e-3)
        weight = (ws / (ws + we)).astype(np.float32).reshape(self._grid_shape)
        a = _remap(self._start4, self._full_map(from_start))
        b = _remap(self._end4, self._full_map(from_end))
        alpha = cv2.resize(weight, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        blended = cv2.blendLinear(a, b, alpha, 1.0 - alpha)
        return cast(Image, cv2.cvtColor(blended, cv2.COLOR_RGBA2RGB))

    def _offsets(
        self, flow: Flow, amount: float, at: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """How far back (full pixels) to sample at ``at`` for content moved ``amount``."""
        shift = _displacement(flow, amount)
        sx, sy = self.width / self._small[0], self.height / self._small[1]
        small = self._sample(shift, at)
        return cast(npt.NDArray[np.float64], small * np.array([[sx], [sy]]))

    def _sample(self, field: npt.NDArray[np.float32], at: npt.NDArray[np.float64]) -> Any:
        """``field`` (small-size) read at full-frame positions ``at`` (2 x N)."""
        sx, sy = self._small[0] / self.width, self._small[1] / self.height
        # Shaped as the grid: remap takes maps of at most 32767 columns.
        mx = ((at[0] + 0.5) * sx - 0.5).astype(np.float32).reshape(self._grid_shape)
        my = ((at[1] + 0.5) * sy - 0.5).astype(np.float32).reshape(self._grid_shape)
        out = cv2.remap(field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(-1, 2).T if out.ndim == 3 else out.reshape(-1)

    def _full_map(self, at: npt.NDArray[np.float64]) -> Flow:
        grid = at.T.astype(np.float32).reshape(*self._grid_shape, 2)
        full = cv2.resize(grid, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return cast(Flow, full)


class _ZoomThrough:
    """Push into the start image, open the end image in an iris, settle out onto it."""

    def __init__(self, start: Image, end: Image) -> None:
        self.height, self.width = start.shape[:2]
        self._start4 = cast(Image, cv2.cvtColor(start, cv2.COLOR_RGB2RGBA))
        self._end4 = cast(Image, cv2.cvtColor(end, cv2.COLOR_RGB2RGBA))
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        cx, cy = (self.width - 1) / 2.0, (self.height - 1) / 2.0
        self._radius = np.hypot(xs - cx, ys - cy)
        self._feather = 0.08 * math.hypot(self.width, self.height)
        self._reach = float(self._radius.max()) + 2.0 * self._feather

    def frame(self, t: float) -> Image:
        # The start image is pushed into ever faster; the end image arrives magnified and
        # slows to rest, so the speed peaks at the switch, as a whip would.
        into = t * t
        out_of = 1.0 - t
        a = self._zoomed(self._start4, ZOOM_THROUGH**into)
        b = self._zoomed(self._end4, ZOOM_THROUGH ** (out_of * out_of))
        # The revealed area (not the radius) follows the easing: no sudden swell.
        revealed = smoothstep((t - IRIS_FROM) / (IRIS_TO - IRIS_FROM))
        opening = math.sqrt(revealed) * self._reach - self._feather
        alpha = np.clip((opening - self._radius) / self._feather, 0.0, 1.0).astype(np.float32)
        blended = cv2.blendLinear(b, a, alpha, 1.0 - alpha)
        return cast(Image, cv2.cvtColor(blended, cv2.COLOR_RGBA2RGB))

    def _zoomed(self, image: Image, scale: float) -> Image:
        cx, cy = (self.width - 1) / 2.0, (self.height - 1) / 2.0
        matrix = np.array([[scale, 0.0, cx * (1 - scale)], [0.0, scale, cy * (1 - scale)]])
        out = cv2.warpAffine(
            image, matrix, (self.width, self.height), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )  # fmt: skip
        return cast(Image, out)


def _apply(matrix: Matrix, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Points (N x 2) through a homography."""
    placed = matrix @ np.vstack([points.T, np.ones(len(points))])
    return cast(npt.NDArray[np.float64], (placed[:2] / placed[2]).T)


def _apply_grid(matrix: Matrix, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Homogeneous points (3 x N) through a homography, as 2 x N."""
    placed = matrix @ points
    return cast(npt.NDArray[np.float64], placed[:2] / placed[2])


def _inside(at: npt.NDArray[np.float64], width: int, height: int) -> Any:
    """1 where ``at`` (2 x N) lies on a ``width x height`` image, fading over a pixel."""
    x = np.minimum(at[0] + 0.5, width - 0.5 - at[0])
    y = np.minimum(at[1] + 0.5, height - 0.5 - at[1])
    return np.clip(np.minimum(x, y) + 0.5, 0.0, 1.0)


def _small_grey(image: Image, size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cast(npt.NDArray[np.uint8], cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))


def _consistency(forward: Flow, backward: Flow) -> Field:
    """Per pixel, how surely it is seen in the other image: 1 where following the forward
    flow and then the backward flow returns home, falling to 0 as the round trip misses."""
    back_there = _follow(backward, forward)
    miss = np.hypot(*(forward + back_there).transpose(2, 0, 1))
    tolerance = _OCCLUSION_TOLERANCE + 0.05 * np.hypot(*forward.transpose(2, 0, 1))
    return cast(Field, np.exp(-((miss / tolerance) ** 2)).astype(np.float32))


def _smooth(flow: npt.NDArray[Any]) -> Flow:
    return cast(Flow, cv2.GaussianBlur(flow.astype(np.float32), (0, 0), 1.5))


def _displacement(flow: Flow, amount: float) -> Flow:
    """How far back to sample so content moves ``amount`` of the way along ``flow``.

    Content at ``p`` moves to ``q = p + amount * flow(p)``; an output pixel ``q`` therefore
    samples ``p`` solving ``p = q - amount * flow(p)``, found by a few fixed-point steps
    (``flow(q)`` alone would tear where moving content meets a still background).
    """
    shift = flow * np.float32(amount)
    for _ in range(_INVERSION_STEPS):
        shift = cast(Flow, _follow(flow, -shift)) * np.float32(amount)
    return cast(Flow, shift)


def _follow(field: npt.NDArray[Any], flow: Flow) -> npt.NDArray[Any]:
    """``field`` read at each pixel's position plus ``flow`` (same size), edges replicated."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return _remap(field, cast(Flow, flow + np.dstack((xs, ys))))


def _remap(image: npt.NDArray[Any], at: Flow) -> npt.NDArray[Any]:
    """Sample ``image`` at absolute positions ``at`` (x, y per output pixel)."""
    # The stubs miss that map2 may be None when map1 holds both coordinates.
    out = cv2.remap(  # type: ignore[call-overload]
        image, at, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return cast(npt.NDArray[Any], out)
