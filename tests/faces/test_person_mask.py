"""person_mask: the selfie segmenter over her portrait and over a wall."""

from __future__ import annotations

import cv2
import numpy as np
from face_images import texture

from vidserve.engines.base import Image
from vidserve.engines.faces import FACE_OVAL, person_mask
from vidserve.engines.faces.mesh import Landmarks


def test_mask_covers_her(astronaut: Image, astronaut_points: Landmarks) -> None:
    mask = person_mask(astronaut)
    assert mask.shape == astronaut.shape[:2] and mask.dtype == np.uint8
    face = np.zeros_like(mask)
    cv2.fillPoly(face, [astronaut_points[list(FACE_OVAL), :2].astype(np.int32)], 255)
    assert (mask[face > 0] >= 128).mean() > 0.99
    assert (mask[300:500, 100:250] >= 128).mean() > 0.9  # her suit
    assert (mask[0:60, 300:380] < 128).all()  # the wall behind her
    assert (mask[60:160, 400:440] < 128).mean() > 0.9  # the model shuttle


def test_no_person_on_a_wall(face_models: None) -> None:
    assert (person_mask(texture()) >= 128).mean() < 0.05
