"""``CogVideoXImageToVideoEngine``: CogVideoX 1.0 and 1.5 through diffusers, from a local
weights folder: an image-to-video folder (``CogVideoXImageToVideoPipeline``) makes
image-to-video, a text-to-video folder (``CogVideoXPipeline``) text-to-video; the two are
different models (the image model's transformer takes the image latents as extra channels).

CogVideoX 1.0 (5B-I2V) learned its position embeddings for one size (720x480) and one
length (49 frames): every request renders at that size, the start image cropped to its
aspect ratio, and at most that many frames. CogVideoX 1.5 and the 1.0 text models use
rotary or computed positions and render any size (multiples of 16); 1.5 in 16k+1 frames.
None takes an end frame. Both render storyboards: the image model starts each shot after
the first from the last frame of the one before, the text model starts each afresh (see
:mod:`.shots`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidserve.engines.base import (
    Capabilities,
    Engine,
    Feature,
    Kind,
    RenderedVideo,
    RunContext,
    VideoRequest,
)
from vidserve.engines.diffusers.common import (
    GuidanceRange,
    check_weights,
    read_component_config,
)
from vidserve.engines.diffusers.effects import EffectCatalog
from vidserve.engines.diffusers.limits import ModelLimits, table_side
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
from vidserve.errors import ConfigError, EngineError

I2V, T2V = "CogVideoXImageToVideoPipeline", "CogVideoXPipeline"
PIPELINES = (I2V, T2V)
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
#: cfg_scale 0 -> 1.0 (no CFG), 0.5 -> 6.0 (the pipeline's default), 1 -> 11.0.
GUIDANCE = GuidanceRange(1.0, 11.0)
DEFAULT_STEPS = 50
#: ``dynamic_cfg``: raise the guidance over the steps (CogVideoX's examples; default on).
FAMILY_OPTIONS: dict[str, type] = {"dynamic_cfg": bool}


@dataclass(frozen=True)
class CogVideoXModel:
    """What the folder's configs say about the model."""

    label: str
    #: The folder's pipeline class (what loads it).
    pipeline: str
    #: The one size learned positions allow (1.0), else None.
    fixed_size: tuple[int, int] | None
    size_multiple: int
    frame_multiple: int
    fps: int
    max_area: int
    max_frames: int
    text_length: int
    #: What its positional table (learned or sliced) lets it render.
    limits: ModelLimits

    @property
    def capabilities(self) -> Capabilities:
        """Image- or text-to-video, storyboards and LoRAs."""
        kind = Kind.IMAGE_TO_VIDEO if self.pipeline == I2V else Kind.TEXT_TO_VIDEO
        return Capabilities(frozenset({kind}), frozenset({Feature.STORYBOARD, Feature.LORA}))


def describe_model(path: Path, pipeline: str = I2V) -> CogVideoXModel:
    """Tell CogVideoX 1.0 from 1.5 and read their limits from the component configs."""
    task = "I2V" if pipeline == I2V else "T2V"
    transformer = read_component_config(path, "transformer")
    vae = read_component_config(path, "vae")
    # As the pipeline computes them.
    spatial = 2 ** (len(vae.get("block_out_channels", (128, 256, 256, 512))) - 1)
    temporal = int(vae.get("temporal_compression_ratio", 4))
    patch = int(transformer.get("patch_size", 2))
    text_length = int(transformer.get("max_text_seq_length", 226))
    sample_width = int(transformer.get("sample_width", 90))
    sample_height = int(transformer.get("sample_height", 60))
    multiple = spatial * patch
    if transformer.get("patch_size_t"):
        # 1.5 was trained on 16k+1 frames (81 and 161) at up to 1360x768; its rotary grid is
        # sliced from one of the sample size, which no frame may pass.
        limits = ModelLimits(
            multiple,
            16,
            max_width=table_side(sample_width // patch, patch, spatial, multiple),
            max_height=table_side(sample_height // patch, patch, spatial, multiple),
            source=f"its rotary grid, sample size {sample_width}x{sample_height} latents",
        )
        return CogVideoXModel(
            f"CogVideoX 1.5 {task}",
            pipeline,
            None,
            multiple,
            16,
            16,
            1360 * 768,
            161,
            text_length,
            limits,
        )
    sample_frames = int(transformer.get("sample_frames", 49))
    fixed = None
    limits = ModelLimits(multiple, 2 * temporal)
    if transformer.get("use_learned_positional_embeddings"):
        fixed = (sample_width * spatial, sample_height * spatial)
        # Learned positions for one latent size and length.
        limits = ModelLimits(
            multiple,
            2 * temporal,
            max_frames=sample_frames,
            fixed_size=fixed,
            source=f"learned positions for {fixed[0]}x{fixed[1]} and {sample_frames} frames",
        )
    # The VAE's decoder doubles time twice, keeping a lone first frame only when the count
    # is odd: an even number of latent frames decodes into 3 frames more than asked. So 1.0
    # renders (2 x temporal)k + 1 frames (8k+1, as its 49), never 4k+1 with k odd.
    return CogVideoXModel(
        f"CogVideoX 1.0 {task}",
        pipeline,
        fixed,
        spatial * patch,
        2 * temporal,
        8,
        720 * 480,
        sample_frames,
        text_length,
        limits,
    )


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


class CogVideoXImageToVideoEngine(Engine):
    """CogVideoX from ``weights`` (a diffusers folder); ``options`` are
    :class:`DiffusionOptions` keys plus :data:`FAMILY_OPTIONS`. :attr:`capabilities` says
    what the folder makes (image- or text-to-video)."""

    name = "cogvideox"

    def __init__(self, weights: Path | str, **options: Any) -> None:
        self.weights = Path(weights)
        self.options = DiffusionOptions.parse(
            merged_options(self.weights, self.name, options), self.name, FAMILY_OPTIONS
        )
        index = check_weights(self.weights, PIPELINES, COMPONENTS)
        self.model = describe_model(self.weights, str(index["_class_name"]))
        self.model.limits.check_options(self.name, self.model.label, self.options)
        if self.options.transformer_gguf or self.options.transformer_2_gguf:
            raise ConfigError(
                f"engine {self.name}: diffusers cannot load a CogVideoX transformer from a "
                "single (GGUF) file; use quantize = 'int8' or 'fp8' instead"
            )
        self.loras = LoraCatalog(self.name, self.options.loras, self.options.lora_dirs)
        self.effects = EffectCatalog(self.name, self.options.effects, self.loras)
        self.capabilities = self.effects.extend(self.model.capabilities, self.model.label)
        self._pipe: Any = None
        self._slots: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to the child process before loading; a loaded pipeline never travels.
        return {**self.__dict__, "_pipe": None, "_slots": None}

    @property
    def pipeline(self) -> Any:
        """The loaded diffusers pipeline (None until :meth:`load`)."""
        return self._pipe

    def load(self) -> None:
        """Load the pipeline (once): offline, from the folder only."""
        if self._pipe is not None:
            return
        import diffusers

        from vidserve.engines.diffusers.loras import LoraSlots
        from vidserve.engines.diffusers.runtime import load_pipeline

        pipeline_class = getattr(diffusers, self.model.pipeline)
        pipe, _ = load_pipeline(pipeline_class, self.weights, self.options)
        self._slots = LoraSlots(pipe, self.name, self.loras.specs.values())
        self._pipe = pipe

    def plan(self, request: VideoRequest) -> Plan:
        """Frame count, size, steps and guidance for ``request`` (no model needed)."""
        opts, model = self.options, self.model
        width, height = model.limits.size(
            request.width, request.height, opts.max_area or model.max_area
        )
        timing = fit_duration(
            request,
            opts.fps or model.fps,
            model.frame_multiple,
            model.limits.frame_cap(opts.max_frames, model.max_frames),
            chain=model.pipeline == I2V,
            label=model.label,
        )
        loras = self.loras.select(request)
        steps, scale = steps_and_guidance(loras, opts, GUIDANCE, DEFAULT_STEPS, request.guidance)
        return Plan(width, height, timing.num_frames, timing.fps, steps, scale, timing, loras)

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        """Render ``request`` into ``ctx.workdir / "output.mp4"``."""
        request = self.effects.as_image_to_video(request, ctx)
        if request.end_image is not None:
            raise EngineError(
                f"this engine runs {self.model.label}, which cannot use an end frame (it would "
                "be ignored); serve this endpoint with Wan 2.2 I2V-A14B or LTX-Video",
                "unsupported_input",
            )
        refuse_unsupported(self.name, self.model.label, self.capabilities, request)
        plan = self.plan(request)
        if self._pipe is None:
            ctx.log(f"cogvideox: loading {self.model.label} from {self.weights}")
            self.load()
        ctx.log(
            f"cogvideox: {self.model.label}, {plan.width}x{plan.height}, {plan.num_frames} "
            f"frames at {plan.fps} fps from {inputs_of(request)}; {plan.steps} steps, "
            f"guidance {plan.guidance_scale}"
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
            chain=self.model.pipeline == I2V,
        )

    def _render(self, request: VideoRequest, plan: Plan, shot: ShotInput, reporter: Any) -> Any:
        """One generation, from the shot's start image (image model) or its text alone."""
        from vidserve.engines.diffusers import runtime

        extra: dict[str, Any] = {}
        if shot.start_image is not None:
            extra["image"] = runtime.fit_image(shot.start_image, plan.width, plan.height)
        return runtime.run_pipeline(
            self._pipe,
            reporter,
            prompt=apply_trigger(shot.prompt, plan.loras),
            negative_prompt=request.negative_prompt or None,
            height=plan.height,
            width=plan.width,
            num_frames=shot.num_frames,
            num_inference_steps=plan.steps,
            guidance_scale=plan.guidance_scale,
            use_dynamic_cfg=bool(self.options.extra.get("dynamic_cfg", True)),
            max_sequence_length=self.model.text_length,
            generator=runtime.generator(shot.seed),
            **extra,
        )
