"""``WanImageToVideoEngine``: Wan 2.1 and 2.2 image-to-video through diffusers'
``WanImageToVideoPipeline``, from a local weights folder.

Which Wan it is comes from the folder's configs (no torch needed), and decides what an end
frame does:

=====================  ==============================  =====================================
model                  how it is recognised            end frame (``last_image``)
=====================  ==============================  =====================================
Wan 2.2 I2V-A14B       no ``image_dim`` (two experts)  used: first-last-frame video
Wan 2.1 FLF2V-14B      ``image_dim`` + pos. embedding  required (CLIP encodes both frames)
Wan 2.1 I2V-14B        ``image_dim``                   refused (its CLIP path takes one)
Wan 2.2 TI2V-5B        ``expand_timesteps``            refused (the pipeline ignores it)
=====================  ==============================  =====================================
"""

from __future__ import annotations

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
from vidserve.errors import EngineError

PIPELINE = "WanImageToVideoPipeline"
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
#: cfg_scale 0 -> 1.0 (no CFG), 0.5 -> 5.0 (the pipeline's default), 1 -> 9.0.
GUIDANCE = GuidanceRange(1.0, 9.0)
DEFAULT_STEPS = 50


@dataclass(frozen=True)
class WanVariant:
    """What the folder's configs say about the model."""

    label: str
    #: "used", "required" or "refused".
    end_frame: str
    fps: int
    max_area: int
    #: Sizes must be multiples of this (VAE stride x patch size).
    size_multiple: int
    #: Frames are ``frame_multiple * k + 1`` (the VAE's temporal stride).
    frame_multiple: int


def detect_variant(path: Path, index: dict[str, Any]) -> WanVariant:
    """Tell the Wan models apart from ``model_index.json`` and the component configs."""
    transformer = read_component_config(path, "transformer")
    vae = read_component_config(path, "vae")
    patch = transformer.get("patch_size") or [1, 2, 2]
    size_multiple = int(vae.get("scale_factor_spatial", 8)) * int(patch[1])
    frame_multiple = int(vae.get("scale_factor_temporal", 4))
    if index.get("expand_timesteps"):
        label, end, fps, area = "Wan 2.2 TI2V-5B", "refused", 24, 704 * 1280
    elif transformer.get("image_dim") and transformer.get("pos_embed_seq_len"):
        label, end, fps, area = "Wan 2.1 FLF2V", "required", 16, 720 * 1280
    elif transformer.get("image_dim"):
        label, end, fps, area = "Wan 2.1 I2V", "refused", 16, 480 * 832
    else:
        label, end, fps, area = "Wan 2.2 I2V-A14B", "used", 16, 480 * 832
    return WanVariant(label, end, fps, area, size_multiple, frame_multiple)


@dataclass(frozen=True)
class Plan:
    """What one request becomes for the model."""

    width: int
    height: int
    num_frames: int
    fps: int
    steps: int
    guidance_scale: float


class WanImageToVideoEngine(Engine):
    """Wan image-to-video from ``weights`` (a diffusers folder); ``options`` are
    :class:`DiffusionOptions` keys. The folder is checked here, loaded on :meth:`load`."""

    name = "wan"

    def __init__(self, weights: Path | str, **options: Any) -> None:
        self.weights = Path(weights)
        self.options = DiffusionOptions.parse(options, self.name)
        index = check_weights(self.weights, (PIPELINE,), COMPONENTS)
        self.variant = detect_variant(self.weights, index)
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
        from diffusers import WanImageToVideoPipeline

        from vidserve.engines.diffusers.runtime import load_pipeline

        # Wan's docs load the VAE and the CLIP image encoder in float32 (small, and
        # bfloat16 costs them visible quality).
        self._pipe, _ = load_pipeline(
            WanImageToVideoPipeline,
            self.weights,
            self.options,
            float32=("vae", "image_encoder"),
        )

    def plan(self, request: VideoRequest) -> Plan:
        """Frame count, size, steps and guidance for ``request`` (no model needed)."""
        opts, variant = self.options, self.variant
        fps = opts.fps or variant.fps
        width, height = fit_size(
            request.width,
            request.height,
            variant.size_multiple,
            opts.max_area or variant.max_area,
        )
        frames = frame_count(request.duration, fps, variant.frame_multiple, opts.max_frames)
        guidance = GuidanceRange(
            GUIDANCE.low if opts.guidance_min is None else opts.guidance_min,
            GUIDANCE.high if opts.guidance_max is None else opts.guidance_max,
        )
        scale = guidance.scale(request.guidance)
        return Plan(width, height, frames, fps, opts.steps or DEFAULT_STEPS, scale)

    def check_request(self, request: VideoRequest) -> None:
        """Refuse an end frame the model would not use, or its absence where it needs one."""
        variant = self.variant
        if request.end_image is not None and variant.end_frame == "refused":
            raise EngineError(
                f"this engine runs {variant.label}, which cannot use an end frame (it would be "
                "ignored); serve this endpoint with Wan 2.2 I2V-A14B or Wan 2.1 FLF2V weights",
                "unsupported_input",
            )
        if request.end_image is None and variant.end_frame == "required":
            raise EngineError(
                f"this engine runs {variant.label}, which needs an end frame as well as a "
                "start frame",
                "unsupported_input",
            )

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        """Render ``request`` into ``ctx.workdir / "output.mp4"``."""
        from vidserve.engines.diffusers import runtime

        self.check_request(request)
        plan = self.plan(request)
        if self._pipe is None:
            ctx.log(f"wan: loading {self.variant.label} from {self.weights}")
            self.load()
        ends = "start and end frames" if request.end_image is not None else "a start frame"
        ctx.log(
            f"wan: {self.variant.label}, {plan.width}x{plan.height}, {plan.num_frames} frames "
            f"at {plan.fps} fps from {ends}; {plan.steps} steps, guidance {plan.guidance_scale}"
        )
        extra: dict[str, Any] = {}
        if request.end_image is not None:
            extra["last_image"] = runtime.fit_image(request.end_image, plan.width, plan.height)
        video = runtime.run_pipeline(
            self._pipe,
            runtime.StepReporter(ctx, plan.steps, self.name),
            image=runtime.fit_image(request.start_image, plan.width, plan.height),
            prompt=request.prompt,
            negative_prompt=request.negative_prompt or None,
            height=plan.height,
            width=plan.width,
            num_frames=plan.num_frames,
            num_inference_steps=plan.steps,
            guidance_scale=plan.guidance_scale,
            generator=runtime.generator(request.seed),
            **extra,
        )
        path = ctx.workdir / "output.mp4"
        width, height, count = runtime.write_video(video, path, plan.fps, ctx)
        return RenderedVideo(path, width, height, plan.fps, count, seed=request.seed)
