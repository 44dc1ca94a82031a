"""``LTXImageToVideoEngine``: LTX-Video (0.9.x) through diffusers, from a local weights
folder: image-to-video with ``LTXConditionPipeline`` and text-to-video with ``LTXPipeline``
over the same models (every LTX folder holds both).

The condition pipeline takes keyframes at any frame: the start image is a condition at frame
0 and an end image, when the request has one, a condition at the last frame, so one model
serves both start-only and start-to-end requests. Storyboards start each shot after the
first from the last frame of the one before (see :mod:`.shots`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidserve.engines.base import Engine, RenderedVideo, RunContext, VideoRequest
from vidserve.engines.diffusers.common import (
    GuidanceRange,
    check_weights,
    read_component_config,
)
from vidserve.engines.diffusers.effects import EffectCatalog
from vidserve.engines.diffusers.limits import ModelLimits
from vidserve.engines.diffusers.loras import (
    LoraCatalog,
    LoraChoice,
    apply_trigger,
    steps_and_guidance,
)
from vidserve.engines.diffusers.options import DiffusionOptions, merged_options
from vidserve.engines.diffusers.shots import (
    ShotInput,
    Timing,
    fit_duration,
    inputs_of,
    refuse_unsupported,
    render_shots,
)
from vidserve.engines.registry import LTX_CAPABILITIES

PIPELINE = "LTXConditionPipeline"
#: Folders saved from the image-to-video or text-to-video pipelines hold the same parts.
PIPELINES = (PIPELINE, "LTXImageToVideoPipeline", "LTXPipeline")
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
#: cfg_scale 0 -> 1.0 (no CFG; what the distilled checkpoints want), 0.5 -> 3.0 (the
#: pipeline's default), 1 -> 5.0.
GUIDANCE = GuidanceRange(1.0, 5.0)
DEFAULT_STEPS = 40
DEFAULT_FPS = 24
#: 768x512 at 3:2, the size LTX-Video's examples use.
DEFAULT_MAX_AREA = 768 * 512
#: LTX-Video's README: best under 257 frames.
DEFAULT_MAX_FRAMES = 257
#: LTX's own keys: decoding noise (0.9.1+ VAEs are timestep-conditioned) and the noise added
#: to the conditioning frames.
FAMILY_OPTIONS: dict[str, type] = {
    "decode_timestep": float,
    "decode_noise_scale": float,
    "image_cond_noise_scale": float,
    "guidance_rescale": float,
}
_FAMILY_DEFAULTS = {
    "decode_timestep": 0.05,
    "decode_noise_scale": 0.025,
    "image_cond_noise_scale": 0.15,
    "guidance_rescale": 0.0,
}


@dataclass(frozen=True)
class Plan:
    """What one request becomes for the model."""

    width: int
    height: int
    #: Frames of the video (a storyboard's shots together).
    num_frames: int
    fps: int
    steps: int
    guidance_scale: float
    #: The generations that render it (one per shot, more for a shot longer than the model
    #: makes at once).
    timing: Timing
    #: The LoRAs it renders with.
    loras: tuple[LoraChoice, ...] = ()


class LTXImageToVideoEngine(Engine):
    """LTX-Video from ``weights`` (a diffusers folder); ``options`` are
    :class:`DiffusionOptions` keys plus :data:`FAMILY_OPTIONS`. Every folder makes text- and
    image-to-video, with end frames and storyboards: the family's whole capabilities."""

    name = "ltx"
    label = "LTX-Video"

    def __init__(self, weights: Path | str, **options: Any) -> None:
        self.weights = Path(weights)
        self.options = DiffusionOptions.parse(
            merged_options(self.weights, self.name, options), self.name, FAMILY_OPTIONS
        )
        check_weights(self.weights, PIPELINES, COMPONENTS)
        vae = read_component_config(self.weights, "vae")
        transformer = read_component_config(self.weights, "transformer")
        # As AutoencoderKLLTXVideo computes them: its patch size, halved once per
        # spatio-temporal stage, unless the config names the ratios.
        stride = 2 ** sum(map(bool, vae.get("spatio_temporal_scaling", (True, True, True, False))))
        spatial = vae.get("spatial_compression_ratio") or int(vae.get("patch_size", 4)) * stride
        temporal = vae.get("temporal_compression_ratio") or int(vae.get("patch_size_t", 1)) * stride
        # The pipeline also insists on multiples of 32 whatever the VAE.
        self.size_multiple = math.lcm(32, int(spatial) * int(transformer.get("patch_size", 1)))
        self.frame_multiple = int(temporal) * int(transformer.get("patch_size_t", 1))
        # Its rotary positions are computed for any grid: no table to stay inside.
        self.limits = ModelLimits(self.size_multiple, self.frame_multiple, source="")
        self.limits.check_options(self.name, self.label, self.options)
        self.loras = LoraCatalog(self.name, self.options.loras, self.options.lora_dirs)
        self.effects = EffectCatalog(self.name, self.options.effects, self.loras)
        self.capabilities = self.effects.extend(LTX_CAPABILITIES, self.label)
        self._pipe: Any = None
        #: ``LTXPipeline`` over the same models, for text-to-video.
        self._text: Any = None
        self._slots: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to the child process before loading; a loaded pipeline never travels.
        return {**self.__dict__, "_pipe": None, "_text": None, "_slots": None}

    @property
    def pipeline(self) -> Any:
        """The loaded diffusers pipeline (None until :meth:`load`)."""
        return self._pipe

    def load(self) -> None:
        """Load the pipeline (once): offline, from the folder only."""
        if self._pipe is not None:
            return
        import diffusers

        from vidserve.engines.diffusers import runtime
        from vidserve.engines.diffusers.loras import LoraSlots

        pipe, device = runtime.load_pipeline(
            diffusers.LTXConditionPipeline, self.weights, self.options
        )
        self._text = runtime.sibling(pipe, diffusers.LTXPipeline, self.options, device)
        self._slots = LoraSlots(pipe, self.name, self.loras.specs.values())
        self._pipe = pipe

    def family_option(self, key: str) -> Any:
        """An LTX-only option, or its default."""
        return self.options.extra.get(key, _FAMILY_DEFAULTS[key])

    def plan(self, request: VideoRequest) -> Plan:
        """Frame count, size, steps and guidance for ``request`` (no model needed)."""
        opts = self.options
        width, height = self.limits.size(
            request.width, request.height, opts.max_area or DEFAULT_MAX_AREA
        )
        timing = fit_duration(
            request,
            opts.fps or DEFAULT_FPS,
            self.frame_multiple,
            self.limits.frame_cap(opts.max_frames, DEFAULT_MAX_FRAMES),
            chain=True,
            label=self.label,
        )
        loras = self.loras.select(request)
        steps, scale = steps_and_guidance(loras, opts, GUIDANCE, DEFAULT_STEPS, request.guidance)
        return Plan(width, height, timing.num_frames, timing.fps, steps, scale, timing, loras)

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        """Render ``request`` into ``ctx.workdir / "output.mp4"``."""
        request = self.effects.as_image_to_video(request, ctx)
        refuse_unsupported(self.name, self.label, self.capabilities, request)
        plan = self.plan(request)
        if self._pipe is None:
            ctx.log(f"ltx: loading LTX-Video from {self.weights}")
            self.load()
        ctx.log(
            f"ltx: {plan.width}x{plan.height}, {plan.num_frames} frames at {plan.fps} fps from "
            f"{inputs_of(request)}; {plan.steps} steps, guidance {plan.guidance_scale}"
        )
        self._slots.activate(plan.loras, ctx)

        def render(shot: ShotInput, reporter: Any) -> Any:
            return self._render(request, plan, shot, reporter)

        return render_shots(
            self.name,
            request,
            plan.timing,
            steps=plan.steps,
            ctx=ctx,
            render=render,
            chain=True,
        )

    def _render(self, request: VideoRequest, plan: Plan, shot: ShotInput, reporter: Any) -> Any:
        """One generation: conditioned on the shot's start (and end) frame, or on text only."""
        from diffusers.pipelines.ltx.pipeline_ltx_condition import (
            LTXVideoCondition,
            linear_quadratic_schedule,
        )

        from vidserve.engines.diffusers import runtime

        schedule: Any = linear_quadratic_schedule  # untyped in diffusers
        args: dict[str, Any] = {
            "prompt": apply_trigger(shot.prompt, plan.loras),
            "negative_prompt": request.negative_prompt or None,
            "height": plan.height,
            "width": plan.width,
            "num_frames": shot.num_frames,
            "frame_rate": plan.fps,
            "num_inference_steps": plan.steps,
            "guidance_scale": plan.guidance_scale,
            "guidance_rescale": self.family_option("guidance_rescale"),
            "decode_timestep": self.family_option("decode_timestep"),
            "decode_noise_scale": self.family_option("decode_noise_scale"),
            "generator": runtime.generator(shot.seed),
        }
        if shot.start_image is None and shot.end_image is None:
            # LTXPipeline makes its own schedule (it takes no timesteps).
            return runtime.run_pipeline(self._text, reporter, **args)
        conditions = []
        for image, frame_index in ((shot.start_image, 0), (shot.end_image, shot.num_frames - 1)):
            if image is not None:
                fitted = runtime.fit_image(image, plan.width, plan.height)
                conditions.append(LTXVideoCondition(image=fitted, frame_index=frame_index))
        return runtime.run_pipeline(
            self._pipe,
            reporter,
            conditions=conditions,
            # The condition pipeline's own schedule, as a list: given as a tensor, the
            # scheduler's numpy conversion raises a DeprecationWarning under numpy 2.
            timesteps=(schedule(plan.steps) * 1000).tolist(),
            image_cond_noise_scale=self.family_option("image_cond_noise_scale"),
            **args,
        )
