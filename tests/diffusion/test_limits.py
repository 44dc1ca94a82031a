"""What each model can take, read from its own configs: every request fits inside its
positional table (or is refused by name), an option past it stops the start, the video lasts
what was asked, and a make-tiny folder serves the endpoints' default sizes with no option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from diffusion_fixtures import FAMILIES, RecordingContext, make_tiny, video_request

from vidserve.engines.diffusers.cogvideox import CogVideoXImageToVideoEngine
from vidserve.engines.diffusers.limits import ModelLimits
from vidserve.engines.diffusers.ltx import LTXImageToVideoEngine
from vidserve.engines.diffusers.wan import WanImageToVideoEngine
from vidserve.errors import ConfigError
from vidserve.media.video import probe

ENGINES: dict[str, Any] = {
    "wan": WanImageToVideoEngine,
    "ltx": LTXImageToVideoEngine,
    "cogvideox": CogVideoXImageToVideoEngine,
}
#: The endpoints' output sizes (720p and 1080p tiers, 16:9, 9:16 and 1:1) and durations.
TIER_SIZES = [(1280, 720), (720, 1280), (1080, 1080), (1920, 1080), (1080, 1920)]
DURATIONS = [5.0, 10.0]


def without_defaults(folder: Path, into: Path) -> Path:
    """``folder`` as a real model folder: its parts linked, without make-tiny's defaults."""
    into.mkdir()
    for child in folder.iterdir():
        if child.name != "vidserve.json":
            (into / child.name).symlink_to(child)
    return into


def test_the_limits_come_from_the_models_configs(tiny: dict[str, Path], tmp_path: Path) -> None:
    wan = WanImageToVideoEngine(tiny["wan"]).limits
    # rope_max_seq_len 32 patches of 2 latents of 8 px: 512 px a side; 4 x 31 + 1 frames.
    assert (wan.max_width, wan.max_height, wan.max_frames) == (512, 512, 125)
    assert "rope_max_seq_len 32" in wan.source
    cog = CogVideoXImageToVideoEngine(tiny["cogvideox"]).model.limits
    assert (cog.fixed_size, cog.max_frames) == ((48, 32), 9)
    cog15 = CogVideoXImageToVideoEngine(make_tiny(tmp_path / "c15", "cogvideox", "1.5"))
    assert (cog15.model.limits.max_width, cog15.model.limits.max_height) == (128, 128)
    assert LTXImageToVideoEngine(tiny["ltx"]).limits.largest_area is None  # computed positions


@pytest.mark.parametrize("size", TIER_SIZES)
def test_a_wan_request_never_reaches_the_model_past_its_rotary_table(
    tiny: dict[str, Path], tmp_path: Path, size: tuple[int, int]
) -> None:
    # The production defaults (832x480 for a 480p Wan) on a model whose table holds 512 px.
    made = WanImageToVideoEngine(without_defaults(tiny["wan"], tmp_path / "wan"))
    plan = made.plan(video_request(width=size[0], height=size[1]))
    assert plan.width <= 512 and plan.height <= 512
    assert plan.width % 16 == 0 and plan.height % 16 == 0
    # The aspect ratio is kept (within a stride's rounding).
    assert plan.width / plan.height == pytest.approx(size[0] / size[1], rel=0.15)


@pytest.mark.slow
def test_the_wan_that_failed_on_its_table_now_renders_at_its_default_size(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    # The shape error came from 832x480 on a table of 32 rows; 1 step keeps it quick.
    made = WanImageToVideoEngine(
        without_defaults(tiny["wan"], tmp_path / "wan"), steps=1, fps=4, cpu_threads=1
    )
    request = video_request(width=1920, height=1080, duration=2.0)
    rendered = made.generate(request, RecordingContext(tmp_path))
    info = probe(rendered.path)
    assert (info.width, info.height, info.num_frames) == (512, 288, 9)


@pytest.mark.parametrize(
    ("family", "options", "error"),
    [
        ("wan", {"max_area": 832 * 480}, "max_area = 399360 is more than Wan 2.2 I2V-A14B can"),
        ("wan", {"max_frames": 200}, "max_frames = 200 is more than Wan 2.2 I2V-A14B renders"),
        ("cogvideox", {"max_area": 1024}, "max_area = 1024 is less than CogVideoX 1.0 I2V"),
        ("cogvideox", {"max_frames": 49}, r"renders at once: 9 \(learned positions for 48x32"),
        ("ltx", {"max_area": 100}, "max_area = 100 is smaller than one 32x32 frame"),
    ],
)
def test_an_option_past_the_models_table_stops_the_start_naming_it(
    tiny: dict[str, Path], family: str, options: dict[str, Any], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        ENGINES[family](tiny[family], **options)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("duration", DURATIONS)
@pytest.mark.parametrize("size", TIER_SIZES)
def test_every_tier_default_fits_a_tiny_folder_and_lasts_as_asked(
    tiny: dict[str, Path], family: str, duration: float, size: tuple[int, int]
) -> None:
    made = ENGINES[family](tiny[family])  # no options: the folder's own defaults
    plan = made.plan(video_request(width=size[0], height=size[1], duration=duration))
    limits: ModelLimits = made.model.limits if family == "cogvideox" else made.limits
    assert plan.width * plan.height <= 128 * 128
    for generation in plan.timing.generations:
        assert limits.max_frames is None or generation.frames <= limits.max_frames
    # Never shorter; at most one VAE step (8 frames) longer.
    assert duration <= plan.num_frames / plan.fps < duration + 8 / plan.fps


def test_a_clip_longer_than_the_table_continues_from_its_last_frame(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    # The tiny CogVideoX 1.0 makes 9 frames at once; 5 s at 4 fps needs 21 (8k+1: 25).
    ctx = RecordingContext(tmp_path)
    made = CogVideoXImageToVideoEngine(tiny["cogvideox"], steps=1)
    rendered = made.generate(video_request(), ctx)
    assert probe(rendered.path).num_frames == 25 and rendered.fps == 4  # 6.25 s, not 2.25
    assert "rendered as 3 generations" in rendered.notes[0]
    assert any("part 3/3" in line for line in ctx.logs), ctx.logs


@pytest.mark.parametrize("family", FAMILIES)
def test_a_tiny_folder_renders_a_default_request_with_no_options(
    tiny: dict[str, Path], family: str, tmp_path: Path
) -> None:
    ctx = RecordingContext(tmp_path)
    made = ENGINES[family](tiny[family], cpu_threads=1)
    rendered = made.generate(video_request(width=1920, height=1080), ctx)
    info = probe(rendered.path)
    assert info.num_frames / info.fps >= 5.0
    assert info.width * info.height <= 128 * 128
    # The figures every request reports: seconds per step, no GPU memory on a CPU.
    assert rendered.metrics["seconds_per_step"] > 0
    assert "peak_gpu_memory_mb" not in rendered.metrics
    assert any("s/step)" in line and "steps in" in line for line in ctx.logs), ctx.logs


def test_make_tiny_records_its_defaults_in_vidserve_json(tiny: dict[str, Path]) -> None:
    data = json.loads((tiny["wan"] / "vidserve.json").read_text())
    assert data["smoke_test"] is True
    assert data["defaults"] == {"steps": 2, "fps": 4, "max_area": 128 * 128}


def test_a_malformed_vidserve_json_is_named(tiny: dict[str, Path], tmp_path: Path) -> None:
    folder = without_defaults(tiny["ltx"], tmp_path / "ltx")
    (folder / "vidserve.json").write_text('{"defaults": {"stepz": 2}}')
    with pytest.raises(ConfigError, match="unknown option 'stepz'"):
        LTXImageToVideoEngine(folder)
    (folder / "vidserve.json").write_text("{not json")
    with pytest.raises(ConfigError, match="vidserve.json is unreadable"):
        LTXImageToVideoEngine(folder)


@pytest.mark.parametrize("size", [(3840, 1080), (1080, 3840), (4000, 400), (64, 64)])
def test_extreme_aspect_ratios_stay_inside_each_side_of_the_table(
    size: tuple[int, int],
) -> None:
    limits = ModelLimits(16, 4, max_width=512, max_height=256, max_frames=125)
    width, height = limits.size(*size, max_area=832 * 480)
    assert 16 <= width <= 512 and 16 <= height <= 256
    assert width % 16 == 0 and height % 16 == 0
    assert width * height <= min(832 * 480, max(size[0] * size[1], 256))
