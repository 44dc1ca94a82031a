"""Engine names to engine factories. Imports are lazy: naming an engine loads only its
module, and a diffusion engine's module imports torch only when the model loads.

Besides the registered names, an engine may be named ``package.module:Factory`` (an
operator's own engine, or a test fixture): the factory is called with the weights folder,
when one is configured, and the options as keywords.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidserve.engines.base import Engine
from vidserve.errors import ConfigError


@dataclass(frozen=True)
class EngineEntry:
    """How to make a registered engine."""

    #: ``module:attribute`` of the factory (usually the class).
    target: str
    #: The factory's first argument is a weights folder.
    needs_weights: bool = False
    #: Runs in a child process unless the configuration says otherwise (model code that may
    #: crash or run out of GPU memory).
    isolate: bool = False


_ENGINES: dict[str, EngineEntry] = {
    "motion": EngineEntry("vidserve.engines.motion:MotionEngine"),
    "wan": EngineEntry(
        "vidserve.engines.diffusers.wan:WanImageToVideoEngine", needs_weights=True, isolate=True
    ),
    "ltx": EngineEntry(
        "vidserve.engines.diffusers.ltx:LTXImageToVideoEngine", needs_weights=True, isolate=True
    ),
    "cogvideox": EngineEntry(
        "vidserve.engines.diffusers.cogvideox:CogVideoXImageToVideoEngine",
        needs_weights=True,
        isolate=True,
    ),
}

DEFAULT_ENGINE = "motion"


def engine_names() -> list[str]:
    """The registered engine names."""
    return sorted(_ENGINES)


def engine_entry(name: str) -> EngineEntry:
    """The entry for a registered name or a ``module:Factory`` target (isolated by default:
    code vidserve does not know should not be able to take the worker down)."""
    entry = _ENGINES.get(name)
    if entry is not None:
        return entry
    if ":" in name:
        return EngineEntry(name, isolate=True)
    raise ConfigError(
        f"unknown engine {name!r}; known engines: {', '.join(engine_names())} "
        "(or a 'package.module:Factory' of your own)"
    )


def create_engine(
    name: str, weights: Path | None = None, options: Mapping[str, Any] | None = None
) -> Engine:
    """A new engine by name, configured but not loaded; ConfigError for an unknown name, a
    missing or unusable weights folder, or a bad option."""
    entry = engine_entry(name)
    if entry.needs_weights and weights is None:
        raise ConfigError(f"engine {name!r} needs a weights folder ('weights = \"/path\"')")
    if weights is not None and not entry.needs_weights and name in _ENGINES:
        raise ConfigError(f"engine {name!r} takes no weights folder; remove 'weights'")
    module_name, _, attr = entry.target.partition(":")
    try:
        factory: Callable[..., Engine] = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"engine {name!r}: cannot import {entry.target} ({exc})") from None
    args = () if weights is None else (weights,)
    try:
        return factory(*args, **dict(options or {}))
    except TypeError as exc:
        # An option the factory does not take (the motion engine's, or a custom one's).
        raise ConfigError(f"engine {name!r}: {exc}") from None
