"""Engine names to engine factories. Imports are lazy: naming an engine loads only it."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from vidserve.engines.base import Engine
from vidserve.errors import ConfigError

#: name -> "module:attribute" of a zero-argument engine factory (usually the class).
_ENGINES: dict[str, str] = {
    "motion": "vidserve.engines.motion:MotionEngine",
}

DEFAULT_ENGINE = "motion"


def engine_names() -> list[str]:
    return sorted(_ENGINES)


def create_engine(name: str) -> Engine:
    """A new engine by name; ConfigError for names nobody registered."""
    target = _ENGINES.get(name)
    if target is None:
        raise ConfigError(f"unknown engine {name!r}; known engines: {', '.join(engine_names())}")
    module_name, _, attr = target.partition(":")
    factory: Callable[[], Engine] = getattr(importlib.import_module(module_name), attr)
    return factory()
