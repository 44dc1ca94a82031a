"""``CogVideoXImageToVideoEngine``: CogVideoX 1.0 and 1.5 image-to-video through diffusers'
``CogVideoXImageToVideoPipeline``, from a local weights folder.

CogVideoX 1.0 (5B-I2V) learned its position embeddings for one size (720x480) and one
length (49 frames): every request renders at that size, the start image cropped to its
aspect ratio, and at most that many frames. CogVideoX 1.5 uses rotary positions only and
renders any size (multiples of 16) and 16k+1 frames. Neither takes an end frame.
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

PIPELINE = "CogVideoXImageToVideoPipeline"
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
#: cfg_scale 0 -> 1.0 (no CFG), 0.5 -> 6.0 (the pipeline's default), 1 -> 11.0.
GUIDANCE = GuidanceRange(1.0, 11.0)
DEFAULT_STEPS = 50
#: ``dynamic_cfg``: raise the guidance over the steps (CogVideoX's image-to-video examples).
FAMILY_OPTIONS: dict[str, type] = {"dynamic_cfg": bool}


@dataclass(frozen=True)
class CogVideoXModel:
    """What the folder's configs say about the model."""

    label: str
    #: The one size learned positions allow (1.0), else None.
    fixed_size: tuple[int, int] | None
    size_multiple: int
    frame_multiple: int
    fps: int
    max_area: int
    max_frames: int
    text_length: int


def describe_model(path: Path) -> CogVideoXModel:
    """Tell CogVideoX 1.0 from 1.5 and read their limits from the component configs."""
    transformer = read_component_config(path, "transformer")
    vae = read_component_config(path, "vae")
    # As the pipeline computes them.
    spatial = 2 ** (len(vae.get("block_out_channels", (128, 256, 256, 512))) - 1)
    temporal = int(vae.get("temporal_compression_ratio", 4))
    patch = int(transformer.get("patch_size", 2))
    text_length = int(transformer.get("max_text_seq_length", 226))
    if transformer.get("patch_size_t"):
        # 1.5 was trained on 16k+1 frames (81 and 161) at up to 1360x768.
        return CogVideoXModel(
            "CogVideoX 1.5", None, spatial * patch, 16, 16, 1360 * 768, 161, text_length
        )
    sample_frames = int(transformer.get("sample_frames", 49))
    fixed = None
    if transformer.get("use_learned_positional_embeddings"):
        fixed = (
            int(transformer.get("sample_width", 90)) * spatial,
            int(transformer.get("sample_height", 60)) * spatial,
        )
    return CogVideoXModel(
        "CogVideoX 1.0", fixed, spatial * patch, temporal, 8, 720 * 480, sample_frames, text_length
    )


@dataclass(frozen=True)
class Plan:
    """What one request becomes for the model."""

    width: int
    height: int
    num_frames: int
    fps: int
    steps: int
    guidance_scale: float


class CogVideoXImageToVideoEngine(Engine):
    """CogVideoX image-to-video from ``weights`` (a diffusers folder); ``options`` are
    :class:`DiffusionOptions` keys plus :data:`FAMILY_OPTIONS`."""

    name = "cogvideox"

    def __init__(self, weights: Path | str, **options: Any) -> None:
        self.weights = Path(weights)
        self.options = DiffusionOptions.parse(options, self.name, FAMILY_OPTIONS)
        check_weights(self.weights, (PIPELINE,), COMPONENTS)
        self.model = describe_model(self.weights)
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
        from diffusers import CogVideoXImageToVideoPipeline

        from vidserve.engines.diffusers.runtime import load_pipeline

        self._pipe, _ = load_pipeline(CogVideoXImageToVideoPipeline, self.weights, self.options)

    def plan(self, request: VideoRequest) -> Plan:
        """Frame count, size, steps and guidance for ``request`` (no model needed)."""
        opts, model = self.options, self.model
        fps = opts.fps or model.fps
        if model.fixed_size is not None:
            width, height = model.fixed_size
        else:
            width, height = fit_size(
                request.width, request.height, model.size_multiple, opts.max_area or model.max_area
            )
        max_frames = min(opts.max_frames or model.max_frames, model.max_frames)
        frames = frame_count(request.duration, fps, model.frame_multiple, max_frames)
        guidance = GuidanceRange(
            GUIDANCE.low if opts.guidance_min is None else opts.guidance_min,
            GUIDANCE.high if opts.guidance_max is None else opts.guidance_max,
        )
        scale = guidance.scale(request.guidance)
        return Plan(width, height, frames, fps, opts.steps or DEFAULT_STEPS, scale)

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        """Render ``request`` into ``ctx.workdir / "output.mp4"``."""
        from vidserve.engines.diffusers import runtime

        if request.end_image is not None:
            raise EngineError(
                f"this engine runs {self.model.label}, which cannot use an end frame (it would "
                "be ignored); serve this endpoint with Wan 2.2 I2V-A14B or LTX-Video",
                "unsupported_input",
            )
        plan = self.plan(request)
        if self._pipe is None:
            ctx.log(f"cogvideox: loading {self.model.label} from {self.weights}")
            self.load()
        if plan.num_frames < frame_count(request.duration, plan.fps, self.model.frame_multiple):
            ctx.log(
                f"cogvideox: {self.model.label} renders at most {plan.num_frames} frames "
                f"({plan.num_frames / plan.fps:.1f} s at {plan.fps} fps)",
                "WARN",
            )
        ctx.log(
            f"cogvideox: {self.model.label}, {plan.width}x{plan.height}, {plan.num_frames} "
            f"frames at {plan.fps} fps; {plan.steps} steps, guidance {plan.guidance_scale}"
        )
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
            use_dynamic_cfg=bool(self.options.extra.get("dynamic_cfg", True)),
            max_sequence_length=self.model.text_length,
            generator=runtime.generator(request.seed),
        )
        path = ctx.workdir / "output.mp4"
        width, height, count = runtime.write_video(video, path, plan.fps, ctx)
        return RenderedVideo(path, width, height, plan.fps, count, seed=request.seed)
