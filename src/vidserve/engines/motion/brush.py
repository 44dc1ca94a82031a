"""Motion brush: masked regions of the start image travel along trajectories.

How a region moves depends on how far its trajectory takes it (:data:`SHORT`, a share of
the frame's diagonal):

- **a short trajectory bends the picture** (:mod:`.bend`): the region moves along its path
  as a whole and its surroundings follow it with a smooth falloff, as a gesture or a sway
  would move a real thing and what touches it. There is no hole and no seam: every frame is
  one smooth deformation of the photo.
- **a long one moves a cut-out**: the region is cut out along its mask, the mask's edges
  first snapped to the photo's own edges (a guided filter, :mod:`.guided`, so a rough or
  boxy mask carries no rectangle of background along), and drawn at its position along a
  smooth path through its points (:mod:`.path`); where it has left, a fill of the start
  image shows (:mod:`.fill`: inpainted structure plus texture borrowed from beside the
  hole).

Overlaps have one order: first every region's old place is uncovered, then the regions are
drawn in list order (a later mask covers an earlier one where they meet), and last the
static mask's pixels are pinned to the start image, over everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image, Mask
from vidserve.engines.motion.bend import Bend
from vidserve.engines.motion.fill import fill_holes
from vidserve.engines.motion.fit import clip_time, disc, smoothstep
from vidserve.engines.motion.guided import snap_mask
from vidserve.engines.motion.path import Trajectory

Alpha = npt.NDArray[np.float32]

#: A trajectory that never takes its region further than this share of the frame's
#: diagonal from where it started bends the picture; a longer one moves a cut-out. Up to
#: about a seventh of the diagonal a bend's falloff (four times the reach, see
#: :mod:`.bend`) still fits in the frame around a region of typical size.
SHORT = 0.15
#: Feather width (Gaussian sigma) as a fraction of the frame's longest side.
_FEATHER = 0.003
#: A region's old place is uncovered this many feather widths beyond the mask, so no
#: outline of the moved content stays behind.
_HOLE_GROW = 2


@dataclass(frozen=True)
class _Region:
    """A feathered cut-out: the start image's pixels and alpha inside a bounding box."""

    x: int
    y: int
    colour: npt.NDArray[np.float32]
    alpha: Alpha
    hole: Alpha
    path: Trajectory


class BrushRender:
    """Frames of a motion-brush clip over an already cover-fitted start image.

    ``masks`` and ``paths`` are in output pixels (fitted the same way as the image).
    """

    def __init__(
        self,
        image: Image,
        masks: list[Mask],
        paths: list[Trajectory],
        static_mask: Mask | None,
        num_frames: int,
    ) -> None:
        self.height, self.width = image.shape[:2]
        self.num_frames = num_frames
        self._image = image
        self._sigma = max(1.0, _FEATHER * max(self.width, self.height))
        diagonal = math.hypot(self.width, self.height)
        short = [path.reach < SHORT * diagonal for path in paths]
        self.bent = sum(short)
        self._bend = Bend(
            image,
            [m for m, s in zip(masks, short, strict=True) if s],
            [p for p, s in zip(paths, short, strict=True) if s],
            static_mask,
        )
        cut = [(m, p) for m, p, s in zip(masks, paths, short, strict=True) if not s]
        self._regions = [self._region(mask, path) for mask, path in cut]
        self._fill = self._inpaint() if cut else image
        self._pinned = None if static_mask is None else _pinned_box(static_mask)

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        progress = smoothstep(clip_time(index, self.num_frames))
        offsets = [region.path.offset(progress) for region in self._regions]
        frame = self._bend.frame(progress)
        # Uncover each region's old place first, so no region is hidden by another's hole.
        for region, (dx, dy) in zip(self._regions, offsets, strict=True):
            # Fade the hole in over the first pixels of travel: frame 0 stays the image.
            reveal = min(1.0, math.hypot(dx, dy) / self._sigma)
            if reveal > 0.0:
                fill = self._fill_patch(region)
                self._blend(frame, fill, region.hole * reveal, region.x, region.y)
        for region, (dx, dy) in zip(self._regions, offsets, strict=True):
            self._draw(frame, region, dx, dy)
        if self._pinned is not None:
            box, inside = self._pinned
            np.copyto(frame[box], self._image[box], where=inside)
        return frame

    def _region(self, mask: Mask, path: Trajectory) -> _Region:
        inside = (mask >= 128).astype(np.uint8)
        # The mask's edges snapped to the photo's, then feathered by the usual width.
        snapped = snap_mask(self._image, inside * 255)
        alpha = cast(Alpha, cv2.GaussianBlur(snapped, (0, 0), 0.5 * self._sigma))
        reach = (inside | (alpha > 0.05)).astype(np.uint8)
        grown = cast(Mask, cv2.dilate(reach, disc(_HOLE_GROW * self._sigma)))
        hole = _blur(grown, self._sigma)
        ys, xs = np.nonzero(hole > 1.0 / 512)  # below half a code value: invisible
        if len(xs) == 0:
            empty = np.zeros((0, 0), np.float32)
            return _Region(0, 0, np.zeros((0, 0, 3), np.float32), empty, empty, path)
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        box = (slice(y0, y1), slice(x0, x1))
        colour = self._image[box].astype(np.float32)
        return _Region(x0, y0, colour, alpha[box].copy(), hole[box].copy(), path)

    def _inpaint(self) -> Image:
        """The start image with every cut-out region's hole filled from around it."""
        hole = np.zeros((self.height, self.width), np.uint8)
        for region in self._regions:
            h, w = region.hole.shape
            box = hole[region.y : region.y + h, region.x : region.x + w]
            box[region.hole > 1.0 / 512] = 255
        # Cover the interpolation's reach too.
        hole = cast(Mask, cv2.dilate(hole, disc(1.0)))
        return fill_holes(self._image, hole)

    def _fill_patch(self, region: _Region) -> npt.NDArray[np.float32]:
        h, w = region.alpha.shape
        return self._fill[region.y : region.y + h, region.x : region.x + w].astype(np.float32)

    def _draw(self, frame: Image, region: _Region, dx: float, dy: float) -> None:
        if region.alpha.size == 0:
            return
        # Whole-pixel part by placement, the sub-pixel rest by a tiny warp of the patch.
        left, top = region.x + dx, region.y + dy
        ix, iy = math.floor(left), math.floor(top)
        shift = np.array([[1.0, 0.0, left - ix], [0.0, 1.0, top - iy]])
        h, w = region.alpha.shape
        size = (w + 1, h + 1)
        colour = cv2.warpAffine(
            region.colour, shift, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        alpha = cv2.warpAffine(
            region.alpha, shift, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        self._blend(frame, cast(Alpha, colour), cast(Alpha, alpha), ix, iy)

    def _blend(
        self, frame: Image, colour: npt.NDArray[np.float32], alpha: Alpha, x: int, y: int
    ) -> None:
        """Alpha-blend a patch whose top-left lands at ``(x, y)``, clipped to the frame."""
        h, w = alpha.shape
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x0 >= x1 or y0 >= y1:
            return
        a = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
        c = colour[y0 - y : y1 - y, x0 - x : x1 - x]
        under = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = np.rint(under + (c - under) * a).astype(np.uint8)


def _blur(mask: npt.NDArray[np.uint8], sigma: float) -> Alpha:
    """A 0/1 mask softened into an alpha in [0, 1]."""
    return cast(Alpha, cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma))


def _pinned_box(
    static_mask: Mask,
) -> tuple[tuple[slice, slice], npt.NDArray[np.bool_]] | None:
    """The static mask's bounding box and its pixels there (copying a box is much cheaper
    than a masked copy of the whole frame)."""
    inside = static_mask >= 128
    ys, xs = np.nonzero(inside)
    if len(xs) == 0:
        return None
    box = (slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1))
    return box, inside[box][:, :, None]
