# mypy: disallow-untyped-calls=False
# (diffusers' configuration classes are untyped.)
"""The torch side the diffusion engines share: loading a pipeline from a local folder with
the configured speed and memory settings, the per-step callback (progress and cancel), and
streaming the decoded frames into an MP4.

Imported only when an engine loads (in the engine's child process), never by the API.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidserve.engines.base import Image, RunContext
from vidserve.engines.diffusers import quantized
from vidserve.engines.diffusers.common import cover_crop_box, offline_environment
from vidserve.engines.diffusers.options import DiffusionOptions
from vidserve.errors import CancelledError, ConfigError, EngineError
from vidserve.media.video import EncoderError, VideoWriter
from vidserve.schema import ErrorType

#: Progress up to the end of denoising; decoding and encoding fill the rest.
DENOISE_SHARE = 0.9

# diffusers imports torchao (when installed) with its first pipeline class, and torchao logs
# each GPU kernel library it cannot load (every one on a CPU): noise in the worker's log.
# Set before the engines name a pipeline class, which they do after importing this module.
logging.getLogger("torchao").setLevel(logging.ERROR)


def resolve_device(name: str) -> str:
    """``auto`` becomes ``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    if name != "auto":
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} is configured but torch sees no CUDA GPU")
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(name: str | None, device: str) -> Any:
    """A torch dtype by name; ``auto`` is bfloat16 on a GPU and float32 on a CPU."""
    import torch

    if name in (None, "auto"):
        return torch.float32 if device == "cpu" else torch.bfloat16
    return getattr(torch, name)


def load_pipeline(
    pipeline_class: Any,
    path: Path,
    options: DiffusionOptions,
    *,
    float32: tuple[str, ...] = (),
) -> tuple[Any, str]:
    """Load ``pipeline_class`` from the local folder ``path``, never from the hub, and apply
    ``options``; returns the pipeline and the device it runs on. The ``float32`` components
    (the family's advice) load in float32 unless ``options.vae_dtype`` names the VAE's."""
    import diffusers
    import torch
    import transformers

    offline_environment()
    # The engine checks what it passes; library warnings would only reach the worker's
    # stderr, far from the request they concern.
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if options.cpu_threads:
        torch.set_num_threads(options.cpu_threads)
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    dtypes = {"default": dtype} | {name: torch.float32 for name in float32}
    if options.vae_dtype:
        dtypes["vae"] = resolve_dtype(options.vae_dtype, device)
    overrides = quantized.transformer_overrides(path, options, dtype)
    try:
        pipe = pipeline_class.from_pretrained(
            str(path), dtype=dtypes, local_files_only=True, **overrides
        )
    except (MemoryError, torch.OutOfMemoryError):
        raise
    except Exception as exc:  # safetensors, JSON, shape and import errors all mean one thing
        raise ConfigError(f"weights folder {path} could not be loaded: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    if options.flow_shift is not None and "flow_shift" in pipe.scheduler.config:
        pipe.scheduler = type(pipe.scheduler).from_config(
            pipe.scheduler.config, flow_shift=options.flow_shift
        )
    place(pipe, options, device)
    accelerate(pipe, options)
    return pipe, device


def sibling(pipe: Any, pipeline_class: Any, options: DiffusionOptions, device: str) -> Any:
    """A ``pipeline_class`` over the loaded components of ``pipe`` (the same models, no
    copy): text-to-video and image-to-video from one folder.

    Built directly rather than with diffusers' ``from_pipe``, which casts every shared
    model to one dtype (float32 unless told), undoing a bfloat16 load and the float32 VAE.
    Under model offload its hooks are installed anew for this pipeline's order (each
    pipeline reinstalls them after a call, so the two take turns cleanly).
    """
    import inspect

    components = pipe.components
    wanted = inspect.signature(pipeline_class.__init__).parameters
    kwargs = {
        name: components[name] if name in components else pipe.config[name]
        for name in wanted
        if name in components or name in pipe.config
    }
    made = pipeline_class(**kwargs)
    made.set_progress_bar_config(disable=True)
    if options.offload == "model":
        made.enable_model_cpu_offload(device=device)
    return made


def place(pipe: Any, options: DiffusionOptions, device: str) -> None:
    """Put the pipeline on ``device``, whole or with the configured offloading."""
    import torch

    if options.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif options.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    elif options.offload == "group":
        pipe.enable_group_offload(
            onload_device=torch.device(device),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=True,
        )
    else:
        pipe.to(device)
    if options.vae_tiling:
        pipe.vae.enable_tiling()


def transformers_of(pipe: Any) -> list[Any]:
    """The denoising transformers (Wan 2.2 A14B has two experts)."""
    return [
        model
        for model in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None))
        if model is not None
    ]


def accelerate(pipe: Any, options: DiffusionOptions) -> None:
    """Attention backend, step cache and torch.compile on the transformer(s)."""
    for model in transformers_of(pipe):
        if options.attention_backend:
            try:
                model.set_attention_backend(options.attention_backend)
            except (ValueError, RuntimeError, ImportError) as exc:
                raise ConfigError(
                    f"attention_backend {options.attention_backend!r}: {exc}"
                ) from exc
        if options.cache != "none":
            if options.cache == "first_block" and model.config.get("num_layers", 2) < 2:
                raise ConfigError("cache = 'first_block' needs two or more transformer blocks")
            model.enable_cache(cache_config(options, pipe))
        if options.compile == "regional" and getattr(model, "_repeated_blocks", None):
            model.compile_repeated_blocks(fullgraph=True)
        elif options.compile != "none":
            # No repeated blocks declared (CogVideoX): compile the whole transformer.
            model.compile()


def cache_config(options: DiffusionOptions, pipe: Any) -> Any:
    """The diffusers cache configuration ``options.cache`` names."""
    import diffusers

    if options.cache == "first_block":
        return diffusers.FirstBlockCacheConfig(threshold=options.cache_threshold)
    if options.cache == "taylorseer":
        return diffusers.TaylorSeerCacheConfig()
    return diffusers.PyramidAttentionBroadcastConfig(
        spatial_attention_block_skip_range=2,
        current_timestep_callback=lambda: pipe.current_timestep,
    )


def cover_fit(image: Image, width: int, height: int) -> Image:
    """The image cropped to the target's aspect ratio (centred) and resized."""
    x0, y0, x1, y1 = cover_crop_box(image.shape[1], image.shape[0], width, height)
    crop = image[y0:y1, x0:x1]
    shrinking = crop.shape[1] > width
    resized = cv2.resize(
        crop, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    )
    return np.ascontiguousarray(resized)


def fit_image(image: Image, width: int, height: int) -> Any:
    """:func:`cover_fit` as a PIL image (what the pipelines take)."""
    from PIL import Image as PILImage

    return PILImage.fromarray(cover_fit(image, width, height))


def generator(seed: int | None) -> Any:
    """A CPU generator: the same seed gives the same noise on any device."""
    import torch

    gen = torch.Generator(device="cpu")
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return gen


class StepMeter:
    """Seconds per denoising step over a request's generations, and the peak GPU memory
    they took (on CUDA: reset when the meter is made, read at the end)."""

    def __init__(self) -> None:
        self.steps = 0
        self.seconds = 0.0
        self.cuda = _cuda_in_use()
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()

    def add(self, reporter: StepReporter) -> None:
        """Count one generation's steps."""
        self.steps += reporter.done
        self.seconds += reporter.elapsed

    def metrics(self) -> dict[str, float]:
        """``seconds_per_step`` and, on CUDA, ``peak_gpu_memory_mb``."""
        figures: dict[str, float] = {}
        if self.steps:
            figures["seconds_per_step"] = round(self.seconds / self.steps, 4)
        if self.cuda:
            import torch

            figures["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return figures

    def describe(self) -> str:
        """The figures as a log line."""
        figures = self.metrics()
        line = f"{self.steps} steps in {self.seconds:.1f} s"
        if "seconds_per_step" in figures:
            line += f" ({figures['seconds_per_step']:.3f} s/step)"
        if "peak_gpu_memory_mb" in figures:
            line += f", peak GPU memory {figures['peak_gpu_memory_mb']:.0f} MB"
        return line


def _cuda_in_use() -> bool:
    """Whether this process runs models on CUDA (never initialises it on a CPU machine)."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_initialized())


class DenoiseInterrupted(Exception):
    """Raised from the step callback once the pipeline was told to stop."""


class StepReporter:
    """``callback_on_step_end``: progress every step, cancel through the pipeline's interrupt.

    Progress runs over ``span`` (a storyboard's shot gets its share of the denoising part).
    On cancel it sets ``pipe._interrupt`` (what the pipelines check before each step) and
    raises, because an interrupted pipeline would still decode its half-denoised latents,
    which at 720p takes longer than the one second a cancel should.
    """

    def __init__(
        self,
        ctx: RunContext,
        steps: int,
        family: str,
        *,
        span: tuple[float, float] = (0.0, DENOISE_SHARE),
        shot: str = "",
    ) -> None:
        self.ctx = ctx
        self.steps = steps
        self.family = family
        self.span = span
        #: "shot 2/3" in a storyboard, to say where a log line or a cancel came.
        self.shot = shot
        self.done = 0
        self.started = time.perf_counter()
        #: Seconds from the call's start to the end of the last step taken.
        self.elapsed = 0.0
        self._log_every = max(1, steps // 10)

    def __call__(
        self, pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]
    ) -> dict[str, Any]:
        self.done = step + 1
        self.elapsed = time.perf_counter() - self.started
        first, last = self.span
        self.ctx.progress(first + (last - first) * self.done / self.steps)
        if self.done % self._log_every == 0 or self.done == self.steps:
            per_step = (time.perf_counter() - self.started) / self.done
            where = f"{self.shot}, " if self.shot else ""
            self.ctx.log(
                f"{self.family}: {where}step {self.done}/{self.steps} ({per_step:.2f} s/step)"
            )
        if self.ctx.cancelled:
            pipe._interrupt = True
            raise DenoiseInterrupted
        return {}


def run_pipeline(pipe: Any, reporter: StepReporter, **kwargs: Any) -> Any:
    """Call the pipeline with the reporter; returns the video tensor ``(F, C, H, W)`` in [0, 1].

    A cancel becomes :class:`CancelledError`; running out of GPU memory an EngineError with
    ``error_type`` ``out_of_memory``.
    """
    import torch

    try:
        output = pipe(
            callback_on_step_end=reporter,
            callback_on_step_end_tensor_inputs=["latents"],
            output_type="pt",
            return_dict=False,
            **kwargs,
        )
    except DenoiseInterrupted:
        # The pipeline stopped mid-call: put offloaded models back where they belong.
        pipe.maybe_free_model_hooks()
        where = f" of {reporter.shot}" if reporter.shot else ""
        raise CancelledError(f"cancelled after denoising step {reporter.done}{where}") from None
    except torch.OutOfMemoryError as exc:
        raise EngineError(f"out of GPU memory: {exc}", ErrorType.OUT_OF_MEMORY) from exc
    if reporter.ctx.cancelled:
        raise CancelledError("cancelled while decoding")
    return output[0][0]


class ClipWriter:
    """Streams decoded videos (a storyboard's shots, in turn) into one H.264 MP4 as they
    come, a frame at a time; the file is deleted when the block ends with an exception.

    Videos are ``(F, C, H, W)`` floats in [0, 1] on any device; they become ``uint8`` there
    first, so a quarter of the float video crosses to the CPU, a frame at a time, while the
    encoder thread compresses the previous ones.
    """

    def __init__(self, path: Path, fps: int, ctx: RunContext) -> None:
        self.path = path
        self.fps = fps
        self.ctx = ctx
        self._writer: VideoWriter | None = None

    def add(self, video: Any, *, skip_first: bool = False) -> Image:
        """Append the frames of ``video`` (all but the first with ``skip_first``); returns
        its last frame as an RGB image."""
        import torch

        frames = (video * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        count, height, width = int(frames.shape[0]), int(frames.shape[1]), int(frames.shape[2])
        try:
            if self._writer is None:
                self._writer = VideoWriter(self.path, width, height, self.fps)
            for index in range(1 if skip_first else 0, count):
                self.ctx.check_cancelled()
                self._writer.write(np.ascontiguousarray(frames[index].cpu().numpy()))
        except EncoderError as exc:
            raise EngineError(str(exc), ErrorType.ENCODING) from exc
        # A copy of its own: the writer holds the frames it has queued.
        last: Image = np.ascontiguousarray(frames[count - 1].cpu().numpy())
        return last

    def close(self) -> tuple[int, int, int]:
        """Finish the file; returns ``(width, height, frame count)``."""
        writer = self._writer
        if writer is None:
            raise EngineError("no frames were rendered", "engine_error")
        self.ctx.progress(DENOISE_SHARE + (1 - DENOISE_SHARE) / 2)
        try:
            writer.close()
        except EncoderError as exc:
            raise EngineError(str(exc), ErrorType.ENCODING) from exc
        self.ctx.progress(1.0)
        return writer.width, writer.height, writer.num_frames

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is not None and self._writer is not None:
            self._writer.abort()
