"""Every camera control, measured by optical flow: direction, magnitude, perspective, cover.

Each case renders 10 frames of a 320x180 texture and fits a homography to the dense flow
between the two middle frames (4 -> 5). Smoothstep easing moves the camera
``s(5/9) - s(4/9) = 0.166`` of its way in that step, so each axis's documented range gives
the expected figure: horizontal/vertical 10 move the picture a quarter frame; pan/tilt 10
turn the camera 12 degrees (focal length 1.1 x 320 px); roll 10 turns it 15 degrees; zoom
-10 ends at 1.5x.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from motion_scenes import GlobalMotion, global_motion, raw_frames, request, texture

from vidserve.endpoints.camera import PRESETS
from vidserve.engines.base import CameraMotion
from vidserve.engines.motion.camera import CameraRender

STEP = (3 * (5 / 9) ** 2 - 2 * (5 / 9) ** 3) - (3 * (4 / 9) ** 2 - 2 * (4 / 9) ** 3)
FOCAL = 1.1 * 320


def middle_step(tmp_path: Path, camera: CameraMotion | None, prompt: str = "") -> GlobalMotion:
    image = texture(320, 180, seed=11)
    frames = raw_frames(request(image, camera=camera, prompt=prompt, duration=10 / 24), tmp_path)
    return global_motion(frames[4], frames[5])


#: axis -> (the measure it drives, its expected value at +10 in the middle step).
#: Camera right/up moves the picture left/down; a camera turned up (pan +) or right (tilt +)
#: likewise; a clockwise roll turns the picture counter-clockwise; zoom -10 narrows the view.
EXPECTED: dict[str, tuple[str, float]] = {
    "horizontal": ("dx", -0.25 * 320 * STEP),
    "vertical": ("dy", 0.25 * 180 * STEP),
    "pan": ("dy", FOCAL * math.radians(12) * STEP),
    "tilt": ("dx", -FOCAL * math.radians(12) * STEP),
    "roll": ("angle", -math.radians(15) * STEP),
    "zoom": ("log_scale", -math.log(1.5) * STEP),
}
#: What a move along one axis must leave (nearly) alone.
QUIET = {"dx": 0.3, "dy": 0.3, "angle": 0.002, "log_scale": 0.002}


@pytest.mark.parametrize("axis", list(EXPECTED))
@pytest.mark.parametrize("value", [10.0, 5.0, -10.0, -5.0])
def test_each_axis_moves_the_way_and_as_far_as_asked(
    tmp_path: Path, axis: str, value: float
) -> None:
    measured = middle_step(tmp_path, CameraMotion(**{axis: value}))
    name, at_ten = EXPECTED[axis]
    expected = at_ten * value / 10
    if axis == "zoom":  # geometric: ln(1 + 0.05 |zoom|), narrowing (-) grows the picture
        expected = -math.copysign(math.log(1 + 0.05 * abs(value)), value) * STEP
    assert getattr(measured, name) == pytest.approx(expected, rel=0.04)
    for other, limit in QUIET.items():
        if other != name:
            assert abs(getattr(measured, other)) < limit, (other, measured)


@pytest.mark.parametrize(
    ("axis", "keystone"), [("tilt", "keystone_x"), ("pan", "keystone_y")], ids=["tilt", "pan"]
)
def test_turns_are_perspective_not_slides(tmp_path: Path, axis: str, keystone: str) -> None:
    turned = [middle_step(tmp_path, CameraMotion(**{axis: v})) for v in (10.0, -10.0)]
    slid = middle_step(tmp_path, CameraMotion(horizontal=10.0 if axis == "tilt" else 0.0,
                                              vertical=10.0 if axis == "pan" else 0.0))  # fmt: skip
    # A turn of about 2 degrees between frames tilts the picture's plane: the fitted
    # homography's perspective term is about tan(2 deg) ~ 0.035 of the focal length; a
    # slide has none. The sign follows the direction of the turn.
    strengths = [getattr(m, keystone) for m in turned]
    assert all(abs(s) > 0.01 for s in strengths)
    assert strengths[0] * strengths[1] < 0
    assert abs(getattr(slid, keystone)) < 0.003


@pytest.mark.parametrize(
    ("preset", "signs"),
    [
        ("down_back", {"dy": -1, "log_scale": -1}),  # descends (picture rises), pulls back
        ("forward_up", {"dy": 1, "log_scale": 1}),
        ("right_turn_forward", {"dx": -1, "log_scale": 1}),
        ("left_turn_forward", {"dx": 1, "log_scale": 1}),
    ],
)
def test_presets_combine_their_moves(tmp_path: Path, preset: str, signs: dict[str, int]) -> None:
    measured = middle_step(tmp_path, PRESETS[preset])
    for name, sign in signs.items():
        value = getattr(measured, name)
        assert value * sign > (0.02 if name == "log_scale" else 2.0), (name, measured)


@pytest.mark.parametrize(
    ("prompt", "name", "sign"),
    [
        ("The camera pushes in towards the tree", "log_scale", 1),
        ("slow zoom out over the valley", "log_scale", -1),
        ("pan left across the skyline", "dx", 1),
        ("Tilt up to reveal the sky", "dy", 1),
        ("the camera trucks right", "dx", -1),
        ("roll clockwise", "angle", -1),
        ("a quiet lake at dawn", "log_scale", 1),  # no phrase: the gentle default push-in
    ],
)
def test_prompt_phrases_pick_the_move(tmp_path: Path, prompt: str, name: str, sign: int) -> None:
    measured = middle_step(tmp_path, None, prompt)
    assert getattr(measured, name) * sign > (0.005 if name in ("log_scale", "angle") else 1.0)


def test_speed_words_scale_the_move(tmp_path: Path) -> None:
    plain, slow, fast = (
        middle_step(tmp_path, None, f"{speed} pan right").dx for speed in ("", "slowly", "quickly")
    )
    assert slow / plain == pytest.approx(0.5, rel=0.08)
    assert fast / plain == pytest.approx(2.0, rel=0.08)


def test_static_camera_keeps_every_frame(tmp_path: Path) -> None:
    image = texture(320, 180)
    frames = raw_frames(request(image, prompt="static camera, leaves rustle"), tmp_path)
    assert all(np.array_equal(frame, image) for frame in frames)


def test_turns_are_eased_and_judder_free(tmp_path: Path) -> None:
    frames = raw_frames(
        request(texture(320, 180, seed=4), camera=CameraMotion(tilt=10), duration=12 / 24),
        tmp_path,
    )
    steps = np.array([global_motion(a, b).dx for a, b in zip(frames, frames[1:], strict=False)])
    times = np.linspace(0, 1, 12)
    ease = 3 * times**2 - 2 * times**3
    expected = np.diff(ease) * steps.sum()
    assert np.all(steps < 0)
    # Every step within a tenth of a pixel (plus 3 %) of the eased profile: no judder.
    assert np.all(np.abs(steps - expected) < 0.1 + 0.03 * np.abs(expected))


TURNS = [
    CameraMotion(pan=10),
    CameraMotion(pan=-10),
    CameraMotion(tilt=10),
    CameraMotion(tilt=-10, zoom=-10),
    CameraMotion(tilt=10, zoom=10),
    CameraMotion(pan=10, roll=-10, horizontal=10),
    *PRESETS.values(),
]


@pytest.mark.parametrize("camera", TURNS, ids=str)
@pytest.mark.parametrize("size", [(320, 180), (180, 320), (240, 240)], ids=str)
def test_turned_views_stay_on_the_image(camera: CameraMotion, size: tuple[int, int]) -> None:
    width, height = size
    render = CameraRender(texture(400, 300), camera, width, height, 12)
    src_h, src_w = render._source.shape[:2]
    corners = np.array(
        [
            [-0.5, -0.5, 1],
            [width - 0.5, -0.5, 1],
            [-0.5, height - 0.5, 1],
            [width - 0.5, height - 0.5, 1],
        ]
    )
    needed = []
    for matrix in render.matrices:
        back = (np.linalg.inv(matrix) @ corners.T).T
        xy = back[:, :2] / back[:, 2:]
        assert np.all(xy >= -0.5 - 1e-6)
        assert np.all(xy[:, 0] <= src_w - 0.5 + 1e-6) and np.all(xy[:, 1] <= src_h - 0.5 + 1e-6)
        needed.append(
            min(xy.min() + 0.5, src_w - 0.5 - xy[:, 0].max(), src_h - 0.5 - xy[:, 1].max())
        )
    # Scaled to cover, and no more: some frame's corner touches the image's edge.
    assert min(needed) < 0.01
