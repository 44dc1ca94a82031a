"""Which engine serves which endpoint: the engines configuration held against each endpoint's
kind and each engine's capabilities.

An endpoint goes to the engine the configuration names for it, or to the default engine, or,
when the default cannot make its kind, to a built-in engine that needs no weights and can.
An endpoint the configuration maps by name to an engine that cannot make its kind is a
:class:`ConfigError` at start, naming both; one the default engine cannot make (text-to-video
on the motion engine) is not served, and says why and which engines could.

The API plans with the capabilities the registry declares (it never imports an engine);
workers plan with their built engines' own, which know their weights (a Wan text-to-video
folder makes no image-to-video). An operator's own engine (``module:Factory``) declares
nothing the API can read: the API lets its requests through and the worker checks them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vidserve.endpoints import ENDPOINTS
from vidserve.endpoints.effect_scenes import EFFECT_SCENES
from vidserve.engines.base import Capabilities, Kind
from vidserve.engines.config import EnginesConfig, EngineSpec
from vidserve.engines.registry import capabilities_of, engine_entry, engines_for
from vidserve.errors import ConfigError


@dataclass(frozen=True)
class Route:
    """How one endpoint is served here."""

    endpoint_id: str
    #: The engine table's name (its registered engine for the built-in ones); None: not served.
    engine: str | None
    #: What that engine honours; None where it is not known (an operator's engine).
    capabilities: Capabilities | None = None
    #: Why it is not served.
    reason: str | None = None

    @property
    def served(self) -> bool:
        return self.engine is not None


def declared_capabilities(spec: EngineSpec) -> Capabilities | None:
    """What the registry says an engine can do as configured, without importing it."""
    return capabilities_of(spec.engine, spec.options)


def engine_spec_for(config: EnginesConfig, endpoint_id: str) -> EngineSpec:
    """The engine ``config`` gives ``endpoint_id``: the one it maps the endpoint to, else its
    default; when the default cannot make the endpoint's kind, a registered engine that
    needs no weights and can (the speech engine for text-to-speech, the talk engine for
    lipsync and avatars), from its table when the file has one."""
    engine = config.engine_for(endpoint_id)
    kind = ENDPOINTS[endpoint_id].kind
    caps = declared_capabilities(engine)
    if endpoint_id in config.endpoints or caps is None or kind in caps.kinds:
        return engine
    for name in engines_for(kind):
        if not engine_entry(name).needs_weights:
            return config.engines.get(name) or EngineSpec(name, name)
    return engine


def plan_routes(
    config: EnginesConfig,
    capabilities: Callable[[EngineSpec], Capabilities | None] = declared_capabilities,
) -> dict[str, Route]:
    """A route for every catalog endpoint; ConfigError for an endpoint mapped by name to an
    engine that cannot make its kind."""
    _check_effect_scenes(config)
    routes: dict[str, Route] = {}
    for endpoint_id, endpoint in ENDPOINTS.items():
        engine = engine_spec_for(config, endpoint_id)
        caps = capabilities(engine)
        if caps is None or endpoint.kind in caps.kinds:
            routes[endpoint_id] = Route(endpoint_id, engine.name, caps)
            continue
        able = ", ".join(engines_for(endpoint.kind)) or "none yet"
        if endpoint_id in config.endpoints:
            hint = ""
            if endpoint.kind is Kind.EFFECTS and engine_entry(engine.engine).configured_effects:
                hint = (
                    f" (or give {engine.name!r} effect scenes: a table "
                    f"[engines.{engine.name}.effects.SCENE] with a prompt and a LoRA each)"
                )
            raise ConfigError(
                f"{config.source}: {endpoint_id} makes {endpoint.kind} video, but the engine "
                f"it is mapped to, {engine.name!r} ({engine.engine}), cannot; engines that "
                f"can: {able}{hint}"
            )
        reason = (
            f"{endpoint_id} makes {endpoint.kind} video, which the {engine.name} engine "
            f"(this server's default) cannot; engines that can: {able}. Map the endpoint to "
            "one in the engines configuration (VIDSERVE_ENGINES_CONFIG)"
        )
        routes[endpoint_id] = Route(endpoint_id, None, caps, reason)
    return routes


def _check_effect_scenes(config: EnginesConfig) -> None:
    """ConfigError for an effects table whose scene Kling does not have (a typo)."""
    for spec in config.engines.values():
        caps = declared_capabilities(spec)
        unknown = sorted(caps.effects - set(EFFECT_SCENES)) if caps is not None else []
        if unknown:
            raise ConfigError(
                f"{config.source}: [engines.{spec.name}.effects]: {', '.join(map(repr, unknown))} "
                "is not a Kling effect scene (the effect_scene values of the effects endpoints, "
                "e.g. squish, hug, day_to_night)"
            )
