"""Text-to-video, reference-to-video and storyboards on tiny random-weight folders, in this
process: the MP4 has the planned size and exactly the frames of all shots, each shot after
the first starts from the previous shot's last frame where the folder takes an image (and
afresh, said in the log, where it cannot), and progress and cancel span the shots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diffusion_fixtures import FAST, RecordingContext, image, video_request

from vidserve.engines.base import Kind, Shot, VideoRequest
from vidserve.engines.diffusers import runtime
from vidserve.engines.diffusers.cogvideox import CogVideoXImageToVideoEngine
from vidserve.engines.diffusers.ltx import LTXImageToVideoEngine
from vidserve.engines.diffusers.wan import WanImageToVideoEngine
from vidserve.errors import CancelledError
from vidserve.media.video import probe

ENGINES: dict[str, Any] = {
    "wan": WanImageToVideoEngine,
    "wan-5b": WanImageToVideoEngine,
    "vace": WanImageToVideoEngine,
    "ltx": LTXImageToVideoEngine,
    "cogvideox": CogVideoXImageToVideoEngine,
}


def engine(tiny_text: dict[str, Path], name: str, **options: Any) -> Any:
    return ENGINES[name](tiny_text[name], **{**FAST, **options})


def text_request(**fields: Any) -> VideoRequest:
    return video_request(**{"kind": Kind.TEXT_TO_VIDEO, "start_image": None, **fields})


def two_shots(**fields: Any) -> VideoRequest:
    shots = (Shot("a cat walks on the road", 2.0), Shot("a dog runs in the snow", 2.0))
    return text_request(shots=shots, duration=4.0, **fields)


class Spy:
    """Records what each generation was given and what it returned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[Any, dict[str, Any], Any]] = []
        real = runtime.run_pipeline

        def run(pipe: Any, reporter: Any, **kwargs: Any) -> Any:
            video = real(pipe, reporter, **kwargs)
            self.calls.append((pipe, kwargs, video))
            return video

        monkeypatch.setattr(runtime, "run_pipeline", run)


@pytest.mark.parametrize(
    ("name", "frames", "fps"),
    [
        ("wan", 13, 2),
        ("wan-5b", 13, 2),
        ("vace", 13, 2),
        ("ltx", 13, 2),
        # The tiny CogVideoX 1.0 makes 9 frames (8k+1) at once and a text model cannot
        # continue from a frame: 5 s at 1 fps rather than a shorter video.
        ("cogvideox", 9, 1),
    ],
)
def test_text_to_video_renders_the_requested_size_and_frames(
    tiny_text: dict[str, Path], name: str, frames: int, fps: int, tmp_path: Path
) -> None:
    ctx = RecordingContext(tmp_path)
    rendered = engine(tiny_text, name).generate(text_request(), ctx)
    # Under FAST: 16:9 within 2048 px is 64x32, and 5 s at 2 fps 13 frames (4k+1: the
    # fewest that last 5 s).
    info = probe(rendered.path)
    assert (info.width, info.height, info.num_frames, info.fps) == (64, 32, frames, fps)
    assert (rendered.width, rendered.height, rendered.num_frames) == (64, 32, frames)
    assert info.num_frames / info.fps >= 5.0
    assert any("from text" in line for line in ctx.logs), ctx.logs
    assert ctx.progress_reports[-1] == 1.0


def test_a_vace_reference_request_renders_with_the_references(
    tiny_text: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    references = (image(120, 160, seed=1), image(300, 100, seed=2))
    request = text_request(kind=Kind.REFERENCE_TO_VIDEO, reference_images=references)
    ctx = RecordingContext(tmp_path)
    rendered = engine(tiny_text, "vace").generate(request, ctx)
    assert probe(rendered.path).num_frames == 13
    ((_, kwargs, _),) = spy.calls
    assert [r.size for r in kwargs["reference_images"]] == [(120, 160), (300, 100)]
    assert "video" not in kwargs  # no frame to keep: nothing to mask
    assert any("from 2 reference images" in line for line in ctx.logs)


def test_vace_keeps_a_start_and_an_end_frame_as_a_masked_control_video(
    tiny_text: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    request = video_request(end_image=image(seed=3))
    rendered = engine(tiny_text, "vace").generate(request, RecordingContext(tmp_path))
    assert probe(rendered.path).num_frames == 13
    ((_, kwargs, _),) = spy.calls
    masks = [np.asarray(m).max() for m in kwargs["mask"]]
    assert masks == [0] + [255] * 11 + [0]  # black keeps the first and last frames
    assert len(kwargs["video"]) == 13 and kwargs["video"][0].size == (64, 32)


@pytest.mark.parametrize(
    ("name", "options", "frames"),
    [
        ("wan", {}, 5),
        ("wan-5b", {}, 5),
        ("vace", {}, 5),
        ("ltx", {}, 5),
        # CogVideoX 1.0 renders 8k+1 frames: at 2 fps 4 s is one step, too few for 2 shots.
        ("cogvideox", {"fps": 4}, 9),
    ],
)
def test_a_storyboard_of_two_shots_renders_both_in_one_video(
    tiny_text: dict[str, Path],
    name: str,
    options: dict[str, Any],
    frames: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = Spy(monkeypatch)
    ctx = RecordingContext(tmp_path)
    rendered = engine(tiny_text, name, **options).generate(two_shots(), ctx)
    # Each shot is one generation of the model's steps; the second drops the frame it
    # starts from, so the video has the frames one generation of 4 s would have.
    assert [call[1]["num_frames"] for call in spy.calls] == [frames, frames]
    assert [call[1]["prompt"] for call in spy.calls] == [
        "a cat walks on the road",
        "a dog runs in the snow",
    ]
    info = probe(rendered.path)
    total = 2 * frames - 1
    assert (info.width, info.height, info.num_frames, rendered.num_frames) == (64, 32, total, total)
    assert any(f"storyboard of 2 shots ({frames}+{frames} frames)" in line for line in ctx.logs)
    progress = ctx.progress_reports
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_each_shot_after_the_first_starts_from_the_last_frame_of_the_one_before(
    tiny_text: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wan 2.2 TI2V-5B from its text-to-video folder: shot 1 from text (WanPipeline),
    # shot 2 from shot 1's last frame (WanImageToVideoPipeline over the same models).
    spy = Spy(monkeypatch)
    made = engine(tiny_text, "wan-5b")
    made.generate(two_shots(), RecordingContext(tmp_path))
    (first_pipe, first, first_video), (second_pipe, second, _) = spy.calls
    assert "image" not in first
    assert type(first_pipe).__name__ == "WanPipeline"
    assert type(second_pipe).__name__ == "WanImageToVideoPipeline"
    assert second_pipe.transformer is first_pipe.transformer  # the same models, not a copy
    last = (first_video[-1] * 255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    assert (np.asarray(second["image"]) == last).all()
    assert first["generator"].initial_seed() + 1 == second["generator"].initial_seed()


@pytest.mark.parametrize(("name", "options"), [("wan", {}), ("cogvideox", {"fps": 4})])
def test_a_text_only_folder_starts_each_shot_afresh_and_says_so(
    tiny_text: dict[str, Path],
    name: str,
    options: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = Spy(monkeypatch)
    ctx = RecordingContext(tmp_path)
    engine(tiny_text, name, **options).generate(two_shots(), ctx)
    assert len(spy.calls) == 2
    assert all("image" not in kwargs for _, kwargs, _ in spy.calls)
    assert any("each starting fresh" in line for line in ctx.logs), ctx.logs


def test_an_image_to_video_storyboard_ends_on_the_end_frame(
    tiny: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    shots = (Shot("a cat walks", 2.0), Shot("a cat sits", 3.0))
    request = video_request(shots=shots, end_image=image(seed=3))
    made = LTXImageToVideoEngine(tiny["ltx"], **FAST)
    rendered = made.generate(request, RecordingContext(tmp_path))
    assert probe(rendered.path).num_frames == 13  # 5 + 9, less the frame shot 2 starts from
    first, second = (kwargs["conditions"] for _, kwargs, _ in spy.calls)
    assert [c.frame_index for c in first] == [0]  # from the start image
    assert [c.frame_index for c in second] == [0, 8]  # from shot 1's end, to the end image


def test_a_cancel_in_the_second_shot_names_it_and_leaves_no_file(
    tiny_text: dict[str, Path], tmp_path: Path
) -> None:
    ctx = RecordingContext(tmp_path, cancel_at=4)  # 3 steps a shot: the first of shot 2
    with pytest.raises(CancelledError, match="after denoising step 1 of shot 2/2"):
        engine(tiny_text, "ltx", steps=3).generate(two_shots(), ctx)
    assert ctx.progress_reports == pytest.approx([0.15, 0.3, 0.45, 0.6])
    assert not (tmp_path / "output.mp4").exists()
