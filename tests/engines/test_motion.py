"""The motion engine, measured: geometry of camera moves, transitions, motion brush, runs."""

from __future__ import annotations

import hashlib
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from motion_scenes import (
    BLUE,
    RED,
    Frame,
    centroid,
    grey,
    psnr,
    raw_frames,
    render,
    request,
    texture,
    two_dots,
)

from vidserve.engines.base import CameraMotion, DynamicMask
from vidserve.engines.motion import MotionEngine
from vidserve.engines.motion.camera import CameraRender
from vidserve.engines.motion.fit import CoverFit
from vidserve.engines.motion.path import Trajectory
from vidserve.errors import CancelledError, EngineError
from vidserve.media.video import probe

from fakes import FakeContext

# -- output and run contract -----------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "fps", "duration"), [(320, 180, 24, 1.0), (256, 256, 30, 0.5)]
)
def test_output_matches_the_request(
    tmp_path: Path, width: int, height: int, fps: int, duration: float
) -> None:
    req = request(texture(300, 400), width=width, height=height, fps=fps, duration=duration, seed=7)
    ctx = FakeContext(tmp_path)
    result = MotionEngine().generate(req, ctx)
    info = probe(result.path)
    count = round(duration * fps)
    assert result.path == tmp_path / "output.mp4"
    assert (result.width, result.height, result.fps, result.num_frames, result.seed) == (
        width,
        height,
        fps,
        count,
        7,
    )
    assert (info.width, info.height, info.num_frames) == (width, height, count)
    assert info.fps == pytest.approx(fps)
    assert info.duration == pytest.approx(count / fps, abs=1e-3)
    assert ctx.fractions == pytest.approx([(i + 1) / count for i in range(count)])
    assert 1 <= len(ctx.logs) <= 5
    assert f"{width}x{height}" in ctx.logs[0]


def test_odd_sizes_are_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="even"):
        MotionEngine().generate(request(texture(320, 180), width=321), FakeContext(tmp_path))


def test_cancellation_stops_the_run_and_leaves_no_file(tmp_path: Path) -> None:
    ctx = FakeContext(tmp_path, cancel_after=3)
    with pytest.raises(CancelledError):
        MotionEngine().generate(request(texture(320, 180)), ctx)
    assert len(ctx.fractions) == 3
    assert not (tmp_path / "output.mp4").exists()


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"end_image": texture(320, 180, seed=1)},
        {"dynamic_masks": (DynamicMask(np.full((180, 320), 255, np.uint8), ((10, 10), (40, 30))),)},
    ],
    ids=["camera", "transition", "brush"],
)
def test_same_request_same_bytes(tmp_path: Path, fields: dict[str, object]) -> None:
    req = request(texture(320, 180), duration=0.5, **fields)
    digests = set()
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        result = MotionEngine().generate(req, FakeContext(tmp_path / run))
        digests.add(hashlib.sha256(result.path.read_bytes()).hexdigest())
    assert len(digests) == 1


# -- camera ----------------------------------------------------------------------------


def dot_distances(frames: list[Frame]) -> np.ndarray:
    return np.array([np.linalg.norm(centroid(f, BLUE) - centroid(f, RED)) for f in frames])


def test_default_push_in_grows_to_about_1_15x(tmp_path: Path) -> None:
    frames, ctx = render(request(two_dots()), tmp_path)
    distances = dot_distances(frames)
    fitted = 120 * 0.8  # the cover-fit scales 400x300 by 0.8 onto 320x180
    assert distances[0] == pytest.approx(fitted, abs=0.5)
    assert distances[-1] / distances[0] == pytest.approx(1.15, abs=0.01)
    assert np.all(np.diff(distances) > -0.3)  # never zooms back (beyond codec noise)
    assert "zoom=-3" in ctx.logs[0]


def test_push_in_is_eased_and_smooth(tmp_path: Path) -> None:
    # Measured before encoding: the codec's own noise (~0.3 px) would hide the renderer's.
    distances = dot_distances(raw_frames(request(two_dots()), tmp_path))
    steps = np.diff(distances)
    assert steps[0] < 0.2 * steps.max() and steps[-1] < 0.2 * steps.max()  # eased ends
    assert np.all(steps[2:-2] > 0.2)  # no frozen frames mid-move
    # Smoothstep over 24 frames changes a step by at most 6/23^2 of the 14.4 px growth.
    assert np.max(np.abs(np.diff(steps))) < 0.25


@pytest.mark.parametrize(("zoom", "start", "end"), [(-10.0, 1.0, 1.5), (10.0, 1.0, 1 / 1.5)])
def test_zoom_magnitudes(tmp_path: Path, zoom: float, start: float, end: float) -> None:
    frames, _ = render(request(two_dots(), camera=CameraMotion(zoom=zoom)), tmp_path)
    distances = dot_distances(frames) / (120 * 0.8)
    assert distances[0] == pytest.approx(start, abs=0.02)
    assert distances[-1] == pytest.approx(end, abs=0.02)


def test_pull_out_starts_on_the_start_image(tmp_path: Path) -> None:
    # Every move opens on the photo itself; a pull back then widens past its edges (the
    # outpainted band shows around it).
    image = texture(320, 180)
    req = request(image, camera=CameraMotion(zoom=5))
    raw = raw_frames(req, tmp_path)
    assert np.array_equal(raw[0], image)
    assert psnr(raw[-1], image) < 25
    frames, _ = render(req, tmp_path)
    assert psnr(frames[0], image) > 30
    # The photo sits in the middle of the last frame at 1/1.25 of its size.
    small = cv2.resize(image, (256, 144), interpolation=cv2.INTER_AREA)
    assert psnr(raw[-1][18:-18, 32:-32], small) > 30


def test_push_in_starts_on_the_start_image(tmp_path: Path) -> None:
    image = texture(320, 180)
    raw = raw_frames(request(image), tmp_path)
    assert np.array_equal(raw[0], image)


MOVES = [
    CameraMotion(zoom=-10),
    CameraMotion(zoom=10),
    CameraMotion(horizontal=10),
    CameraMotion(vertical=-10),
    CameraMotion(pan=7, zoom=-4),
    CameraMotion(roll=10),
    CameraMotion(horizontal=-10, vertical=10, roll=-10, zoom=10),
]


@pytest.mark.parametrize("camera", MOVES, ids=str)
def test_the_view_never_leaves_the_image(camera: CameraMotion) -> None:
    render_ = CameraRender(texture(400, 300), camera, 320, 180, 24)
    src_h, src_w = render_._source.shape[:2]
    corners = np.array([[-0.5, -0.5, 1], [319.5, -0.5, 1], [-0.5, 179.5, 1], [319.5, 179.5, 1]])
    for matrix in render_.matrices:
        back = (np.linalg.inv(matrix) @ corners.T).T
        xy = back[:, :2] / back[:, 2:]
        assert np.all(xy >= -0.5 - 1e-6)
        assert np.all(xy[:, 0] <= src_w - 0.5 + 1e-6)
        assert np.all(xy[:, 1] <= src_h - 0.5 + 1e-6)


@pytest.mark.parametrize("camera", MOVES[:4], ids=str)
def test_no_frame_has_a_blank_edge(tmp_path: Path, camera: CameraMotion) -> None:
    image = texture(400, 300)
    frames, _ = render(request(image, camera=camera, duration=0.5), tmp_path)
    for frame in frames:
        for edge in (frame[0], frame[-1], frame[:, 0], frame[:, -1]):
            assert edge.min() > 10  # no black
            # The outpainted band is the photo's surroundings out of focus: the photo's
            # colours, softly varying, never one flat colour.
            assert np.abs(edge.mean(axis=0) - image.reshape(-1, 3).mean(axis=0)).max() < 20
            assert np.ptp(edge.astype(np.int16), axis=0).max() >= 2


@pytest.mark.parametrize(
    ("camera", "expected"),
    [
        # Moves that stay within the outpainted band (a tenth of the frame), so no
        # magnification joins in: horizontal/vertical 4 move the picture a tenth of the frame.
        (CameraMotion(horizontal=4), (-32.0, 0.0)),  # camera right: the picture moves left
        (CameraMotion(horizontal=-4), (32.0, 0.0)),
        (CameraMotion(vertical=4), (0.0, 18.0)),  # camera up: the picture moves down
    ],
    ids=str,
)
def test_translation_moves_as_far_as_documented_the_right_way(
    tmp_path: Path, camera: CameraMotion, expected: tuple[float, float]
) -> None:
    frames, _ = render(request(texture(320, 180), camera=camera), tmp_path)
    (dx, dy), _ = cv2.phaseCorrelate(grey(frames[0]), grey(frames[-1]))
    assert dx == pytest.approx(expected[0], abs=2) and dy == pytest.approx(expected[1], abs=2)
    # Each step moves the same way.
    for a, b in pairwise(frames[4:-3]):
        (sx, sy), _ = cv2.phaseCorrelate(grey(a), grey(b))
        assert sx * expected[0] >= 0 and sy * expected[1] >= 0
        assert abs(sx) + abs(sy) > 0.5


def test_roll_turns_the_picture(tmp_path: Path) -> None:
    frames, _ = render(request(two_dots(), camera=CameraMotion(roll=10)), tmp_path)
    angles = []
    for frame in (frames[0], frames[-1]):
        dx, dy = centroid(frame, BLUE) - centroid(frame, RED)
        angles.append(np.degrees(np.arctan2(dy, dx)))
    # Camera clockwise: the picture turns counter-clockwise (negative angle, y down), 15 degrees.
    assert angles[1] - angles[0] == pytest.approx(-15, abs=1)


# -- start-to-end transition -----------------------------------------------------------


def shifted_views(*shifts: int) -> list[Frame]:
    """640x360 views of one texture, each moved ``shift`` px right of the first (half that
    at the 320x180 output: the fit halves everything)."""
    wide = texture(640 + max(shifts), 360, seed=3)
    return [wide[:, max(shifts) - shift :][:, :640].copy() for shift in shifts]


def test_transition_starts_and_ends_on_the_images(tmp_path: Path) -> None:
    start, end = shifted_views(0, 24)
    req = request(start, end_image=end, camera=CameraMotion(zoom=-10), duration=13 / 24)
    frames, ctx = render(req, tmp_path)
    fitted_start = CoverFit.create(640, 360, 320, 180).image(start)
    fitted_end = CoverFit.create(640, 360, 320, 180).image(end)
    assert psnr(frames[0], fitted_start) > 35
    assert psnr(frames[-1], fitted_end) > 35
    assert any("transition" in line for line in ctx.logs)
    raw = raw_frames(req, tmp_path)
    assert np.array_equal(raw[0], fitted_start) and np.array_equal(raw[-1], fitted_end)


def test_transition_moves_content_instead_of_crossfading(tmp_path: Path) -> None:
    start, halfway_view, end = shifted_views(0, 12, 24)
    req = request(start, end_image=end, duration=13 / 24)
    frames, _ = render(req, tmp_path)
    a = CoverFit.create(640, 360, 320, 180).image(start)
    b = CoverFit.create(640, 360, 320, 180).image(end)
    middle = frames[6]
    (dx, dy), _ = cv2.phaseCorrelate(grey(a), grey(middle))
    assert dx == pytest.approx(6, abs=1.5) and abs(dy) < 1  # half of the 12 px
    crossfade = ((a.astype(np.uint16) + b) // 2).astype(np.uint8)
    halfway = CoverFit.create(640, 360, 320, 180).image(halfway_view)
    core = (slice(20, -20), slice(20, -20))  # away from content entering at the edges
    assert psnr(middle, a) < 25 and psnr(middle, b) < 25
    assert psnr(middle[core], halfway[core]) > 33
    assert psnr(middle[core], halfway[core]) > psnr(crossfade[core], halfway[core]) + 10
    # The move is spread over the clip, eased like a camera move, without a jump.
    steps = np.array([cv2.phaseCorrelate(grey(p), grey(q))[0][0] for p, q in pairwise(frames)])
    times = np.linspace(0, 1, 13)
    eased = np.diff(3 * times**2 - 2 * times**3) * 12
    assert np.all(np.abs(steps - eased) < 0.5)  # 12 px over 12 steps


def test_transition_fits_images_of_other_shapes(tmp_path: Path) -> None:
    req = request(texture(500, 500), end_image=texture(200, 400, seed=2), duration=0.25)
    frames, _ = render(req, tmp_path)
    assert len(frames) == 6 and frames[0].shape == (180, 320, 3)


# -- motion brush ----------------------------------------------------------------------


def square_scene() -> tuple[Frame, npt.NDArray[np.uint8]]:
    """A 400x300 texture with a white 40 px square centred at (100, 150), and its mask."""
    image = texture(400, 300, seed=5)
    image[130:170, 80:120] = 255
    mask = np.zeros((300, 400), np.uint8)
    mask[130:170, 80:120] = 255
    return image, mask


def white_centroid(frame: Frame) -> np.ndarray:
    ys, xs = np.nonzero(np.all(frame > 225, axis=-1))
    assert len(xs) > 100
    return np.array([xs.mean(), ys.mean()])


def test_brush_moves_the_region_along_its_trajectory(tmp_path: Path) -> None:
    image, mask = square_scene()
    brush = DynamicMask(mask, ((100, 150), (180, 120), (250, 150)))
    req = request(image, dynamic_masks=(brush,), camera=CameraMotion(zoom=-10))
    frames, _ = render(req, tmp_path)
    fit = CoverFit.create(400, 300, 320, 180)
    assert white_centroid(frames[0]) == pytest.approx(fit.point(99.5, 149.5), abs=1)
    assert white_centroid(frames[-1]) == pytest.approx(fit.point(249.5, 149.5), abs=1)
    # It passes through the middle point, rising towards it.
    highest = min(white_centroid(frame)[1] for frame in frames)
    assert highest == pytest.approx(fit.point(179.5, 119.5)[1], abs=3)
    # Its old place is filled from the surroundings, not left white.
    x, y = (round(v) for v in fit.point(99.5, 149.5))
    assert np.mean(np.all(frames[-1][y - 12 : y + 12, x - 12 : x + 12] > 225, axis=-1)) < 0.02


def test_brush_first_frame_is_the_start_image(tmp_path: Path) -> None:
    image, mask = square_scene()
    req = request(image, dynamic_masks=(DynamicMask(mask, ((100, 150), (250, 150))),))
    raw = raw_frames(req, tmp_path)
    assert np.array_equal(raw[0], CoverFit.create(400, 300, 320, 180).image(image))


def test_static_mask_pins_pixels_even_under_a_moving_region(tmp_path: Path) -> None:
    image, mask = square_scene()
    static = np.zeros((300, 400), np.uint8)
    static[100:200, 160:220] = 255  # across the square's path
    req = request(
        image, static_mask=static, dynamic_masks=(DynamicMask(mask, ((100, 150), (250, 150))),)
    )
    fit = CoverFit.create(400, 300, 320, 180)
    pinned = fit.mask(static) > 0
    first = fit.image(image)
    for frame in raw_frames(req, tmp_path):
        assert np.array_equal(frame[pinned], first[pinned])
    frames, _ = render(req, tmp_path)
    inner = cv2.erode(pinned.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    for frame in frames:
        assert np.abs(frame[inner].astype(np.int16) - first[inner]).mean() < 3


def test_later_masks_are_drawn_on_top(tmp_path: Path) -> None:
    image = texture(320, 180, seed=6)
    image[70:110, 40:80] = RED
    image[70:110, 240:280] = BLUE
    red, blue = np.zeros((180, 320), np.uint8), np.zeros((180, 320), np.uint8)
    red[70:110, 40:80] = 255
    blue[70:110, 240:280] = 255
    # Both end centred at x=160; blue is listed last so it covers red.
    masks = (DynamicMask(red, ((60, 90), (160, 90))), DynamicMask(blue, ((260, 90), (160, 90))))
    raw = raw_frames(request(image, dynamic_masks=masks), tmp_path)
    assert np.all(raw[-1][80:100, 150:170] == BLUE)


def test_trajectory_passes_its_points_at_even_speed() -> None:
    points = [(0.0, 0.0), (30.0, 0.0), (30.0, 0.0), (30.0, 40.0), (100.0, 45.0), (90.0, 47.0)]
    path = Trajectory(points)
    assert path.offset(0.0) == (0.0, 0.0)
    assert path.offset(1.0) == pytest.approx((90.0, 47.0))
    samples = np.array([path.position(p) for p in np.linspace(0, 1, 801)])
    for point in points:
        assert np.min(np.hypot(*(samples - point).T)) < 0.2
    steps = np.hypot(*np.diff(samples, axis=0).T)
    # Even speed, whatever the points' spacing (a chord is shorter only at the sharp hook).
    assert np.percentile(steps, 98) / np.percentile(steps, 2) < 1.02
    # Centripetal: the short hook at the end makes no loop beyond its points.
    assert samples[:, 0].max() < 101 and samples[:, 1].max() < 48
    assert Trajectory([(5.0, 5.0), (15.0, 5.0)]).position(0.25) == pytest.approx((7.5, 5.0))
