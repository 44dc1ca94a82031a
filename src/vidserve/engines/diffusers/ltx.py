"""``LTXImageToVideoEngine``: LTX-Video (0.9.x) through diffusers' ``LTXConditionPipeline``,
from a local weights folder.

The condition pipeline takes keyframes at any frame: the start image is a condition at frame
0 and an end image, when the request has one, a condition at the last frame, so one model
serves both start-only and start-to-end requests.
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
    fit_size,
    frame_count,
    read_component_config,
)
from vidserve.engines.diffusers.options import DiffusionOptions

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
    num_frames: int
    fps: int
    steps: int
    guidance_scale: float


class LTXImageToVideoEngine(Engine):
    """LTX-Video from ``weights`` (a diffusers folder); ``options`` are
    :class:`DiffusionOptions` keys plus :data:`FAMILY_OPTIONS`."""

    name = "ltx"

    def __init__(self, weights: Path | str, **options: Any) -> None:
        self.weights = Path(weights)
        self.options = DiffusionOptions.parse(options, self.name, FAMILY_OPTIONS)
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
        self._pipe: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to the child process before loading; a loaded pipeline never travels.
        return {**self.__dict__, "_pipe": None}

    @property
    def pipeline(self) -> Any:
        """The loaded diffusers pipeline (None until :meth:`load`)."""
        return self._pipe

    def load(self) -> None:
        """Load the pipeline (once): offline, from the folder only."""
        if self._pipe is not None:
            return
        from diffusers import LTXConditionPipeline

        from vidserve.engines.diffusers.runtime import load_pipeline

        self._pipe, _ = load_pipeline(LTXConditionPipeline, self.weights, self.options)

    def family_option(self, key: str) -> Any:
        """An LTX-only option, or its default."""
        return self.options.extra.get(key, _FAMILY_DEFAULTS[key])

    def plan(self, request: VideoRequest) -> Plan:
        """Frame count, size, steps and guidance for ``request`` (no model needed)."""
        opts = self.options
        fps = opts.fps or DEFAULT_FPS
        width, height = fit_size(
            request.width, request.height, self.size_multiple, opts.max_area or DEFAULT_MAX_AREA
        )
        frames = frame_count(
            request.duration, fps, self.frame_multiple, opts.max_frames or DEFAULT_MAX_FRAMES
        )
        guidance = GuidanceRange(
            GUIDANCE.low if opts.guidance_min is None else opts.guidance_min,
            GUIDANCE.high if opts.guidance_max is None else opts.guidance_max,
        )
        scale = guidance.scale(request.guidance)
        return Plan(width, height, frames, fps, opts.steps or DEFAULT_STEPS, scale)

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        """Render ``request`` into ``ctx.workdir / "output.mp4"``."""
        from diffusers.pipelines.ltx.pipeline_ltx_condition import (
            LTXVideoCondition,
            linear_quadratic_schedule,
        )

        from vidserve.engines.diffusers import runtime

        schedule: Any = linear_quadratic_schedule  # untyped in diffusers
        plan = self.plan(request)
        if self._pipe is None:
            ctx.log(f"ltx: loading LTX-Video from {self.weights}")
            self.load()
        conditions = [
            LTXVideoCondition(
                image=runtime.fit_image(request.start_image, plan.width, plan.height),
                frame_index=0,
            )
        ]
        if request.end_image is not None:
            end = runtime.fit_image(request.end_image, plan.width, plan.height)
            conditions.append(LTXVideoCondition(image=end, frame_index=plan.num_frames - 1))
        ends = "start and end frames" if request.end_image is not None else "a start frame"
        ctx.log(
            f"ltx: {plan.width}x{plan.height}, {plan.num_frames} frames at {plan.fps} fps from "
            f"{ends}; {plan.steps} steps, guidance {plan.guidance_scale}"
        )
        video = runtime.run_pipeline(
            self._pipe,
            runtime.StepReporter(ctx, plan.steps, self.name),
            conditions=conditions,
            prompt=request.prompt,
            negative_prompt=request.negative_prompt or None,
            height=plan.height,
            width=plan.width,
            num_frames=plan.num_frames,
            frame_rate=plan.fps,
            num_inference_steps=plan.steps,
            # The pipeline's own schedule, as a list: given as a tensor, the scheduler's numpy
            # conversion raises a DeprecationWarning under numpy 2.
            timesteps=(schedule(plan.steps) * 1000).tolist(),
            guidance_scale=plan.guidance_scale,
            guidance_rescale=self.family_option("guidance_rescale"),
            image_cond_noise_scale=self.family_option("image_cond_noise_scale"),
            decode_timestep=self.family_option("decode_timestep"),
            decode_noise_scale=self.family_option("decode_noise_scale"),
            generator=runtime.generator(request.seed),
        )
        path = ctx.workdir / "output.mp4"
        width, height, count = runtime.write_video(video, path, plan.fps, ctx)
        return RenderedVideo(path, width, height, plan.fps, count, seed=request.seed)
