"""Every camera control, measured by optical flow: direction, magnitude, perspective, cover.

Each case renders 10 frames of a 320x180 texture and fits a homography to the dense flow
between the two middle frames (4 -> 5). Smoothstep easing moves the camera
``s(5/9) - s(4/9) = 0.166`` of its way in that step, so each axis's documented range gives
the expected figure: horizontal/vertical 10 move the picture a quarter frame; pan/tilt 10
turn the camera 12 degrees (focal length 1.1 x 320 px); roll 10 turns it 15 degrees; zoom
-10 ends at 1.5x.

Every move starts on the photo itself, and a move that would show more than the outpainted
band past the photo's edge is magnified, frame by frame, just enough: the renderer reports
that magnification per frame, and the expected motion between two frames is the documented
move combined with it.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from motion_scenes import (
    GlobalMotion,
    decompose,
    global_motion,
    psnr,
    raw_frames,
    request,
    texture,
)

from vidserve.endpoints.camera import PRESETS
from vidserve.engines.base import CameraMotion
from vidserve.engines.motion.camera import MARGIN, CameraRender, pose_at, view_matrix
from vidserve.engines.motion.fit import smoothstep

STEP = (3 * (5 / 9) ** 2 - 2 * (5 / 9) ** 3) - (3 * (4 / 9) ** 2 - 2 * (4 / 9) ** 3)
FOCAL = 1.1 * 320


def middle_step(
    tmp_path: Path, camera: CameraMotion | None, prompt: str = "", margin: int = 16
) -> GlobalMotion:
    image = texture(320, 180, seed=11)
    frames = raw_frames(request(image, camera=camera, prompt=prompt, duration=10 / 24), tmp_path)
    return global_motion(frames[4], frames[5], margin=margin)


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


def expected_step(camera: CameraMotion, first: int = 4, frames: int = 10) -> GlobalMotion:
    """The documented move between frames ``first`` and ``first + 1`` of ``frames``, with
    the magnification the renderer reports for them (1 while the view stays in the band)."""
    render = CameraRender(texture(320, 180, seed=11), camera, 320, 180, frames)
    views = [
        view_matrix(pose_at(camera, smoothstep(i / (frames - 1)), 320, 180),
                    render.magnifications[i], 320, 180)
        for i in (first, first + 1)
    ]  # fmt: skip
    return decompose(views[1] @ np.linalg.inv(views[0]), 320, 180)


@pytest.mark.parametrize("axis", list(EXPECTED))
@pytest.mark.parametrize("value", [10.0, 5.0, -10.0, -5.0])
def test_each_axis_moves_the_way_and_as_far_as_asked(
    tmp_path: Path, axis: str, value: float
) -> None:
    camera = CameraMotion(**{axis: value})
    # Measured away from the edges, where the outpainted band's soft picture may show (the
    # flow finds little to track there).
    measured = middle_step(tmp_path, camera, margin=36)
    # A 12 degree turn across 16:9 with a growing magnification is where the flow fit is
    # least sure (it reads some of the keystone as roll and zoom); the exact check below
    # holds it to the expected motion instead.
    slack = 8.0 if axis == "tilt" and abs(value) == 10 else 1.0
    name, at_ten = EXPECTED[axis]
    documented = at_ten * value / 10
    if axis == "zoom":  # geometric: ln(1 + 0.05 |zoom|), narrowing (-) grows the picture
        documented = -math.copysign(math.log(1 + 0.05 * abs(value)), value) * STEP
    expected = expected_step(camera)
    if value in (5.0, -5.0) and axis not in ("pan", "tilt"):  # within the band: no zoom added
        assert getattr(expected, name) == pytest.approx(documented, rel=0.01)
    tolerance = 0.04 * min(slack, 1.5)
    assert getattr(measured, name) == pytest.approx(getattr(expected, name), rel=tolerance)
    for other, limit in QUIET.items():
        if other != name:
            # A growing magnification adds a zoom, and with a turn a little travel.
            off = abs(getattr(measured, other) - getattr(expected, other))
            assert off < 2 * limit * slack, (other, measured, expected)
            if getattr(expected, other) == 0.0:
                assert off < limit * slack
    # Exactly: frame 4 carried by the expected motion is frame 5 (away from the edges).
    assert step_error(camera) > 40


def step_error(camera: CameraMotion) -> float:
    """PSNR of frame 5 against frame 4 warped by the expected homography (centre only)."""
    render = CameraRender(texture(320, 180, seed=11), camera, 320, 180, 10)
    views = [
        view_matrix(pose_at(camera, smoothstep(i / 9), 320, 180), render.magnifications[i],
                    320, 180)
        for i in (4, 5)
    ]  # fmt: skip
    carried = cv2.warpPerspective(render.frame(4), views[1] @ np.linalg.inv(views[0]), (320, 180))
    centre = (slice(30, -30), slice(40, -40))
    return psnr(carried[centre], render.frame(5)[centre])


@pytest.mark.parametrize("axis", list(EXPECTED))
def test_small_moves_are_exactly_as_documented(tmp_path: Path, axis: str) -> None:
    # A move of 2 keeps the view within the outpainted band: no magnification at all.
    camera = CameraMotion(**{axis: 2.0})
    render = CameraRender(texture(320, 180, seed=11), camera, 320, 180, 10)
    assert render.magnifications == [1.0] * 10
    measured = middle_step(tmp_path, camera)
    name, at_ten = EXPECTED[axis]
    documented = at_ten * 0.2
    if axis == "zoom":
        documented = -math.log(1 + 0.05 * 2) * STEP
    assert getattr(measured, name) == pytest.approx(documented, rel=0.05)


@pytest.mark.parametrize("axis", ["horizontal", "vertical", "pan", "tilt", "roll"])
def test_large_moves_magnify_only_as_needed(axis: str) -> None:
    render = CameraRender(texture(320, 180), CameraMotion(**{axis: 10.0}), 320, 180, 24)
    grown = render.magnifications
    assert grown[0] == 1.0 and grown[1] == 1.0  # the photo itself, then no jump
    assert all(b >= a for a, b in zip(grown, grown[1:], strict=False))  # grows, never back
    # The view may reach MARGIN of the frame past the photo's edge, so a move needs less
    # than the magnification that hid every border (~1.5x for a quarter frame), if any.
    assert 1.05 < grown[-1] < 1.65
    assert MARGIN == 0.1


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
    moves = [expected_step(CameraMotion(tilt=t)).dx for t in (5.0, 2.5, 10.0)]
    assert slow / plain == pytest.approx(moves[1] / moves[0], rel=0.08)
    assert fast / plain == pytest.approx(moves[2] / moves[0], rel=0.08)
    # Magnified as needed, a faster pan still travels further.
    assert 0.4 < slow / plain < 0.6 and fast / plain > 1.5


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
    # The eased turn, with the magnification that grows in as the view nears the band's edge.
    expected = np.array([expected_step(CameraMotion(tilt=10), i, 12).dx for i in range(11)])
    assert np.all(steps < 0)
    # Every step within a tenth of a pixel (plus 3 %) of the expected profile: no judder.
    assert np.all(np.abs(steps - expected) < 0.1 + 0.03 * np.abs(expected))
    # Eased at both ends: the first and last steps are the smallest.
    assert abs(steps[0]) < 0.3 * abs(steps).max() and abs(steps[-1]) < 0.3 * abs(steps).max()


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
def test_turned_views_stay_near_the_image(camera: CameraMotion, size: tuple[int, int]) -> None:
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
    # A pull back may show what it widens; anything else at most MARGIN of the frame (and
    # the magnification ramp's overshoot, 2 %) past the photo's edge.
    widen = 1 + 0.05 * max(0.0, camera.zoom)
    allowed = (1 + 2 * MARGIN) * widen * 1.021
    reached = []
    for matrix, view in zip(render.matrices, render.views, strict=True):
        back = (np.linalg.inv(matrix) @ corners.T).T
        xy = back[:, :2] / back[:, 2:]
        # Always on the source (the photo and its outpainted band): no border fill.
        assert np.all(xy >= -0.5 - 1e-6)
        assert np.all(xy[:, 0] <= src_w - 0.5 + 1e-6) and np.all(xy[:, 1] <= src_h - 0.5 + 1e-6)
        on_photo = (np.linalg.inv(view) @ corners.T).T
        fx = (on_photo[:, 0] / on_photo[:, 2] - (width - 1) / 2) / (width / 2)
        fy = (on_photo[:, 1] / on_photo[:, 2] - (height - 1) / 2) / (height / 2)
        reached.append(max(np.abs(fx).max(), np.abs(fy).max()))
    assert reached[0] == pytest.approx(1.0, abs=0.01)  # frame 0: the photo's own framing
    assert max(reached) <= allowed
