"""Parallax: the person in a photo moves as a nearer layer than the background behind them.

A camera that travels or pushes in past a person sees them move further than the wall
behind them; a flat photo moved as one sheet reads as a slide, not a place. With a person in
the photo (MediaPipe's selfie segmenter, :func:`vidserve.engines.faces.person_mask`) the
picture is split in two layers:

- the foreground: the photo with the person's mask (its edges snapped to the photo's by the
  guided filter, :mod:`.guided`) as its alpha;
- the background: the photo with the person removed and the place filled from around it
  (:mod:`.fill`), which shows only in the thin strips the person uncovers as they move.

Both carry the outpainted band (:mod:`.outpaint`), so a person cut by the frame's edge
continues past it. Travel and zoom move the foreground :data:`FOREGROUND_GAIN` times as far
as the background (which makes exactly the requested move); turns move both alike, as a
turning camera does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image, Mask, RunContext
from vidserve.engines.motion.fill import fill_holes
from vidserve.engines.motion.fit import Matrix, disc
from vidserve.engines.motion.guided import snap_mask
from vidserve.engines.motion.outpaint import band_distance, extend

#: How much further the person moves than the background (travel; zoom in log terms).
FOREGROUND_GAIN = 1.4
#: A person covering less of the photo than this is too small to be a layer worth the cost;
#: one covering more than MAX_SHARE fills it, leaving too little background to move against.
MIN_SHARE = 0.02
MAX_SHARE = 0.7
#: The face detector's confidence a face needs here: real faces score 0.9 and more on
#: portraits, while clouds, ridges and cats reach 0.5 to 0.6.
MIN_FACE_SCORE = 0.75
_DETECT_SIDE = 640
#: The background's hole reaches this far (a share of the longer side) beyond the mask, so
#: no fringe of the person stays on the background.
_HOLE_GROW = 0.012


def person_share(mask: npt.NDArray[np.uint8]) -> float:
    """The share of the picture the (soft, 0..255) person mask covers."""
    return float(np.count_nonzero(mask >= 128)) / max(1, mask.size)


@dataclass(frozen=True)
class Layers:
    """The background and foreground sources (RGBA, with the outpainted band) and the
    foreground's bounding box in source pixels (x0, y0, x1, y1)."""

    background: Image
    foreground: Image
    box: tuple[int, int, int, int]

    @classmethod
    def create(cls, fitted: Image, mask: npt.NDArray[np.uint8], pad_x: int, pad_y: int) -> Layers:
        """Split ``fitted`` (RGB) by ``mask`` (soft, 0..255, same size); ``pad_x``/``pad_y``
        are the outpainted band's width (as the camera's source has it)."""
        height, width = mask.shape
        # The person's outline, snapped to the photo's edges, grown a little so no fringe
        # of them stays behind on the background.
        person = snap_mask(fitted, mask) > 0.25
        grow = max(1, math.ceil(_HOLE_GROW * max(height, width)))
        hole = cast(Mask, cv2.dilate(person.astype(np.uint8) * 255, disc(grow)))
        filled = fill_holes(fitted, hole)
        background = extend(cast(Image, cv2.cvtColor(filled, cv2.COLOR_RGB2RGBA)), pad_x, pad_y)
        # The foreground is opaque over the whole hole and fades out just beyond it, so
        # where both layers sit still their blend is the photo, exactly.
        soft = max(1.0, grow / 2.0)
        reach = cv2.dilate(hole, disc(math.ceil(2 * soft)))
        alpha = cv2.GaussianBlur(reach.astype(np.float32) / 255.0, (0, 0), soft)
        alpha[hole > 0] = 1.0
        front = cv2.cvtColor(fitted, cv2.COLOR_RGB2RGBA)
        front[:, :, 3] = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
        # A person cut by the photo's edge continues into the band, softly, and fades out
        # within half of it (a sharp mirror image of a head would read as a second head).
        foreground = extend(cast(Image, front), pad_x, pad_y)
        fade_out = np.float32(max(1.0, 0.5 * max(pad_x, pad_y)))
        fade = np.clip(1.0 - band_distance(height, width, pad_x, pad_y) / fade_out, 0.0, 1.0)
        foreground[:, :, 3] = (foreground[:, :, 3] * fade + 0.5).astype(np.uint8)
        ys, xs = np.nonzero(foreground[:, :, 3] > 2)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 2, int(ys.max()) + 2)
        return cls(background, foreground, box)

    def render(self, far: Matrix, near: Matrix, width: int, height: int) -> Image:
        """One frame: the background through ``far``, the person through ``near``."""
        back = cv2.warpPerspective(
            self.background, far, (width, height), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )  # fmt: skip
        out = cast(Image, cv2.cvtColor(back, cv2.COLOR_RGBA2RGB))
        roi = self._roi(near, width, height)
        if roi is None:
            return out
        x0, y0, x1, y1 = roi
        shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
        front = cv2.warpPerspective(
            self.foreground, shift @ near, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0),
        )  # fmt: skip
        alpha = front[:, :, 3].astype(np.float32) * np.float32(1 / 255)
        colour = cv2.cvtColor(front, cv2.COLOR_RGBA2RGB)
        under = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = cv2.blendLinear(colour, under, alpha, 1.0 - alpha)
        return out

    def _roi(self, near: Matrix, width: int, height: int) -> tuple[int, int, int, int] | None:
        """The output box the foreground's box lands in, clipped to the frame."""
        x0, y0, x1, y1 = self.box
        corners = np.array([[x0, x1, x0, x1], [y0, y0, y1, y1], [1.0, 1.0, 1.0, 1.0]])
        placed = near @ corners
        xy = placed[:2] / placed[2]
        left, top = max(0, math.floor(xy[0].min()) - 1), max(0, math.floor(xy[1].min()) - 1)
        right = min(width, math.ceil(xy[0].max()) + 2)
        bottom = min(height, math.ceil(xy[1].max()) + 2)
        if left >= right or top >= bottom:
            return None
        return left, top, right, bottom


def find_person(photo: Image, ctx: RunContext) -> tuple[npt.NDArray[np.uint8] | None, str]:
    """The soft mask of the person in ``photo`` when there is one big enough to be a layer
    (else None), and a few words for the log saying which and why. Without the face models
    the log gets a warning naming what to install."""
    from vidserve.engines.faces import FacesUnavailableError, detect_faces, person_mask

    try:
        # The segmenter alone finds "people" in cups and chairs; a sure face confirms one.
        # Found at most 640 px across: as sure for a face of a tenth of the picture, and
        # several times cheaper on a large photo.
        shrink = min(1.0, _DETECT_SIDE / max(photo.shape[:2]))
        small = photo
        if shrink < 1.0:
            size = (round(photo.shape[1] * shrink), round(photo.shape[0] * shrink))
            small = cast(Image, cv2.resize(photo, size, interpolation=cv2.INTER_AREA))
        faces = detect_faces(small, min_score=MIN_FACE_SCORE)
        if not faces:
            return None, "one layer: no face, so no person to set apart"
        mask = person_mask(photo)
    except FacesUnavailableError as exc:
        ctx.log(f"motion: no parallax: the person segmenter is unavailable ({exc})", "WARN")
        return None, "one layer: no person segmenter"
    share = person_share(mask)
    if share < MIN_SHARE:
        return None, f"one layer: no person found ({share:.1%} of the photo)"
    if share > MAX_SHARE:
        return None, f"one layer: the person fills {share:.0%} of the photo"
    x0, y0, x1, y1 = (round(v / shrink) for v in faces[0].box)
    if not np.mean(mask[max(0, y0) : y1, max(0, x0) : x1] >= 128) > 0.5:
        return None, "one layer: the face found is not on the person found"
    return mask, (
        f"parallax: the person ({share:.0%} of the photo) moves {FOREGROUND_GAIN:g}x as far "
        "as the background"
    )
