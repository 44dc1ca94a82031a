"""Start-to-end transitions: a flow-guided morph between two cover-fitted images."""

from __future__ import annotations

from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.motion.fit import clip_time, smoothstep

Flow = npt.NDArray[np.float32]

#: Optical flow is estimated at this size (longest side) and upscaled: far cheaper, and
#: the coarse scale is what a morph between two stills needs.
_FLOW_SIDE = 384
#: Lets remap take offsets instead of absolute coordinates (OpenCV 4.10+), saving a
#: full-frame coordinate grid sum per sample.
_RELATIVE_MAP: int | None = getattr(cv2, "WARP_RELATIVE_MAP", None)
#: Fixed-point steps to find where each output pixel came from (see ``_displacement``).
_INVERSION_STEPS = 3


class TransitionRender:
    """Morph from ``start`` to ``end`` (same size): frame 0 is ``start``, the last ``end``.

    Each in-between frame warps the start image ``t`` of the way along the start->end flow
    and the end image ``1 - t`` of the way back along the end->start flow, then blends the
    two with an eased weight, so matching content slides into place instead of ghosting.
    """

    def __init__(self, start: Image, end: Image, num_frames: int) -> None:
        if start.shape != end.shape:
            raise ValueError("start and end images must be the same size")
        self.num_frames = num_frames
        self._start = start
        self._end = end
        # Sampled as RGBX: OpenCV's remap has vector code for 4 channels, not 3 (~2.5x faster).
        self._start4 = cast(Image, cv2.cvtColor(start, cv2.COLOR_RGB2RGBA))
        self._end4 = cast(Image, cv2.cvtColor(end, cv2.COLOR_RGB2RGBA))
        self.height, self.width = start.shape[:2]
        forward, backward = _flows(start, end)
        self._forward = forward
        self._backward = backward
        # Small-flow pixels to output pixels, negated: a pixel samples behind its motion.
        self._to_offsets = -np.array(
            [self.width / forward.shape[1], self.height / forward.shape[0]], dtype=np.float32
        )

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        if index == 0 or self.num_frames == 1:
            return self._start.copy()
        if index == self.num_frames - 1:
            return self._end.copy()
        t = clip_time(index, self.num_frames)
        from_start = self._sample(self._start4, self._forward, t)
        from_end = self._sample(self._end4, self._backward, 1.0 - t)
        weight = smoothstep(t)
        blended = cv2.addWeighted(from_start, 1.0 - weight, from_end, weight, 0.0)
        return cast(Image, cv2.cvtColor(blended, cv2.COLOR_RGBA2RGB))

    def _sample(self, image: Image, flow: Flow, amount: float) -> Image:
        small = _displacement(flow, amount) * self._to_offsets
        offsets = cv2.resize(small, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return cast(Image, _remap(image, cast(Flow, offsets)))


def _flows(start: Image, end: Image) -> tuple[Flow, Flow]:
    """Dense flow start->end and end->start, in pixels of the small flow images."""
    height, width = start.shape[:2]
    factor = min(1.0, _FLOW_SIDE / max(width, height))
    size = (max(8, round(width * factor)), max(8, round(height * factor)))

    def grey(image: Image) -> npt.NDArray[np.uint8]:
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return cast(npt.NDArray[np.uint8], cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))

    a, b = grey(start), grey(end)
    # pyr_scale, levels, winsize, iterations, poly_n, poly_sigma: a deep pyramid for the
    # large displacements between two stills, a wide window for smooth fields.
    params = (0.5, 5, 21, 5, 7, 1.5, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)
    forward = cv2.calcOpticalFlowFarneback(a, b, None, *params)  # type: ignore[call-overload]
    backward = cv2.calcOpticalFlowFarneback(b, a, None, *params)  # type: ignore[call-overload]
    return cast(Flow, forward), cast(Flow, backward)


def _displacement(flow: Flow, amount: float) -> Flow:
    """How far back to sample so content moves ``amount`` of the way along ``flow``.

    Content at ``p`` moves to ``q = p + amount * flow(p)``; an output pixel ``q`` therefore
    samples ``p`` solving ``p = q - amount * flow(p)``, found by a few fixed-point steps
    (``flow(q)`` alone would tear where moving content meets a still background).
    """
    shift = flow * np.float32(amount)
    for _ in range(_INVERSION_STEPS):
        shift = cast(Flow, _remap(flow, -shift)) * np.float32(amount)
    return cast(Flow, shift)


def _remap(image: npt.NDArray[Any], offsets: Flow) -> npt.NDArray[Any]:
    """Sample ``image`` at each pixel's position plus ``offsets`` (x, y), edges replicated."""
    if _RELATIVE_MAP is not None:
        flags = cv2.INTER_LINEAR | _RELATIVE_MAP
        coords = offsets
    else:  # OpenCV < 4.10 takes absolute coordinates only
        flags = cv2.INTER_LINEAR
        height, width = offsets.shape[:2]
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        coords = offsets + np.dstack((xs, ys))
    # The stubs miss that map2 may be None when map1 holds both coordinates.
    out = cv2.remap(  # type: ignore[call-overload]
        image, coords, None, flags, borderMode=cv2.BORDER_REPLICATE
    )
    return cast(npt.NDArray[Any], out)
