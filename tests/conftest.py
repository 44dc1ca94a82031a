"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidserve.engines.base import Image

from fakes import Harness
from helpers import ServerProcess, unavailable


@pytest.fixture(scope="session")
def face_models() -> None:
    """The face runtime and its three model files, or a skip (a failure in CI)."""
    from vidserve.engines.faces import FacesUnavailableError, check_available

    try:
        check_available()
    except FacesUnavailableError as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def astronaut(face_models: None) -> Image:
    """scikit-image's portrait of Eileen Collins: 512x512, one face, smiling (teeth show)."""
    try:
        from skimage import data
    except ImportError:
        unavailable("scikit-image is not installed (pip install -e '.[test]')")
    image = np.ascontiguousarray(data.astronaut())
    image.flags.writeable = False
    return image


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    """Start servers (stopped at the end); ``server_factory(workers=2)``."""
    started: list[ServerProcess] = []

    def start(
        workers: int = 1, data_dir: Path | None = None, port: int | None = None
    ) -> ServerProcess:
        srv = ServerProcess(data_dir or tmp_path / "data", workers, port).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """The app in process on SQLite and a local folder (see :class:`fakes.Harness`)."""
    h = Harness(tmp_path)
    with h.client:
        yield h
    h.store.close()
