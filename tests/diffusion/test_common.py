"""The request mapping every diffusion engine shares (frame counts, sizes, guidance, crops),
the options check and the weights folder check; none of it needs torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidserve.engines.diffusers.common import (
    GuidanceRange,
    check_weights,
    cover_crop_box,
    fit_size,
    frame_count,
)
from vidserve.engines.diffusers.options import DiffusionOptions
from vidserve.errors import ConfigError


@pytest.mark.parametrize(
    ("duration", "fps", "multiple", "frames"),
    [
        (5, 16, 4, 81),  # Wan 2.1: 5 s at 16 fps, its trained length
        (10, 16, 4, 161),
        (5, 24, 8, 121),  # LTX-Video: 8k+1
        (10, 24, 8, 241),
        (6, 8, 4, 49),  # CogVideoX 1.0's 49 frames
        (5, 16, 16, 81),  # CogVideoX 1.5: 16k+1
        (3, 24, 8, 73),
        (0.1, 16, 4, 5),  # never fewer than one step of the VAE
    ],
)
def test_frame_count_is_the_nearest_valid_count(
    duration: float, fps: int, multiple: int, frames: int
) -> None:
    assert frame_count(duration, fps, multiple) == frames
    assert (frames - 1) % multiple == 0


def test_frame_count_caps_at_a_valid_count() -> None:
    assert frame_count(10, 16, 4, max_frames=100) == 97
    assert frame_count(10, 8, 4, max_frames=49) == 49


@pytest.mark.parametrize(
    ("size", "multiple", "max_area", "fitted"),
    [
        ((1280, 720), 16, 480 * 832, (832, 480)),  # Wan 480p: 16:9
        ((720, 1280), 16, 480 * 832, (480, 832)),  # 9:16
        ((1080, 1080), 16, 480 * 832, (624, 624)),  # 1:1
        ((1920, 1080), 16, 720 * 1280, (1280, 720)),  # a 720p model for a 1080p tier
        ((1280, 720), 32, 704 * 1280, (1248, 704)),  # Wan 2.2 5B: multiples of 32
        ((1280, 720), 32, 768 * 512, (800, 448)),  # LTX-Video
        ((640, 360), 16, 720 * 1280, (624, 352)),  # never larger than asked
    ],
)
def test_fit_size_keeps_the_aspect_within_the_models_area(
    size: tuple[int, int], multiple: int, max_area: int, fitted: tuple[int, int]
) -> None:
    width, height = fit_size(*size, multiple, max_area)
    assert (width, height) == fitted
    assert width % multiple == 0 and height % multiple == 0
    assert width * height <= min(max_area, size[0] * size[1])


def test_guidance_is_linear_and_clamped() -> None:
    wan = GuidanceRange(1.0, 9.0)
    assert [wan.scale(x) for x in (0.0, 0.25, 0.5, 1.0, 1.5, -1.0)] == [1, 3, 5, 9, 9, 1]


def test_cover_crop_cuts_the_sides_to_the_target_aspect() -> None:
    assert cover_crop_box(1920, 1080, 720, 480) == (150, 0, 1770, 1080)
    assert cover_crop_box(1080, 1920, 832, 480) == (0, 648, 1080, 1271)
    assert cover_crop_box(800, 800, 64, 64) == (0, 0, 800, 800)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"stepz": 4}, "unknown option 'stepz'; known: attention_backend, cache"),
        ({"steps": "4"}, "steps must be a int; got '4'"),
        ({"vae_tiling": 1}, "vae_tiling must be a bool; got 1"),
        ({"dtype": "fp8"}, "dtype = 'fp8'; one of auto, bfloat16, float16, float32"),
        ({"cache": "teacache"}, "cache = 'teacache'; one of none, first_block"),
        ({"steps": 0}, "steps must be >= 1"),
        ({"attention_backend": "flash_hub"}, "downloads kernels from the Hugging Face hub"),
        ({"device": "cpu", "offload": "model"}, "offload = 'model' needs a GPU device"),
    ],
)
def test_bad_options_are_named(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DiffusionOptions.parse(raw, "wan")
    assert str(caught.value).startswith("engine wan: ")
    assert message in str(caught.value)


def test_family_options_are_typed_and_ints_pass_for_floats() -> None:
    options = DiffusionOptions.parse({"decode_timestep": 0, "flow_shift": 5}, "ltx", {
        "decode_timestep": float
    })
    assert options.extra == {"decode_timestep": 0.0}
    assert options.flow_shift == 5.0


def folder(root: Path, index: dict[str, object], parts: dict[str, list[str]]) -> Path:
    root.mkdir()
    (root / "model_index.json").write_text(json.dumps(index))
    for name, files in parts.items():
        (root / name).mkdir()
        for file in files:
            (root / name / file).write_text("{}")
    return root


INDEX = {
    "_class_name": "LTXConditionPipeline",
    "transformer": ["diffusers", "LTXVideoTransformer3DModel"],
    "tokenizer": ["transformers", "T5Tokenizer"],
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
}
PARTS = {
    "transformer": ["config.json", "diffusion_pytorch_model.safetensors"],
    "tokenizer": ["tokenizer.json"],
    "scheduler": ["scheduler_config.json"],
}
COMPONENTS = ("transformer", "tokenizer", "scheduler")


def test_a_complete_folder_passes_and_returns_its_index(tmp_path: Path) -> None:
    path = folder(tmp_path / "m", INDEX, PARTS)
    assert check_weights(path, ["LTXConditionPipeline"], COMPONENTS) == INDEX


@pytest.mark.parametrize(
    ("index", "parts", "problem"),
    [
        ({**INDEX, "_class_name": "LTXPipeline"}, PARTS, "holds a 'LTXPipeline' pipeline"),
        ({k: v for k, v in INDEX.items() if k != "scheduler"}, PARTS, "lists no 'scheduler'"),
        (INDEX, {**PARTS, "transformer": ["config.json"]}, "transformer/ has no weights"),
        (INDEX, {**PARTS, "transformer": ["model.safetensors"]}, "transformer/config.json is"),
        (INDEX, {**PARTS, "tokenizer": ["notes.txt"]}, "tokenizer/ has no tokenizer files"),
        (INDEX, {k: v for k, v in PARTS.items() if k != "scheduler"}, "scheduler/ is missing"),
    ],
)
def test_a_malformed_folder_names_the_path_the_problem_and_the_layout(
    tmp_path: Path, index: dict[str, object], parts: dict[str, list[str]], problem: str
) -> None:
    path = folder(tmp_path / "m", index, parts)
    with pytest.raises(ConfigError) as caught:
        check_weights(path, ["LTXConditionPipeline"], COMPONENTS)
    message = str(caught.value)
    assert message.startswith(f"weights folder {path}: ")
    assert problem in message
    assert "expected a diffusers LTXConditionPipeline folder" in message
    assert "transformer/  config.json and weights (*.safetensors)" in message


def test_a_missing_or_unreadable_index_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        check_weights(tmp_path / "nope", ["LTXConditionPipeline"], COMPONENTS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="has no model_index.json"):
        check_weights(tmp_path / "empty", ["LTXConditionPipeline"], COMPONENTS)
    (tmp_path / "empty" / "model_index.json").write_text("{not json")
    with pytest.raises(ConfigError, match="model_index.json is unreadable"):
        check_weights(tmp_path / "empty", ["LTXConditionPipeline"], COMPONENTS)
