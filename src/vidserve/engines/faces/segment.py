"""Where the people are: MediaPipe's general selfie segmentation (256x256)."""

from __future__ import annotations

import cv2
import numpy as np

from vidserve.engines.base import Image, Mask
from vidserve.engines.faces.geometry import check_image
from vidserve.engines.faces.models import SEGMENTER, load

_SIDE = 256


def person_mask(image: Image) -> Mask:
    """A soft mask of the people in an RGB image: ``uint8`` (h, w), 255 surely a person, 0
    surely not (the model's probability times 255; ``>= 128`` for a hard mask)."""
    check_image(image)
    height, width = image.shape[:2]
    # The model was trained on the whole frame squeezed to a square (MediaPipe's input).
    small = cv2.resize(image, (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
    (probability,) = load(SEGMENTER).run(small.astype(np.float32) / 255.0)
    full = cv2.resize(probability.reshape(_SIDE, _SIDE), (width, height),
                      interpolation=cv2.INTER_LINEAR)
    return np.asarray(np.clip(full, 0.0, 1.0) * 255.0 + 0.5, dtype=np.uint8)
