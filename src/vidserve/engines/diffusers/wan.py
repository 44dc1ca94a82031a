"""``WanImageToVideoEngine``: Wan 2.1 and 2.2 through diffusers, from a local weights folder:
image-to-video (``WanImageToVideoPipeline``), text-to-video (``WanPipeline``) and, with VACE
weights, reference-to-video (``WanVACEPipeline``).

Which Wan it is comes from the folder's configs (no torch needed), and decides what it
makes and what an end frame does:

=====================  =====================================  =========  ==================
model                  how it is recognised                   makes      end frame
=====================  =====================================  =========  ==================
Wan 2.2 I2V-A14B       I2V pipeline, no ``image_dim``         i2v        used (first-last)
Wan 2.1 FLF2V-14B      ``image_dim`` + pos. embedding         i2v        required
Wan 2.1 I2V-14B        ``image_dim``                          i2v        refused
Wan 2.2 TI2V-5B        ``expand_timesteps`` (either class)    t2v, i2v   refused (ignored)
Wan 2.1 / 2.2 T2V      ``WanPipeline``                        t2v        -
Wan VACE               ``WanVACEPipeline``                    t2v, i2v,  used (masked
                                                              r2v        frames)
=====================  =====================================  =========  ==================

Every one but FLF2V (which needs an end frame for each shot) renders storyboards; the
text-only folders start each shot afresh (see :mod:`.shots`). VACE takes the start and end
frames as a masked control video, and the references as extra leading latent frames.
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
    present_components,
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
from vidserve.engines.registry import WAN_CAPABILITIES
from vidserve.errors import EngineError

I2V, T2V, VACE = "WanImageToVideoPipeline", "WanPipeline", "WanVACEPipeline"
PIPELINES = (I2V, T2V, VACE)
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
#: cfg_scale 0 -> 1.0 (no CFG), 0.5 -> 5.0 (the pipeline's default), 1 -> 9.0.
GUIDANCE = GuidanceRange(1.0, 9.0)
DEFAULT_STEPS = 50


@dataclass(frozen=True)
class WanVariant:
    """What the folder's configs say about the model."""

    label: str
    #: The folder's pipeline class (what loads it).
    pipeline: str
    #: "used", "required" or "refused".
    end_frame: str
    fps: int
    max_area: int
    #: Sizes must be multiples of this (VAE stride x patch size).
    size_multiple: int
    #: Frames are ``frame_multiple * k + 1`` (the VAE's temporal stride).
    frame_multiple: int
    capabilities: Capabilities


def _capabilities(kinds: set[Kind], end_frame: str, storyboard: bool = True) -> Capabilities:
    features = {Feature.LORA}
    if end_frame in ("used", "required"):
        features.add(Feature.END_IMAGE)
    if storyboard:
        features.add(Feature.STORYBOARD)
    references = WAN_CAPABILITIES.max_reference_images if Kind.REFERENCE_TO_VIDEO in kinds else 0
    return Capabilities(frozenset(kinds), frozenset(features), max_reference_images=references)


def detect_variant(path: Path, index: dict[str, Any]) -> WanVariant:
    """Tell the Wan models apart from ``model_index.json`` and the component configs."""
    transformer = read_component_config(path, "transformer")
    vae = read_component_config(path, "vae")
    patch = transformer.get("patch_size") or [1, 2, 2]
    size_multiple = int(vae.get("scale_factor_spatial", 8)) * int(patch[1])
    frame_multiple = int(vae.get("scale_factor_temporal", 4))
    pipeline = str(index["_class_name"])
    two_experts = bool(present_components(index, ("transformer_2",)))
    i2v, t2v, r2v = Kind.IMAGE_TO_VIDEO, Kind.TEXT_TO_VIDEO, Kind.REFERENCE_TO_VIDEO
    if pipeline == VACE:
        label = "Wan 2.2 VACE-Fun A14B" if two_experts else "Wan 2.1 VACE"
        end, fps, area, kinds = "used", 16, 480 * 832, {t2v, i2v, r2v}
    elif index.get("expand_timesteps"):
        label, end, fps, area, kinds = "Wan 2.2 TI2V-5B", "refused", 24, 704 * 1280, {t2v, i2v}
    elif pipeline == T2V:
        label = "Wan 2.2 T2V-A14B" if two_experts else "Wan 2.1 T2V"
        end, fps, area, kinds = "refused", 16, 480 * 832, {t2v}
    elif transformer.get("image_dim") and transformer.get("pos_embed_seq_len"):
        label, end, fps, area, kinds = "Wan 2.1 FLF2V", "required", 16, 720 * 1280, {i2v}
    elif transformer.get("image_dim"):
        label, end, fps, area, kinds = "Wan 2.1 I2V", "refused", 16, 480 * 832, {i2v}
    else:
        label, end, fps, area, kinds = "Wan 2.2 I2V-A14B", "used", 16, 480 * 832, {i2v}
    # FLF2V needs an end frame for every generation: a storyboard's inner shots have none.
    capabilities = _capabilities(kinds, end, storyboard=end != "required")
    return WanVariant(label, pipeline, end, fps, area, size_multiple, frame_multiple, capabilities)


def wan_limits(path: Path, variant: WanVariant) -> ModelLimits:
    """What the transformer's rotary table reaches: ``rope_max_seq_len`` latent patches per
    axis (frames, rows, columns), each of ``patch`` latents of the VAE's stride."""
    transformer = read_component_config(path, "transformer")
    vae = read_component_config(path, "vae")
    rows = int(transformer.get("rope_max_seq_len", 1024))
    patch_t, patch_h, patch_w = (transformer.get("patch_size") or [1, 2, 2])[:3]
    stride = int(vae.get("scale_factor_spatial", 8))
    multiple = variant.size_multiple
    return ModelLimits(
        size_multiple=multiple,
        frame_multiple=variant.frame_multiple,
        max_width=table_side(rows, int(patch_w), stride, multiple),
        max_height=table_side(rows, int(patch_h), stride, multiple),
        max_frames=variant.frame_multiple * (rows * int(patch_t) - 1) + 1,
        source=f"its rotary table, rope_max_seq_len {rows}",
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


class WanImageToVideoEngine(Engine):
    """Wan from ``weights`` (a diffusers folder); ``options`` are :class:`DiffusionOptions`
    keys. The folder is checked here, loaded on :meth:`load`; :attr:`capabilities` says what
    this folder makes (see the module docstring)."""

    name = "wan"

    def __init__(self, weights: Path | str, **options: Any) -> None:
        self.weights = Path(weights)
        self.options = DiffusionOptions.parse(
            merged_options(self.weights, self.name, options), self.name
        )
        index = check_weights(self.weights, PIPELINES, COMPONENTS)
        self.variant = detect_variant(self.weights, index)
        self.limits = wan_limits(self.weights, self.variant)
        self.limits.check_options(self.name, self.variant.label, self.options)
        self.loras = LoraCatalog(self.name, self.options.loras, self.options.lora_dirs)
        self.effects = EffectCatalog(self.name, self.options.effects, self.loras)
        self.capabilities = self.effects.extend(self.variant.capabilities, self.variant.label)
        self._pipe: Any = None
        #: The other pipeline over the same models (TI2V-5B: text- and image-to-video).
        self._other: Any = None
        self._slots: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to the child process before loading; a loaded pipeline never travels.
        return {**self.__dict__, "_pipe": None, "_other": None, "_slots": None}

    @property
    def pipeline(self) -> Any:
        """The loaded diffusers pipeline of the folder's class (None until :meth:`load`)."""
        return self._pipe

    def load(self) -> None:
        """Load the pipeline (once): offline, from the folder only."""
        if self._pipe is not None:
            return
        import diffusers

        from vidserve.engines.diffusers import runtime
        from vidserve.engines.diffusers.loras import LoraSlots

        # Wan's docs load the VAE and the CLIP image encoder in float32 (small, and
        # bfloat16 costs them visible quality).
        pipe, device = runtime.load_pipeline(
            getattr(diffusers, self.variant.pipeline),
            self.weights,
            self.options,
            float32=("vae", "image_encoder"),
        )
        if self.variant.pipeline != VACE and len(self.capabilities.kinds) > 1:
            other = T2V if self.variant.pipeline == I2V else I2V
            self._other = runtime.sibling(pipe, getattr(diffusers, other), self.options, device)
        self._slots = LoraSlots(pipe, self.name, self.loras.specs.values())
        self._pipe = pipe

    def plan(self, request: VideoRequest) -> Plan:
        """Frame count, size, steps and guidance for ``request`` (no model needed)."""
        opts, variant, limits = self.options, self.variant, self.limits
        width, height = limits.size(
            request.width, request.height, opts.max_area or variant.max_area
        )
        timing = fit_duration(
            request,
            opts.fps or variant.fps,
            variant.frame_multiple,
            limits.frame_cap(opts.max_frames),
            # FLF2V needs an end frame for every generation: it cannot continue one.
            chain=Kind.IMAGE_TO_VIDEO in self.capabilities.kinds
            and variant.end_frame != "required",
            label=variant.label,
        )
        loras = self.loras.select(request)
        steps, scale = steps_and_guidance(loras, opts, GUIDANCE, DEFAULT_STEPS, request.guidance)
        return Plan(width, height, timing.num_frames, timing.fps, steps, scale, timing, loras)

    def check_request(self, request: VideoRequest) -> None:
        """Refuse what this folder cannot make, an end frame the model would not use, or its
        absence where it needs one."""
        variant = self.variant
        if request.end_image is not None and variant.end_frame == "refused":
            raise EngineError(
                f"this engine runs {variant.label}, which cannot use an end frame (it would be "
                "ignored); serve this endpoint with Wan 2.2 I2V-A14B, Wan 2.1 FLF2V or Wan "
                "VACE weights",
                "unsupported_input",
            )
        refuse_unsupported(self.name, variant.label, self.capabilities, request)
        if request.end_image is None and variant.end_frame == "required":
            raise EngineError(
                f"this engine runs {variant.label}, which needs an end frame as well as a "
                "start frame",
                "unsupported_input",
            )

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        """Render ``request`` into ``ctx.workdir / "output.mp4"``."""
        request = self.effects.as_image_to_video(request, ctx)
        self.check_request(request)
        plan = self.plan(request)
        if self._pipe is None:
            ctx.log(f"wan: loading {self.variant.label} from {self.weights}")
            self.load()
        ctx.log(
            f"wan: {self.variant.label}, {plan.width}x{plan.height}, {plan.num_frames} frames "
            f"at {plan.fps} fps from {inputs_of(request)}; {plan.steps} steps, "
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
            chain=Kind.IMAGE_TO_VIDEO in self.capabilities.kinds,
        )

    def _render(self, request: VideoRequest, plan: Plan, shot: ShotInput, reporter: Any) -> Any:
        """One generation: the pipeline that fits what the shot starts from."""
        from vidserve.engines.diffusers import runtime

        def fit(image: Any) -> Any:
            return runtime.fit_image(image, plan.width, plan.height)

        args: dict[str, Any] = {
            "prompt": apply_trigger(shot.prompt, plan.loras),
            "negative_prompt": request.negative_prompt or None,
            "height": plan.height,
            "width": plan.width,
            "num_frames": shot.num_frames,
            "num_inference_steps": plan.steps,
            "guidance_scale": plan.guidance_scale,
            "generator": runtime.generator(shot.seed),
        }
        if self.variant.pipeline == VACE:
            pipe = self._pipe
            args |= vace_inputs(request, shot, plan.width, plan.height, fit)
        elif shot.start_image is None:
            pipe = self._pipe if self.variant.pipeline == T2V else self._other
        else:
            pipe = self._pipe if self.variant.pipeline == I2V else self._other
            args["image"] = fit(shot.start_image)
            if shot.end_image is not None:
                args["last_image"] = fit(shot.end_image)
        return runtime.run_pipeline(pipe, reporter, **args)


def vace_inputs(
    request: VideoRequest, shot: ShotInput, width: int, height: int, fit: Any
) -> dict[str, Any]:
    """``WanVACEPipeline`` arguments for a shot: the request's references (the pipeline
    letterboxes them into the frame), and its start and end frames as a control video whose
    mask keeps those frames (black) and generates the rest (white), as VACE's first-last
    frame task does. Nothing for a plain text-to-video shot."""
    from PIL import Image as PILImage

    args: dict[str, Any] = {}
    if request.reference_images:
        args["reference_images"] = [PILImage.fromarray(i) for i in request.reference_images]
    if shot.start_image is None and shot.end_image is None:
        return args
    # Grey is "nothing here" to VACE (0 after its [-1, 1] scaling).
    grey = PILImage.new("RGB", (width, height), (128, 128, 128))
    keep, make = PILImage.new("L", (width, height), 0), PILImage.new("L", (width, height), 255)
    video, mask = [grey] * shot.num_frames, [make] * shot.num_frames
    if shot.start_image is not None:
        video[0], mask[0] = fit(shot.start_image), keep
    if shot.end_image is not None:
        video[-1], mask[-1] = fit(shot.end_image), keep
    return args | {"video": video, "mask": mask}
