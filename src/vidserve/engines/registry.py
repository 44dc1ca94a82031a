"""Engine names to engine factories. Imports are lazy: naming an engine loads only its
module, and a diffusion engine's module imports torch only when the model loads.

Besides the registered names, an engine may be named ``package.module:Factory`` (an
operator's own engine, or a test fixture): the factory is called with the weights folder,
when one is configured, and the options as keywords.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidserve.engines.base import Capabilities, Engine, Feature, Kind
from vidserve.errors import ConfigError

#: The effect scenes the motion engine renders (``engines/motion/effects.py``).
MOTION_EFFECTS = frozenset(
    {"squish", "expansion", "dizzydizzy", "bloombloom", "fuzzyfuzzy"}
    | {"hug", "kiss", "heart_gesture"}
)

#: The most photos an effect scene takes (hug, kiss, heart_gesture: two people).
MAX_EFFECT_PHOTOS = 2

#: The motion engine: no text-to-video (it cannot draw from words), no sound.
MOTION_CAPABILITIES = Capabilities(
    kinds=frozenset(
        {Kind.IMAGE_TO_VIDEO, Kind.ELEMENTS, Kind.REFERENCE_TO_VIDEO, Kind.EFFECTS}
    ),
    features=frozenset(
        {Feature.END_IMAGE, Feature.CAMERA, Feature.MOTION_BRUSH, Feature.STORYBOARD}
    ),
    max_reference_images=7,
    effects=MOTION_EFFECTS,
)

#: The CPU talking engine (``engines/talk``): a face made to speak, in a video or a photo.
TALK_CAPABILITIES = Capabilities(kinds=frozenset({Kind.LIPSYNC, Kind.AVATAR}))
#: espeak-ng speech (``engines/speech``).
SPEECH_CAPABILITIES = Capabilities(kinds=frozenset({Kind.TEXT_TO_SPEECH}))

#: The most a diffusion family can do with some weights folder; a loaded engine declares
#: what its own folder allows (a Wan T2V folder makes no image-to-video). Effects come on
#: top, from the engine's ``effects`` tables (:func:`capabilities_of`).
WAN_CAPABILITIES = Capabilities(
    kinds=frozenset({Kind.IMAGE_TO_VIDEO, Kind.TEXT_TO_VIDEO, Kind.REFERENCE_TO_VIDEO}),
    features=frozenset({Feature.END_IMAGE, Feature.STORYBOARD, Feature.LORA}),
    max_reference_images=7,
)
LTX_CAPABILITIES = Capabilities(
    kinds=frozenset({Kind.IMAGE_TO_VIDEO, Kind.TEXT_TO_VIDEO}),
    features=frozenset({Feature.END_IMAGE, Feature.STORYBOARD, Feature.LORA}),
)
COGVIDEOX_CAPABILITIES = Capabilities(
    kinds=frozenset({Kind.IMAGE_TO_VIDEO, Kind.TEXT_TO_VIDEO}),
    features=frozenset({Feature.STORYBOARD, Feature.LORA}),
)


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
    #: The most it can honour, known without importing it (the API checks submits with it);
    #: None for an operator's ``module:Factory`` (its class declares its own).
    capabilities: Capabilities | None = None
    #: Its ``effects`` option maps effect scenes to what renders them (diffusion engines: a
    #: LoRA and a prompt each): it makes effects, those scenes only, when that is set.
    configured_effects: bool = False


_ENGINES: dict[str, EngineEntry] = {
    "motion": EngineEntry(
        "vidserve.engines.motion:MotionEngine", capabilities=MOTION_CAPABILITIES
    ),
    "talk": EngineEntry("vidserve.engines.talk:TalkEngine", capabilities=TALK_CAPABILITIES),
    "speech": EngineEntry(
        "vidserve.engines.speech.engine:SpeechEngine", capabilities=SPEECH_CAPABILITIES
    ),
    "wan": EngineEntry(
        "vidserve.engines.diffusers.wan:WanImageToVideoEngine",
        needs_weights=True,
        isolate=True,
        capabilities=WAN_CAPABILITIES,
        configured_effects=True,
    ),
    "ltx": EngineEntry(
        "vidserve.engines.diffusers.ltx:LTXImageToVideoEngine",
        needs_weights=True,
        isolate=True,
        capabilities=LTX_CAPABILITIES,
        configured_effects=True,
    ),
    "cogvideox": EngineEntry(
        "vidserve.engines.diffusers.cogvideox:CogVideoXImageToVideoEngine",
        needs_weights=True,
        isolate=True,
        capabilities=COGVIDEOX_CAPABILITIES,
        configured_effects=True,
    ),
}

DEFAULT_ENGINE = "motion"


def engine_names() -> list[str]:
    """The registered engine names."""
    return sorted(_ENGINES)


def engines_for(kind: Kind) -> list[str]:
    """The registered engines that can serve ``kind`` (with suitable weights), by name."""
    return [
        name
        for name, entry in sorted(_ENGINES.items())
        if entry.capabilities is not None and kind in entry.capabilities.kinds
    ]


def capabilities_of(name: str, options: Mapping[str, Any]) -> Capabilities | None:
    """What the engine ``name`` configured with ``options`` can do, without importing it:
    its entry's capabilities, with the effect scenes its ``effects`` tables name."""
    entry = engine_entry(name)
    caps = entry.capabilities
    scenes = options.get("effects")
    if caps is not None and entry.configured_effects and isinstance(scenes, Mapping) and scenes:
        return with_effects(caps, frozenset(map(str, scenes)))
    return caps


def with_effects(caps: Capabilities, scenes: frozenset[str]) -> Capabilities:
    """``caps`` that also render the effect ``scenes`` (whose photos count as references)."""
    return dataclasses.replace(
        caps,
        kinds=caps.kinds | {Kind.EFFECTS},
        effects=scenes,
        max_reference_images=max(caps.max_reference_images, MAX_EFFECT_PHOTOS),
    )


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
