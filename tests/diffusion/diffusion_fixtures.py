"""Shared pieces of the diffusion tests: tiny model folders, engines TOML files, a recording
RunContext, and small engines that misbehave in a child process (each shows one behaviour).

The misbehaving engines are imported by name in the child (``diffusion_fixtures:...``), which
finds this folder on the ``sys.path`` that spawn hands down.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np

from vidserve.cli import weights
from vidserve.engines.base import Engine, RenderedVideo, RunContext, VideoRequest
from vidserve.engines.motion import MotionEngine

FAMILIES = ("wan", "ltx", "cogvideox")
#: A Wan engine whose denoise outlasts any test: for cancelling one that runs.
SLOW_WAN = "slow-wan"
V1 = "fal-ai/kling-video/v1/standard/image-to-video"
O1 = "fal-ai/kling-video/o1/standard/image-to-video"

#: Test-size generation: 2 steps, 2 fps (5 s -> 9 frames), at most 64x32, one CPU thread
#: (two torch threads per process thrash on a 2-core machine).
FAST = {"steps": 2, "fps": 2, "max_area": 64 * 32, "cpu_threads": 1}


def make_tiny(
    directory: Path, family: str, variant: str | None = None, task: str | None = None
) -> Path:
    """A tiny model folder, made the way a user makes one: ``vidserve weights make-tiny``."""
    parser = argparse.ArgumentParser()
    weights.register(parser.add_subparsers(dest="command"))
    argv = ["weights", "make-tiny", str(directory), "--family", family]
    if variant:
        argv += ["--variant", variant]
    if task:
        argv += ["--task", task]
    assert weights.run(parser.parse_args(argv)) == 0
    return directory


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return f'"{value}"'
    return repr(value)


def write_config(
    path: Path,
    engines: dict[str, dict[str, Any]],
    default: str | None = None,
    endpoints: dict[str, str] | None = None,
) -> Path:
    """An engines TOML file: one ``[engines.NAME]`` table per entry."""
    lines = [] if default is None else [f'default = "{default}"']
    if endpoints:
        lines.append("[endpoints]")
        lines += [f'"{endpoint}" = "{name}"' for endpoint, name in endpoints.items()]
    for name, table in engines.items():
        lines.append(f"[engines.{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def image(width: int = 160, height: int = 90, seed: int = 0) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def video_request(**fields: Any) -> VideoRequest:
    base: dict[str, Any] = {
        "start_image": image(),
        "prompt": "a cat walks on the road",
        "width": 1280,
        "height": 720,
        "fps": 30,
        "duration": 5.0,
        "seed": 7,
    }
    return VideoRequest(**{**base, **fields})


class RecordingContext(RunContext):
    """Records progress and logs; cancelled once ``cancel_at`` progress reports were made."""

    def __init__(self, workdir: Path, cancel_at: int | None = None) -> None:
        self.workdir = workdir
        self.progress_reports: list[float] = []
        self.logs: list[str] = []
        self.cancel_at = cancel_at

    def progress(self, fraction: float) -> None:
        self.progress_reports.append(fraction)

    def log(self, message: str, level: str = "INFO") -> None:
        self.logs.append(message)

    @property
    def cancelled(self) -> bool:
        return self.cancel_at is not None and len(self.progress_reports) >= self.cancel_at


def small_motion_clip(request: VideoRequest, ctx: RunContext) -> RenderedVideo:
    """A real (tiny) MP4 from the motion engine: what the misbehaving engines make when
    they behave."""
    small = dataclasses.replace(request, width=64, height=36, fps=2)
    return MotionEngine().generate(small, ctx)


class KillSelfEngine(Engine):
    """Dies by SIGKILL (as a segfault or the OOM killer would end it) when the prompt says
    "crash"; renders a short motion clip otherwise."""

    name = "kill-self"

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        if "crash" in request.prompt:
            ctx.log("about to die")
            os.kill(os.getpid(), signal.SIGKILL)
        return small_motion_clip(request, ctx)


class OutOfMemoryEngine(Engine):
    """Runs out of memory when the prompt says "oom"; renders otherwise."""

    name = "oom"

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        if "oom" in request.prompt:
            raise MemoryError("cannot allocate 80 GiB")
        return small_motion_clip(request, ctx)


class StallEngine(Engine):
    """When the prompt says "stall", ignores cancels for a minute, as one denoising step of a
    big model can; renders otherwise."""

    name = "stall"

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        if "stall" in request.prompt:
            ctx.log("stalling")
            threading.Event().wait(60)
        return small_motion_clip(request, ctx)


class FailingEngine(Engine):
    """Raises an ordinary exception when the prompt says "fail": a bug, not a crash."""

    name = "failing"

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        if "fail" in request.prompt:
            raise RuntimeError("boom in the engine")
        return small_motion_clip(request, ctx)


class BrokenLoadEngine(Engine):
    """Cannot load its model (a corrupt weights file, no GPU)."""

    name = "broken-load"

    def load(self) -> None:
        raise RuntimeError("transformer/diffusion_pytorch_model.safetensors is truncated")

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        raise AssertionError("never loaded, never called")


#: The attention projections every family's transformer has (the usual LoRA targets).
ATTENTION = ["to_q", "to_k", "to_v", "to_out.0"]


def make_lora(folder: Path, path: Path, seed: int, rank: int = 4) -> Path:
    """A random LoRA on the attention layers of ``folder``'s transformer, saved as
    ``path`` the way diffusers' trainers save one (peft's state dict, the pipeline's
    ``save_lora_weights``): what a user would download for their model."""
    import json

    import diffusers
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    index = json.loads((folder / "model_index.json").read_text())
    config = json.loads((folder / "transformer" / "config.json").read_text())
    model = getattr(diffusers, config["_class_name"]).from_pretrained(folder / "transformer")
    torch.manual_seed(seed)
    # Random A and B (peft starts B at zero): a LoRA that changes what the model makes.
    lora = LoraConfig(r=rank, lora_alpha=rank, target_modules=ATTENTION, init_lora_weights=False)
    model.add_adapter(lora)
    layers = get_peft_model_state_dict(model)
    getattr(diffusers, index["_class_name"]).save_lora_weights(
        path.parent, transformer_lora_layers=layers, weight_name=path.name
    )
    return path
