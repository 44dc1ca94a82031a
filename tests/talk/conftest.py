"""The talk engine's tests run the face models (the ``faces`` extra and its model files) on
scikit-image's astronaut portrait, and espeak-ng for speech from text. When those are
missing the tests that need them skip locally, naming what to install, and fail in CI
(``CI=true``), where they must run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from talk_media import panning_video

from vidserve.engines.base import Image
from vidserve.engines.faces import FacesUnavailableError, check_available
from vidserve.errors import EngineError


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def face_models() -> None:
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
def portrait_video(astronaut: Image, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of the portrait at 640x360, 25 fps, slowly zooming and panning around her face."""
    return panning_video(tmp_path_factory.mktemp("talk") / "portrait.mp4", astronaut, 3.0)


@pytest.fixture(scope="session")
def espeak() -> None:
    from vidserve.engines.speech.espeak import espeak as load

    try:
        load()
    except EngineError as exc:
        _unavailable(str(exc))
