"""Kling's effect scenes on a diffusion engine: each scene the engine's TOML names renders as
image-to-video from the request's photo, with the scene's prompt and (usually) its LoRA, the
way effect LoRAs for open video models are made and used (a LoRA trained on clips of the
effect, and the prompt it was trained with)::

    [engines.wan.effects.squish]
    lora = "squish"                   # a LoRA of [[engines.wan.loras]] by name, or a
                                      # .safetensors file (relative: to the TOML's folder)
    prompt = "the subject is squished flat like soft clay"
    negative_prompt = "blurry"        # optional
    scale = 1.0                       # optional: the LoRA's strength (default: its own)

A scene without ``lora`` renders from its prompt alone. Scene names are Kling's (the API
refuses a TOML naming another when it plans its routes); the scenes an engine names are the
only ones its effects endpoints accept, at submit. One-photo scenes start from the photo;
the two-photo ones (``hug``, ``kiss``, ``heart_gesture``) start from the two photos side by
side, each filling its half. The engine's default LoRAs (a step-distilled speed LoRA) stay on
under the scene's.

Torch-free: checked when the engine is made (the worker's start), used in its process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidserve.engines.base import Capabilities, Image, Kind, LoraWeight, RunContext, VideoRequest
from vidserve.engines.diffusers.loras import LoraCatalog
from vidserve.engines.registry import with_effects
from vidserve.errors import ConfigError, EngineError

_KEYS = {"lora": str, "prompt": str, "negative_prompt": str, "scale": float}


@dataclass(frozen=True)
class EffectSpec:
    """How one scene renders."""

    scene: str
    prompt: str
    negative_prompt: str = ""
    #: A LoRA of the engine's catalog, by name; None: the prompt alone.
    lora: str | None = None
    #: Its strength; None: the LoRA's configured scale.
    scale: float | None = None


def parse_effect(engine: str, scene: str, raw: Any, loras: LoraCatalog) -> EffectSpec:
    """One ``[engines.X.effects.SCENE]`` table; ConfigError naming the key. A ``lora`` that
    is a file joins the engine's LoRA catalog (loaded with the model, like the others)."""
    where = f"engine {engine}: effects.{scene}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table (lora = ..., prompt = ...)")
    for key, value in raw.items():
        wanted = _KEYS.get(key)
        if wanted is None:
            raise ConfigError(f"{where}: unknown key {key!r}; known: {', '.join(sorted(_KEYS))}")
        types: tuple[type, ...] = (float, int) if wanted is float else (wanted,)
        if isinstance(value, bool) or not isinstance(value, types):
            raise ConfigError(f"{where}: {key} must be a {wanted.__name__}; got {value!r}")
    prompt = str(raw.get("prompt", "")).strip()
    if not prompt:
        raise ConfigError(f'{where}: give the prompt the scene renders with (prompt = "...")')
    lora = raw.get("lora")
    if lora is not None:
        lora = loras.file_spec(lora).name if lora.endswith(".safetensors") else lora
        if lora not in loras.specs:
            known = ", ".join(sorted(loras.specs)) or "none are configured"
            raise ConfigError(
                f"{where}: lora {lora!r} is neither a LoRA of this engine (known: {known}) nor "
                "a .safetensors file"
            )
    scale = raw.get("scale")
    return EffectSpec(
        scene=scene,
        prompt=prompt,
        negative_prompt=str(raw.get("negative_prompt", "")),
        lora=lora,
        scale=None if scale is None else float(scale),
    )


class EffectCatalog:
    """The scenes an engine renders, from its ``effects`` option."""

    def __init__(self, engine: str, raw: Mapping[str, Any], loras: LoraCatalog) -> None:
        self.engine = engine
        self.loras = loras
        self.specs = {scene: parse_effect(engine, scene, t, loras) for scene, t in raw.items()}

    def extend(self, capabilities: Capabilities, label: str) -> Capabilities:
        """``capabilities`` with the effects kind and these scenes; ConfigError when the model
        makes no image-to-video (an effect starts from the photo)."""
        if not self.specs:
            return capabilities
        if Kind.IMAGE_TO_VIDEO not in capabilities.kinds:
            raise ConfigError(
                f"engine {self.engine}: effects start from a photo, but {label} makes no "
                "image-to-video; remove the effects tables or use image-to-video weights"
            )
        return with_effects(capabilities, frozenset(self.specs))

    def as_image_to_video(self, request: VideoRequest, ctx: RunContext) -> VideoRequest:
        """An effects ``request`` as the image-to-video request that renders it (any other
        request, or any request when no scene is configured, as it is: the engine refuses
        what it cannot make); EngineError (``unsupported_input``) for a scene not configured."""
        if request.kind is not Kind.EFFECTS or not self.specs:
            return request
        spec = self.specs.get(request.effect or "")
        if spec is None:
            known = ", ".join(sorted(self.specs))
            raise EngineError(
                f"{self.engine}: no effect scene {request.effect!r} is configured on this "
                f"engine; it renders: {known}",
                "unsupported_input",
            )
        photos = request.reference_images or (
            () if request.start_image is None else (request.start_image,)
        )
        if not photos:
            raise EngineError(f"{self.engine}: an effect needs a photo", "unsupported_input")
        start = photos[0] if len(photos) == 1 else side_by_side(photos, request)
        ctx.log(
            f"{self.engine}: effect {spec.scene!r} as image-to-video from "
            f"{'one photo' if len(photos) == 1 else f'{len(photos)} photos side by side'}, "
            f"prompt {spec.prompt!r}"
        )
        return dataclasses.replace(
            request,
            kind=Kind.IMAGE_TO_VIDEO,
            effect=None,
            reference_images=(),
            start_image=start,
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt or request.negative_prompt,
            loras=self._loras(spec, request.loras),
        )

    def _loras(self, spec: EffectSpec, picked: tuple[LoraWeight, ...]) -> tuple[LoraWeight, ...]:
        """The request's LoRAs (or the engine's defaults) with the scene's."""
        if spec.lora is None:
            return picked
        base = picked or tuple(
            LoraWeight(name=s.name, scale=s.scale) for s in self.loras.defaults()
        )
        base = tuple(w for w in base if w.name != spec.lora)
        return (*base, LoraWeight(name=spec.lora, scale=spec.scale))


def side_by_side(photos: tuple[Image, ...], request: VideoRequest) -> Image:
    """The photos in a row at the request's size, each cover-fitted to its share."""
    from vidserve.engines.diffusers.runtime import cover_fit

    edges = np.linspace(0, request.width, len(photos) + 1).round().astype(int)
    parts = [
        cover_fit(photo, int(right - left), request.height)
        for photo, left, right in zip(photos, edges[:-1], edges[1:], strict=True)
    ]
    return np.ascontiguousarray(np.hstack(parts))
