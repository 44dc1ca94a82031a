"""What the diffusion engines share without importing torch: offline mode, the request
mapping (frame count, size, guidance) and the weights folder check.

Kept torch-free so a worker validates its configuration at start (and the API process never
loads torch); the torch side lives in :mod:`.runtime`.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidserve.errors import ConfigError

#: Every switch the Hugging Face libraries read to stay off the network.
OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DIFFUSERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
}


def offline_environment() -> None:
    """Switch the Hugging Face libraries to offline mode, before or after their import.

    Weights only ever come from local folders (``local_files_only=True`` as well); this makes
    any code path that would still reach for the hub fail at once instead of connecting.
    """
    os.environ.update(OFFLINE_ENV)
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        # Read once at import; a process that imported the hub first would stay online.
        constants.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]


def frame_count(duration: float, fps: int, multiple: int, max_frames: int | None = None) -> int:
    """The fewest valid frames (``multiple * k + 1``, k >= 1) that last ``duration`` at
    ``fps``: never a shorter video, at most one VAE step longer.

    Video VAEs compress time by ``multiple`` after a lone first frame, so Wan needs 4k+1
    frames, LTX-Video 8k+1, CogVideoX 1.5 16k+1. ``max_frames`` caps the result (rounded
    down to a valid count).
    """
    wanted = max(duration * fps, 1.0)
    # The tolerance keeps 80.0000001 wanted frames from costing a whole step more.
    k = max(1, math.ceil((wanted - 1) / multiple - 1e-6))
    if max_frames is not None:
        k = max(1, min(k, (max_frames - 1) // multiple))
    return multiple * k + 1


def fit_size(width: int, height: int, multiple: int, max_area: int) -> tuple[int, int]:
    """The size with ``width / height``'s aspect ratio, both sides multiples of ``multiple``,
    nearest in pixel count to the requested size or ``max_area``, whichever is smaller, and
    never above it.

    The request's size sets the aspect ratio; ``max_area`` is the model's trained pixel count
    (a 480p model renders 16:9 as 832x480, not the endpoint's 1280x720).
    """
    aspect = width / height
    area = max_area = min(width * height, max_area)
    ideal_rows = math.sqrt(area / aspect) / multiple
    best: tuple[float, int, int] = (math.inf, multiple, multiple)
    for rows in range(max(1, math.floor(ideal_rows) - 2), math.floor(ideal_rows) + 3):
        h = rows * multiple
        widest = max_area // h // multiple  # the widest that fits at this height
        for cols in {math.floor(h * aspect / multiple), math.ceil(h * aspect / multiple), widest}:
            w = max(1, cols) * multiple
            if w * h > max_area:
                continue
            # Aspect ratio first, then closeness to the wanted pixel count.
            error = abs(math.log(w / h / aspect)) + 0.5 * abs(math.log(w * h / area))
            if error < best[0]:
                best = (error, w, h)
    return best[1], best[2]


@dataclass(frozen=True)
class GuidanceRange:
    """How Kling's ``cfg_scale`` (0..1) becomes a model's classifier-free guidance scale.

    Linear: 0 gives ``low`` (1.0 turns CFG off: faster, the negative prompt unused), 1 gives
    ``high``, and Kling's default 0.5 lands on the model's recommended scale.
    """

    low: float
    high: float

    def scale(self, cfg_scale: float) -> float:
        """The model's guidance scale for ``cfg_scale`` (clamped to [0, 1])."""
        fraction = min(max(cfg_scale, 0.0), 1.0)
        return round(self.low + (self.high - self.low) * fraction, 4)


def cover_crop_box(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """The centred ``(x0, y0, x1, y1)`` of the source that has the target's aspect ratio,
    so a resize fills the frame without stretching (what is outside is cut off)."""
    scale = max(dst_w / src_w, dst_h / src_h)
    crop_w = min(src_w, round(dst_w / scale))
    crop_h = min(src_h, round(dst_h / scale))
    x0, y0 = (src_w - crop_w) // 2, (src_h - crop_h) // 2
    return x0, y0, x0 + crop_w, y0 + crop_h


# --- the weights folder -------------------------------------------------------------------

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".safetensors.index.json", ".bin.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "tokenizer_config.json", "vocab.json")


def expected_layout(pipeline: str, components: Sequence[str]) -> str:
    """The folder layout an engine loads, for error messages."""
    lines = [
        f"expected a diffusers {pipeline} folder (the save_pretrained layout):",
        f'  model_index.json  {{"_class_name": "{pipeline}", ...}}',
    ]
    for name in components:
        lines.append(f"  {name}/  {_component_files(name)}")
    return "\n".join(lines)


def _component_files(name: str) -> str:
    if name.startswith("tokenizer"):
        return "tokenizer files (tokenizer.json or spiece.model, tokenizer_config.json)"
    if name.startswith("scheduler"):
        return "scheduler_config.json"
    if name.endswith("processor"):
        return "preprocessor_config.json"
    return "config.json and weights (*.safetensors)"


def check_weights(
    path: Path, pipelines: Sequence[str], components: Sequence[str]
) -> dict[str, Any]:
    """Check that ``path`` holds one of ``pipelines`` with every listed component; return
    its ``model_index.json``. Reads JSON only (no torch), so a worker checks at start.

    Raises :class:`ConfigError` naming the path, what is wrong and the expected layout.
    """
    layout = expected_layout(pipelines[0], components)

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"weights folder {path}: {problem}\n{layout}")

    if not path.exists():
        raise fail("does not exist")
    if not path.is_dir():
        raise fail("is not a folder")
    index_path = path / "model_index.json"
    try:
        index = json.loads(index_path.read_text())
    except FileNotFoundError:
        raise fail("has no model_index.json") from None
    except (OSError, ValueError) as exc:
        raise fail(f"model_index.json is unreadable ({exc})") from None
    if not isinstance(index, dict):
        raise fail("model_index.json is not a JSON object")
    class_name = index.get("_class_name")
    if class_name not in pipelines:
        raise fail(f"holds a {class_name!r} pipeline; this engine loads {' or '.join(pipelines)}")
    for name in components:
        entry = index.get(name)
        if not (isinstance(entry, list) and len(entry) == 2 and entry[1]):
            raise fail(f"model_index.json lists no {name!r} component")
        problem = _component_problem(path / name, name)
        if problem:
            raise fail(problem)
    return index


def _component_problem(folder: Path, name: str) -> str | None:
    """What is missing from one component's folder, or None."""
    if not folder.is_dir():
        return f"{name}/ is missing"
    files = {child.name for child in folder.iterdir()}
    if name.startswith("tokenizer"):
        return None if files & set(_TOKENIZER_FILES) else f"{name}/ has no tokenizer files"
    if name.startswith("scheduler"):
        return (
            None if "scheduler_config.json" in files else f"{name}/scheduler_config.json is missing"
        )
    if name.endswith("processor"):
        ok = "preprocessor_config.json" in files
        return None if ok else f"{name}/preprocessor_config.json is missing"
    if "config.json" not in files:
        return f"{name}/config.json is missing"
    if not any(f.endswith(_WEIGHT_SUFFIXES) for f in files):
        return f"{name}/ has no weights (*.safetensors or *.bin)"
    return None


def read_component_config(path: Path, name: str) -> dict[str, Any]:
    """A component's ``config.json`` (after :func:`check_weights` passed)."""
    try:
        config = json.loads((path / name / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"weights folder {path}: {name}/config.json is unreadable ({exc})"
        ) from None
    if not isinstance(config, dict):
        raise ConfigError(f"weights folder {path}: {name}/config.json is not a JSON object")
    return config


def present_components(index: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """Those of ``names`` that ``model_index.json`` lists with a class (optional parts)."""
    return [n for n in names if isinstance(index.get(n), list) and index[n][1]]
