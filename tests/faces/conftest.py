"""The face tests run MediaPipe's models on LiteRT: the ``faces`` extra and the model files
(``python -m vidserve.engines.faces.install``), with scikit-image's astronaut portrait. When
those are missing, the tests that need them skip locally (naming the install command) and fail
in CI (``CI=true``), where they must run."""

from __future__ import annotations

import pytest

from vidserve.engines.base import Image
from vidserve.engines.faces import (
    Face,
    detect_faces,
    landmarks,
)
from vidserve.engines.faces.mesh import Landmarks


@pytest.fixture(scope="session")
def astronaut_face(astronaut: Image) -> Face:
    (face,) = detect_faces(astronaut)
    return face


@pytest.fixture(scope="session")
def astronaut_points(astronaut: Image, astronaut_face: Face) -> Landmarks:
    points = landmarks(astronaut, astronaut_face)
    points.flags.writeable = False
    return points
