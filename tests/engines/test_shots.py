"""Image-to-video storyboards: each shot's length and its own move, cuts back to the photo,
an end image closing the last shot; and how shots pick their moves."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from motion_scenes import (
    Frame,
    global_motion,
    psnr,
    raw_frames,
    render,
    request,
    texture,
)

from vidserve.engines.base import CameraMotion, Shot, VideoRequest
from vidserve.engines.motion import MotionEngine
from vidserve.engines.motion.camera import CameraRender
from vidserve.engines.motion.fit import CoverFit
from vidserve.engines.motion.moves import DEFAULT_MOVES, choose_moves
from vidserve.media.video import probe

from fakes import FakeContext


def storyboard(*shots: tuple[str, float], **fields: object) -> VideoRequest:
    total = sum(duration for _, duration in shots)
    base = request(texture(400, 300, seed=9), fps=8, duration=total, **fields)
    return replace(base, shots=tuple(Shot(p, d) for p, d in shots))


def spans(req: VideoRequest) -> list[tuple[int, int]]:
    ends = np.cumsum(req.shot_frames())
    return [(int(end - n), int(end)) for n, end in zip(req.shot_frames(), ends, strict=True)]


def shot_motion(frames: list[Frame], start: int, end: int) -> tuple[float, float, float]:
    """How the picture moved over a shot, ``(dx, dy, log_scale)``: the sum of the steps
    between its frames (optical flow tracks small steps far better than one big one)."""
    steps = [global_motion(a, b) for a, b in pairwise(frames[start:end])]
    return (
        sum(m.dx for m in steps),
        sum(m.dy for m in steps),
        sum(m.log_scale for m in steps),
    )


def test_each_shot_is_its_own_move_for_exactly_its_frames(tmp_path: Path) -> None:
    req = storyboard(("push in on the cat", 1.0), ("pan left over the room", 2.0),
                     ("the camera rises", 1.5))  # fmt: skip
    assert req.shot_frames() == [8, 16, 12]
    frames = raw_frames(req, tmp_path)
    assert len(frames) == 36
    moves = [CameraMotion(zoom=-5), CameraMotion(tilt=-5), CameraMotion(vertical=5)]
    for (start, end), move in zip(spans(req), moves, strict=True):
        # Every shot starts again from the photo: it is that move alone, frame for frame.
        alone = CameraRender(req.start_image, move, 320, 180, end - start)  # type: ignore[arg-type]
        for index in range(start, end):
            assert np.array_equal(frames[index], alone.frame(index - start))


def test_a_viewer_sees_each_shots_move(tmp_path: Path) -> None:
    req = storyboard(("push in", 1.5), ("pan left", 1.5), ("pull back slowly", 1.5))
    frames, ctx = render(req, tmp_path)
    push, pan, pull = (shot_motion(frames, start, end) for start, end in spans(req))
    assert push[2] == pytest.approx(np.log(1.25), abs=0.03) and abs(push[0]) < 2
    # The camera turns left: the picture right (past the outpainted band a little
    # magnification joins in).
    assert pan[0] > 10 and abs(pan[2]) < 0.08
    assert pull[2] == pytest.approx(-np.log(1.125), abs=0.03) and abs(pull[0]) < 2
    # Cuts: each shot opens on the photo itself, whatever the last one ended on.
    photo = CoverFit.create(400, 300, 320, 180).image(req.start_image)  # type: ignore[arg-type]
    for first in (0, 12, 24):
        assert psnr(frames[first], photo) > 30
        assert psnr(frames[first + 11], photo) < psnr(frames[first], photo) - 5
    shot_logs = [line for line in ctx.logs if "shot " in line]
    assert shot_logs == [
        "motion: shot 1/3, frames 0-11 (12): zoom=-5 (from the prompt: 'push in')",
        "motion: shot 2/3, frames 12-23 (12): tilt=-5 (from the prompt: 'pan left')",
        "motion: shot 3/3, frames 24-35 (12): zoom=2.5 (from the prompt: 'pull back')",
    ]


def test_shots_without_a_move_get_differing_moves(tmp_path: Path) -> None:
    req = storyboard(("a cat on a sofa", 1.0), ("the cat yawns", 1.0), ("the cat sleeps", 1.0),
                     ("the cat wakes", 1.0))  # fmt: skip
    frames = raw_frames(req, tmp_path)
    measured = [np.array(shot_motion(frames, start, end)) for start, end in spans(req)]
    # Scaled so a 5 % zoom counts like 16 px of travel: visibly different moves are far apart.
    scaled = [m * (1.0, 1.0, 320.0) for m in measured]
    for a, b in pairwise(scaled):
        assert np.linalg.norm(a - b) > 15
    assert measured[0][2] > 0.1  # the first is the engine's usual push-in
    assert abs(measured[1][0]) > 15  # then a sideways move


def test_a_shot_without_a_move_takes_the_requested_camera(tmp_path: Path) -> None:
    req = storyboard(("zoom in", 1.0), ("a quiet street", 1.0), camera=CameraMotion(roll=10))
    _, ctx = render(req, tmp_path)
    assert "shot 2/2, frames 8-15 (8): roll=10 (requested)" in "\n".join(ctx.logs)


def test_an_end_image_closes_the_last_shot(tmp_path: Path) -> None:
    end = texture(320, 180, seed=12)
    req = storyboard(("push in", 1.0), ("pan right", 1.0), end_image=end)
    frames, ctx = render(req, tmp_path)
    assert psnr(frames[-1], end) > 33
    assert psnr(frames[8], end) < 20  # the last shot opens on the photo...
    assert "morph from the photo into the end image" in ctx.logs[1]  # ...and morphs
    assert "tilt=5" in ctx.logs[1] and "not made" in ctx.logs[1]


def test_a_storyboard_run_streams_exactly_its_frames(tmp_path: Path) -> None:
    req = replace(storyboard(("push in", 0.5), ("pan left", 0.75)), fps=12)  # 6 + 9 frames
    ctx = FakeContext(tmp_path)
    result = MotionEngine().generate(req, ctx)
    assert probe(result.path).num_frames == result.num_frames == 15
    assert ctx.fractions == pytest.approx([(i + 1) / 15 for i in range(15)])
    assert "a storyboard of 2 shots" in ctx.logs[-2]


# -- choosing moves --------------------------------------------------------------------


def test_defaults_never_repeat_the_move_before() -> None:
    moves = choose_moves(["", "", "", "truck right", "", "", "", ""], None)
    motions = [m.motion for m in moves]
    assert motions[0] == DEFAULT_MOVES[0]
    assert motions[3] == CameraMotion(horizontal=5)
    assert all(a != b for a, b in zip(motions, motions[1:], strict=False))
    assert [m.default for m in moves] == [True, True, True, False, True, True, True, True]


def test_a_named_move_wins_over_the_requested_one() -> None:
    requested = CameraMotion(zoom=4)
    moves = choose_moves(["tilt up to the sky", "a field"], requested)
    assert moves[0].motion == CameraMotion(pan=5)
    assert moves[1].motion == requested and not moves[1].default
