"""Where a photo's subject is, without a segmentation model.

The subject is what differs from the border's colour: a product on a plain backdrop, a
portrait against a wall. When the border is not one colour (a busy scene) or nearly
everything (or nothing) differs from it, there is no such region, and the subject is taken
to be the centre of the picture, where photographers put it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from vidserve.engines.base import Image, Mask

#: Colour distance (max over RGB) from the border colour that counts as different.
_THRESHOLD = 40
#: The border band, as a fraction of the shorter side.
_BAND = 0.03
#: The border is "one colour" when at least this share of it is within the threshold.
_PLAIN_BORDER = 0.7
#: A found region must cover between these shares of the frame to be believed.
_LEAST, _MOST = 0.005, 0.85
#: The fallback: a centred ellipse this share of the width and height across.
_CENTRE_W, _CENTRE_H = 0.55, 0.7


@dataclass(frozen=True)
class Subject:
    """The subject's mask (255 inside) and bounding box ``(x0, y0, x1, y1)``, exclusive."""

    mask: Mask
    box: tuple[int, int, int, int]
    #: False when the picture had no region apart from its border (the centre was taken).
    found: bool

    @property
    def centre(self) -> tuple[float, float]:
        """The box centre in pixel coordinates."""
        x0, y0, x1, y1 = self.box
        return (x0 + x1 - 1) / 2.0, (y0 + y1 - 1) / 2.0


def find_subject(image: Image) -> Subject:
    """The subject of ``image``: the region unlike its border, else the centre."""
    height, width = image.shape[:2]
    band = max(1, round(_BAND * min(width, height)))
    smooth = cv2.GaussianBlur(image, (0, 0), 1.0).astype(np.int16)
    border = np.concatenate(
        [
            smooth[:band].reshape(-1, 3),
            smooth[-band:].reshape(-1, 3),
            smooth[:, :band].reshape(-1, 3),
            smooth[:, -band:].reshape(-1, 3),
        ]
    )
    colour = np.median(border, axis=0).astype(np.int16)
    plain = np.mean(np.abs(border - colour).max(axis=1) < _THRESHOLD) >= _PLAIN_BORDER
    if plain:
        inside = (np.abs(smooth - colour).max(axis=2) >= _THRESHOLD).astype(np.uint8) * 255
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        inside = cv2.morphologyEx(inside, cv2.MORPH_OPEN, kernel)
        inside = cv2.morphologyEx(inside, cv2.MORPH_CLOSE, kernel)
        share = float(np.count_nonzero(inside)) / inside.size
        if _LEAST <= share <= _MOST:
            ys, xs = np.nonzero(inside)
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            return Subject(cast(Mask, inside), box, True)
    return _centre(width, height)


def _centre(width: int, height: int) -> Subject:
    mask = np.zeros((height, width), np.uint8)
    half_w, half_h = round(width * _CENTRE_W / 2), round(height * _CENTRE_H / 2)
    cx, cy = width // 2, height // 2
    cv2.ellipse(mask, (cx, cy), (half_w, half_h), 0, 0, 360, 255, -1)
    box = (cx - half_w, cy - half_h, cx + half_w + 1, cy + half_h + 1)
    return Subject(mask, box, False)
