"""The talk engine's tests run the face models (the ``faces`` extra and its model files) on
scikit-image's astronaut portrait, and espeak-ng for speech from text. When those are
missing the tests that need them skip locally, naming what to install, and fail in CI
(``CI=true``), where they must run."""

from __future__ import annotations

from pathlib import Path

import pytest
from talk_media import panning_video

from vidserve.engines.base import Image
from vidserve.errors import EngineError

from helpers import unavailable


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
        unavailable(str(exc))
