"""He, Sun and Tang's guided filter: a rough mask made to follow the photo's own edges.

A hand-painted motion-brush mask or a segmenter's low-resolution person mask has edges that
miss the object's: cut out as they are, they carry a band of background along (a visible
rectangle, for a boxy mask) or leave part of the object behind. The guided filter fits, in
every window, the mask as a linear function of the photo's brightness, ``q = a * I + b``,
and averages the fits: where the window holds an image edge the mask snaps to it; where the
picture is flat the mask just softens. Box filters make it O(1) per pixel at any radius
(``cv2.ximgproc`` has one, but the contrib build is not a dependency).
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image

Alpha = npt.NDArray[np.float32]

#: Window radius (a share of the longer side) and regularisation (on 0..1 brightness):
#: eps ~ (0.1)^2 keeps edges weaker than about a tenth of full scale from steering the mask.
RADIUS = 0.012
EPS = 1e-2


def guided_filter(guide: npt.NDArray[np.float32], src: Alpha, radius: int, eps: float) -> Alpha:
    """The guided filter of ``src`` with the grey ``guide`` (both float, same size)."""
    size = (2 * radius + 1, 2 * radius + 1)

    def mean(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return cast(npt.NDArray[np.float32], cv2.boxFilter(x, cv2.CV_32F, size))

    mean_i, mean_p = mean(guide), mean(src)
    cov_ip = mean(guide * src) - mean_i * mean_p
    var_i = mean(guide * guide) - mean_i * mean_i
    a = (cov_ip / (var_i + np.float32(eps))).astype(np.float32)
    b = (mean_p - a * mean_i).astype(np.float32)
    return cast(Alpha, mean(a) * guide + mean(b))


def snap_mask(image: Image, mask: npt.NDArray[np.uint8], scale: float = 1.0) -> Alpha:
    """``mask`` (0..255) as an alpha in [0, 1] whose edges follow ``image``'s (RGB, same
    size); ``scale`` widens the window (1: :data:`RADIUS` of the longer side)."""
    height, width = mask.shape[:2]
    radius = max(2, round(RADIUS * scale * max(height, width)))
    guide = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)
    src = mask.astype(np.float32) * np.float32(1 / 255)
    snapped = guided_filter(guide, src, radius, EPS)
    return cast(Alpha, np.clip(snapped, 0.0, 1.0))
