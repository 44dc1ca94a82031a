"""The diffusion engines in this process, on tiny random-weight folders: what a request
becomes for each model, cancel through the pipeline's interrupt, seeds, end frames per Wan
model, the speed settings, and loading with the network unreachable."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from diffusion_fixtures import FAMILIES, FAST, RecordingContext, image, make_tiny, video_request

from vidserve.engines.base import Engine
from vidserve.engines.diffusers.cogvideox import CogVideoXImageToVideoEngine
from vidserve.engines.diffusers.ltx import LTXImageToVideoEngine
from vidserve.engines.diffusers.wan import WanImageToVideoEngine
from vidserve.errors import CancelledError, ConfigError, EngineError
from vidserve.media.video import probe, read_frames

ENGINES: dict[str, Any] = {
    "wan": WanImageToVideoEngine,
    "ltx": LTXImageToVideoEngine,
    "cogvideox": CogVideoXImageToVideoEngine,
}


def engine(tiny: dict[str, Path], family: str, **options: Any) -> Any:
    made = ENGINES[family](tiny[family], **{**FAST, **options})
    made.load()
    return made


@pytest.mark.parametrize(
    ("family", "cfg", "scale"),
    [("wan", 0.0, 1.0), ("wan", 0.5, 5.0), ("wan", 1.0, 9.0), ("ltx", 0.5, 3.0),
     ("ltx", 0.0, 1.0), ("cogvideox", 0.5, 6.0), ("cogvideox", 1.0, 11.0)],
)  # fmt: skip
def test_kling_cfg_scale_maps_to_each_models_guidance_with_0_5_on_its_default(
    tiny: dict[str, Path], family: str, cfg: float, scale: float
) -> None:
    plan = ENGINES[family](tiny[family]).plan(video_request(guidance=cfg))
    assert plan.guidance_scale == scale


def test_guidance_range_is_configurable(tiny: dict[str, Path]) -> None:
    made = WanImageToVideoEngine(tiny["wan"], guidance_min=2, guidance_max=4)
    assert made.plan(video_request(guidance=0.25)).guidance_scale == 2.5


def production_copy(folder: Path, into: Path, rope: int | None = None) -> Path:
    """The tiny folder as a real one: without make-tiny's ``vidserve.json`` (linked, not
    copied), and with a real Wan's rotary table when ``rope`` is given."""
    into.mkdir()
    for child in folder.iterdir():
        if child.name not in ("vidserve.json", "transformer"):
            (into / child.name).symlink_to(child)
    (into / "transformer").mkdir()
    for part in (folder / "transformer").iterdir():
        (into / "transformer" / part.name).symlink_to(part)
    if rope is not None:
        config = json.loads((folder / "transformer" / "config.json").read_text())
        (into / "transformer" / "config.json").unlink()
        config["rope_max_seq_len"] = rope
        (into / "transformer" / "config.json").write_text(json.dumps(config))
    return into


def test_production_defaults_follow_the_models_recommendations(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    # Without the tiny folder's defaults: Wan at 16 fps (5 s = 81 frames), LTX at 24 fps in
    # 8k+1 frames for its real VAE (the tiny one compresses time 4x), 50 / 40 steps.
    real_wan = production_copy(tiny["wan"], tmp_path / "wan", rope=1024)
    wan = WanImageToVideoEngine(real_wan).plan(video_request())
    assert (wan.fps, wan.num_frames, wan.steps) == (16, 81, 50)
    assert (wan.width, wan.height) == (832, 480)  # a 480p model renders 16:9 as 832x480
    ltx = LTXImageToVideoEngine(production_copy(tiny["ltx"], tmp_path / "ltx"))
    plan = ltx.plan(video_request(duration=10.0))
    assert (plan.fps, plan.num_frames, plan.steps) == (24, 241, 40)
    assert (plan.width % 32, plan.height % 32) == (0, 0)


def test_a_tiny_folder_carries_smoke_defaults_that_options_override(
    tiny: dict[str, Path],
) -> None:
    plan = LTXImageToVideoEngine(tiny["ltx"]).plan(video_request())
    assert (plan.fps, plan.steps, plan.width * plan.height <= 128 * 128) == (4, 2, True)
    plan = LTXImageToVideoEngine(tiny["ltx"], fps=8, steps=3).plan(video_request())
    assert (plan.fps, plan.steps) == (8, 3)


@pytest.mark.parametrize("family", FAMILIES)
def test_cancel_stops_a_running_denoise_at_the_next_step_without_decoding(
    tiny: dict[str, Path], family: str, tmp_path: Path
) -> None:
    made = engine(tiny, family, steps=200)
    ctx = RecordingContext(tmp_path, cancel_at=3)
    started = time.perf_counter()
    with pytest.raises(CancelledError, match="after denoising step 3"):
        made.generate(video_request(), ctx)
    assert time.perf_counter() - started < 10  # 200 steps would take far longer
    assert len(ctx.progress_reports) == 3  # one report per step; none after the cancel
    assert not (tmp_path / "output.mp4").exists()
    assert made.pipeline._interrupt  # the pipeline's own stop flag was raised


@pytest.mark.parametrize("family", FAMILIES)
def test_progress_is_reported_every_step_and_ends_at_one(
    tiny: dict[str, Path], family: str, tmp_path: Path
) -> None:
    ctx = RecordingContext(tmp_path)
    made = engine(tiny, family, steps=3)
    # 4 s at 2 fps is one generation for each (CogVideoX 1.0's tiny table holds 9 frames).
    rendered = made.generate(video_request(duration=4.0), ctx)
    assert ctx.progress_reports[:3] == pytest.approx([0.3, 0.6, 0.9])
    assert ctx.progress_reports[-1] == 1.0
    info = probe(rendered.path)
    assert (info.width, info.height, info.num_frames) == (
        rendered.width,
        rendered.height,
        rendered.num_frames,
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_the_seed_makes_the_video_reproducible(
    tiny: dict[str, Path], family: str, tmp_path: Path
) -> None:
    made = engine(tiny, family)
    videos = []
    for i, seed in enumerate((5, 5, 6)):
        ctx = RecordingContext(tmp_path / str(i))
        ctx.workdir.mkdir()
        videos.append(read_frames(made.generate(video_request(seed=seed), ctx).path))
    assert all((a == b).all() for a, b in zip(videos[0], videos[1], strict=True))
    assert any((a != b).any() for a, b in zip(videos[0], videos[2], strict=True))


@pytest.mark.parametrize(
    ("variant", "with_end", "error"),
    [
        ("2.1-i2v", True, "Wan 2.1 I2V, which cannot use an end frame"),
        ("2.2-ti2v-5b", True, "Wan 2.2 TI2V-5B, which cannot use an end frame"),
        ("2.1-flf2v", False, "Wan 2.1 FLF2V, which needs an end frame"),
    ],
)
def test_wan_models_refuse_end_frames_they_would_ignore_or_need(
    variant: str, with_end: bool, error: str, tmp_path: Path
) -> None:
    made = WanImageToVideoEngine(make_tiny(tmp_path / variant, "wan", variant), **FAST)
    request = video_request(end_image=image(seed=3) if with_end else None)
    with pytest.raises(EngineError, match=error) as caught:
        made.generate(request, RecordingContext(tmp_path))
    assert caught.value.error_type == "unsupported_input"
    assert made.pipeline is None  # refused before loading anything


@pytest.mark.parametrize(
    ("variant", "with_end", "size"),
    [("2.1-i2v", False, (64, 32)), ("2.1-flf2v", True, (64, 32)), ("2.2-ti2v-5b", False, (64, 32))],
)
def test_each_wan_model_renders_what_it_supports(
    variant: str, with_end: bool, size: tuple[int, int], tmp_path: Path
) -> None:
    made = WanImageToVideoEngine(make_tiny(tmp_path / variant, "wan", variant), **FAST)
    request = video_request(end_image=image(seed=3) if with_end else None)
    rendered = made.generate(request, RecordingContext(tmp_path))
    info = probe(rendered.path)
    assert ((info.width, info.height), info.num_frames) == (size, 13)  # 5 s at 2 fps


def test_cogvideox_1_5_renders_any_size_in_16k_plus_1_frames(tmp_path: Path) -> None:
    made = CogVideoXImageToVideoEngine(make_tiny(tmp_path / "cog", "cogvideox", "1.5"), **FAST)
    rendered = made.generate(video_request(width=720, height=1280), RecordingContext(tmp_path))
    info = probe(rendered.path)
    assert (info.width, info.height, info.num_frames) == (32, 64, 17)


@pytest.mark.parametrize("cache", ["first_block", "taylorseer", "pab"])
@pytest.mark.parametrize("family", FAMILIES)
def test_step_caches_apply_to_every_family(
    tiny: dict[str, Path], family: str, cache: str, tmp_path: Path
) -> None:
    made = engine(tiny, family, cache=cache, steps=4, attention_backend="native")
    assert made.pipeline.transformer.is_cache_enabled
    rendered = made.generate(video_request(), RecordingContext(tmp_path))
    assert probe(rendered.path).num_frames == rendered.num_frames


def test_loading_and_rendering_never_touch_the_network(
    tiny: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for family in FAMILIES:
        made: Engine = engine(tiny, family)
        (tmp_path / family).mkdir()
        made.generate(video_request(), RecordingContext(tmp_path / family))
    assert attempts == []


def test_a_folder_that_passes_the_check_but_cannot_load_names_the_path(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for child in tiny["ltx"].iterdir():
        target = broken / child.name
        if child.is_dir():
            target.mkdir()
            for part in child.iterdir():
                (target / part.name).write_bytes(part.read_bytes())
        else:
            target.write_bytes(child.read_bytes())
    (broken / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"not safetensors")
    made = LTXImageToVideoEngine(broken, **FAST)
    with pytest.raises(ConfigError, match=f"weights folder {broken} could not be loaded"):
        made.load()
