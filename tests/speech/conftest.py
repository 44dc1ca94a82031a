"""The speech tests: espeak-ng through the ``espeakng-loader`` wheel that the ``server``
extra installs (or the system's libespeak-ng). Nothing is loaded at import: the ``espeak``
fixture loads it, skipping locally and failing in CI when it is missing."""

from __future__ import annotations

import os
from typing import Any

import pytest

from vidserve.errors import EngineError


@pytest.fixture(scope="session")
def espeak() -> Any:
    """The process's libespeak-ng. Missing: skipped locally, a failure in CI (where it must
    run)."""
    from vidserve.engines.speech.espeak import espeak as load

    try:
        return load()
    except EngineError as exc:
        message = str(exc)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
