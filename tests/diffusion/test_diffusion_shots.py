"""How a request becomes generations (no torch): each shot's frames in the model's valid
counts, in proportion to its duration, adding up (less the frames each later shot starts
from) to what one generation of the whole duration would have; a shot longer than the model
renders at once becomes consecutive generations, or a lower fps, never a shorter video."""

from __future__ import annotations

import pytest
from diffusion_fixtures import video_request

from vidserve.engines.base import Shot
from vidserve.engines.diffusers.common import frame_count
from vidserve.engines.diffusers.shots import (
    Generation,
    fit_duration,
    shot_frames,
    split_shot,
    video_frames,
)
from vidserve.errors import EngineError


def storyboard(*durations: float) -> tuple[Shot, ...]:
    return tuple(Shot(f"shot {i}", d) for i, d in enumerate(durations))


def test_a_plain_request_is_one_generation_of_the_usual_count() -> None:
    assert shot_frames(video_request(duration=5), 16, 4) == (81,)
    timing = fit_duration(video_request(duration=5), 16, 4, 81, chain=True, label="Wan")
    assert timing.generations == (Generation(0, 81),) and timing.note is None


@pytest.mark.parametrize(
    ("durations", "fps", "multiple", "frames"),
    [
        ((2.5, 2.5), 16, 4, (41, 41)),  # Wan: 5 s at 16 fps is 20 steps of 4 frames
        ((2, 3), 16, 4, (33, 49)),
        ((1, 1, 3), 24, 8, (25, 25, 73)),  # LTX-Video: 8k+1
        ((3, 3, 4), 2, 4, (9, 5, 9)),  # the tests' 2 fps: few steps, each shot gets one
        ((4.5, 0.5), 2, 4, (9, 5)),  # a short shot still gets a step
    ],
)
def test_storyboard_shots_split_the_whole_durations_steps_in_proportion(
    durations: tuple[float, ...], fps: int, multiple: int, frames: tuple[int, ...]
) -> None:
    request = video_request(duration=sum(durations), shots=storyboard(*durations))
    got = shot_frames(request, fps, multiple)
    assert got == frames
    assert all((n - 1) % multiple == 0 for n in got)
    # Each shot after the first drops the frame it starts from: one generation's count.
    assert video_frames(got) == frame_count(sum(durations), fps, multiple)


def test_a_shot_longer_than_the_model_renders_becomes_consecutive_generations() -> None:
    # CogVideoX 1.0 makes 49 frames at once (8k+1); 12 s at 8 fps is 97.
    request = video_request(duration=12)
    timing = fit_duration(request, 8, 8, 49, chain=True, label="CogVideoX 1.0 I2V")
    assert [g.frames for g in timing.generations] == [49, 49]
    assert timing.num_frames == 97 == frame_count(12, 8, 8)  # the whole duration
    assert timing.fps == 8
    assert "renders at most 49 frames at once: rendered as 2 generations" in str(timing.note)


def test_a_storyboards_long_shot_splits_and_its_short_one_does_not() -> None:
    request = video_request(duration=12, shots=storyboard(10, 2))
    timing = fit_duration(request, 8, 8, 49, chain=True, label="CogVideoX")
    assert [(g.shot, g.frames, g.part, g.parts) for g in timing.generations] == [
        (0, 41, 0, 2), (0, 41, 1, 2), (1, 17, 0, 1),
    ]  # fmt: skip
    assert timing.num_frames == frame_count(12, 8, 8)


@pytest.mark.parametrize(("frames", "cap"), [(97, 49), (161, 49), (81, 9), (41, 25), (13, 5)])
def test_split_shot_keeps_every_frame_in_even_parts_within_the_cap(frames: int, cap: int) -> None:
    parts = split_shot(0, frames, 4, cap)
    assert all(p.frames <= cap and (p.frames - 1) % 4 == 0 for p in parts)
    assert video_frames(tuple(p.frames for p in parts)) == frames
    assert max(p.frames for p in parts) - min(p.frames for p in parts) <= 4


def test_a_folder_that_cannot_continue_renders_at_a_lower_fps_lasting_as_long() -> None:
    request = video_request(duration=10)
    timing = fit_duration(request, 8, 8, 49, chain=False, label="CogVideoX 1.0 T2V")
    assert timing.fps == 4 and timing.num_frames == 41  # 10.25 s, not 6
    assert timing.num_frames / timing.fps >= 10
    assert "rendered at 4 fps instead of 8" in str(timing.note)


def test_what_fits_neither_way_is_refused_by_name() -> None:
    with pytest.raises(EngineError, match="renders at most 5 frames at once and cannot") as e:
        fit_duration(video_request(duration=10), 8, 4, 5, chain=False, label="Tiny")
    assert e.value.error_type == "unsupported_input"


def test_a_storyboard_with_more_shots_than_steps_is_refused_by_name() -> None:
    request = video_request(duration=5, shots=storyboard(1, 1, 1, 1, 1))
    with pytest.raises(EngineError, match="a storyboard of 5 shots in 5 s needs at least 21"):
        shot_frames(request, 2, 4)
