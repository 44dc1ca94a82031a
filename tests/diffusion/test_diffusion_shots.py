"""How a storyboard becomes generations (no torch): each shot's frames in the model's valid
counts, in proportion to its duration, adding up (less the frames each later shot starts
from) to what one generation of the whole duration would have."""

from __future__ import annotations

import pytest
from diffusion_fixtures import video_request

from vidserve.engines.base import Shot
from vidserve.engines.diffusers.common import frame_count
from vidserve.engines.diffusers.shots import shot_frames, video_frames
from vidserve.errors import EngineError


def storyboard(*durations: float) -> tuple[Shot, ...]:
    return tuple(Shot(f"shot {i}", d) for i, d in enumerate(durations))


def test_a_plain_request_is_one_generation_of_the_usual_count() -> None:
    assert shot_frames(video_request(duration=5), 16, 4) == (81,)
    assert shot_frames(video_request(duration=10), 16, 4, max_frames=100) == (97,)


@pytest.mark.parametrize(
    ("durations", "fps", "multiple", "frames"),
    [
        ((2.5, 2.5), 16, 4, (41, 41)),  # Wan: 5 s at 16 fps is 20 steps of 4 frames
        ((2, 3), 16, 4, (33, 49)),
        ((1, 1, 3), 24, 8, (25, 25, 73)),  # LTX-Video: 8k+1
        ((3, 3, 4), 2, 4, (9, 5, 9)),  # the tests' 2 fps: few steps, each shot gets one
        ((4.5, 0.5), 2, 4, (5, 5)),  # a short shot still gets a step
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


def test_max_frames_caps_each_shot_not_the_whole() -> None:
    request = video_request(duration=12, shots=storyboard(6, 6))
    assert shot_frames(request, 8, 8, max_frames=49) == (49, 49)
    assert video_frames((49, 49)) == 97  # longer than one generation of the model may be


def test_a_storyboard_with_more_shots_than_steps_is_refused_by_name() -> None:
    request = video_request(duration=5, shots=storyboard(1, 1, 1, 1, 1))
    with pytest.raises(EngineError, match="a storyboard of 5 shots in 5 s needs at least 21"):
        shot_frames(request, 2, 4)
