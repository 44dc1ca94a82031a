"""The face tests run MediaPipe's models on LiteRT: the ``faces`` extra and the model files
(``python -m vidserve.engines.faces.install``), with scikit-image's astronaut portrait. When
those are missing, the tests that need them skip locally (naming the install command) and fail
in CI (``CI=true``), where they must run."""

from __future__ import annotations

import os

import numpy as np
import pytest

from vidserve.engines.base import Image
from vidserve.engines.faces import (
    Face,
    FacesUnavailableError,
    check_available,
    detect_faces,
    landmarks,
)
from vidserve.engines.faces.mesh import Landmarks


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def face_models() -> None:
    """The runtime and the three model files, or a skip (a failure in CI)."""
    try:
        check_available()
    except FacesUnavailableError as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="session")
def astronaut(face_models: None) -> Image:
    """scikit-image's portrait of Eileen Collins: 512x512, one face, smiling (teeth show)."""
    try:
        from skimage import data
    except ImportError:
        _unavailable("scikit-image is not installed (pip install -e '.[test]')")
    image = np.ascontiguousarray(data.astronaut())
    image.flags.writeable = False
    return image


@pytest.fixture(scope="session")
def astronaut_face(astronaut: Image) -> Face:
    (face,) = detect_faces(astronaut)
    return face


@pytest.fixture(scope="session")
def astronaut_points(astronaut: Image, astronaut_face: Face) -> Landmarks:
    points = landmarks(astronaut, astronaut_face)
    points.flags.writeable = False
    return points
