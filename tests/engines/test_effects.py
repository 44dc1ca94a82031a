"""Effect scenes, measured as a viewer would see them: the subject's height and width, a
turn, flowers, fur, two photos meeting, a heart; plus the run contract."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from motion_scenes import (
    BLUE,
    RED,
    Frame,
    add_blob,
    centroid,
    psnr,
    render,
    request,
    texture,
)

from vidserve.engines.base import Kind, VideoRequest
from vidserve.engines.motion import MotionEngine
from vidserve.engines.motion.effects import EFFECT_SCENES
from vidserve.engines.motion.fit import CoverFit
from vidserve.engines.registry import MOTION_EFFECTS
from vidserve.errors import CancelledError, EngineError
from vidserve.media.video import probe

from fakes import FakeContext

GREEN = (0, 255, 0)
SHAPE = (40, 160, 60)  # a green shape
BACKGROUND = (235, 232, 225)  # on an off-white backdrop


def shape_photo() -> Frame:
    """A 400x300 plain backdrop with a solid green block (fitted to 320x180: 0.8x, the top
    and bottom 30 px cropped)."""
    image = np.full((300, 400, 3), BACKGROUND, np.uint8)
    cv2.rectangle(image, (160, 110), (240, 220), SHAPE, -1)
    return image


def effect(scene: str, *photos: Frame, **fields: object) -> VideoRequest:
    base = request(photos[0], fps=12, duration=2.0, seed=5)
    return replace(  # type: ignore[arg-type]
        base, kind=Kind.EFFECTS, effect=scene, reference_images=photos, **fields
    )


def shape_box(frame: Frame) -> tuple[int, int, int, int]:
    """The bounding box (x0, y0, x1, y1) of pixels near the shape's colour."""
    near = np.abs(frame.astype(np.int16) - SHAPE).max(axis=2) < 40
    ys, xs = np.nonzero(near)
    assert len(xs) > 50, "the shape is gone"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def fitted(image: Frame) -> Frame:
    return CoverFit.create(image.shape[1], image.shape[0], 320, 180).image(image)


# -- deformations ----------------------------------------------------------------------


def test_squish_flattens_the_subject_onto_its_base(tmp_path: Path) -> None:
    photo = shape_photo()
    frames, ctx = render(effect("squish", photo), tmp_path)
    assert psnr(frames[0], fitted(photo)) > 35
    x0, y0, x1, y1 = shape_box(frames[0])
    a0, b0, a1, b1 = shape_box(frames[-1])
    assert (b1 - b0) <= 0.7 * (y1 - y0)  # at least 30 % flatter
    assert abs(b1 - y1) <= 2  # it stays on its base
    assert (a1 - a0) > (x1 - x0) + 3  # and spreads a little
    heights = [shape_box(f)[3] - shape_box(f)[1] for f in frames]
    assert all(b <= a + 1 for a, b in zip(heights, heights[1:], strict=False))
    assert any("squish" in line for line in ctx.logs)


def test_expansion_inflates_the_subject_about_its_centre(tmp_path: Path) -> None:
    photo = shape_photo()
    frames, _ = render(effect("expansion", photo), tmp_path)
    assert psnr(frames[0], fitted(photo)) > 35
    x0, y0, x1, y1 = shape_box(frames[0])
    a0, b0, a1, b1 = shape_box(frames[-1])
    assert (b1 - b0) >= 1.3 * (y1 - y0)
    assert (a1 - a0) >= 1.3 * (x1 - x0)
    assert abs((a0 + a1) - (x0 + x1)) / 2 <= 2 and abs((b0 + b1) - (y0 + y1)) / 2 <= 2
    # The backdrop's corners are left alone.
    assert psnr(frames[-1][:20, :20], frames[0][:20, :20]) > 35


def test_dizzydizzy_swirls_the_middle_round_and_round(tmp_path: Path) -> None:
    photo = texture(320, 180, seed=2)
    add_blob(photo, 130, 90, RED)
    add_blob(photo, 190, 90, BLUE)
    frames, _ = render(effect("dizzydizzy", photo), tmp_path)
    assert psnr(frames[0], photo) > 35
    angles = []
    for frame in frames:
        dx, dy = centroid(frame, BLUE) - centroid(frame, RED)
        angles.append(np.arctan2(dy, dx))
    turned = np.unwrap(angles)
    # Clockwise on screen (y down: the angle grows), well past a quarter turn, never back.
    assert turned[-1] - turned[0] > np.pi
    assert np.all(np.diff(turned) > -0.05)
    # The corners, beyond the swirl's reach, stay put.
    assert psnr(frames[-1][:12, :12], frames[0][:12, :12]) > 33


# -- overlays --------------------------------------------------------------------------


def colourful(frame: Frame) -> float:
    """The share of strongly coloured pixels (saturation above 0.45)."""
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
    return float(np.mean(hsv[:, :, 1] > 115))


def test_bloombloom_grows_flowers_over_the_photo(tmp_path: Path) -> None:
    photo = texture(320, 180, seed=4)  # greyish: flowers stand out
    frames, _ = render(effect("bloombloom", photo), tmp_path)
    assert psnr(frames[0], photo) > 35
    shares = [colourful(frame) for frame in frames]
    assert shares[0] < 0.01
    assert shares[-1] > 0.15
    assert shares[len(shares) // 2] < shares[-1]
    assert all(b >= a - 0.01 for a, b in zip(shares, shares[1:], strict=False))
    # Flowers, not a tint: many separate coloured blobs.
    blobs = (cv2.cvtColor(frames[-1], cv2.COLOR_RGB2HSV)[:, :, 1] > 115).astype(np.uint8)
    assert cv2.connectedComponents(blobs)[0] - 1 >= 8


def test_bloombloom_is_seeded(tmp_path: Path) -> None:
    photo = texture(320, 180, seed=4)
    engine, ctx = MotionEngine(), FakeContext(tmp_path)
    one = engine.frame_source(effect("bloombloom", photo), ctx)[0].frame(23)
    again = engine.frame_source(effect("bloombloom", photo), ctx)[0].frame(23)
    other = engine.frame_source(effect("bloombloom", photo, seed=6), ctx)[0].frame(23)
    assert np.array_equal(one, again)
    assert not np.array_equal(one, other)


def high_frequency(patch: Frame) -> float:
    grey = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)
    return float(np.var(cv2.Laplacian(grey, cv2.CV_32F)))


def test_fuzzyfuzzy_grows_fur_over_the_subject(tmp_path: Path) -> None:
    photo = shape_photo()
    frames, _ = render(effect("fuzzyfuzzy", photo), tmp_path)
    first, last = frames[0], frames[-1]
    assert psnr(first, fitted(photo)) > 35
    x0, y0, x1, y1 = shape_box(first)
    inner = (slice(y0 + 6, y1 - 6), slice(x0 + 6, x1 - 6))
    # A flat block turns into a mass of strands: fine detail where there was none...
    assert high_frequency(last[inner]) > 20 * (high_frequency(first[inner]) + 1)
    # ...in the subject's own colours (fur of it, not over it)...
    assert np.abs(last[inner].mean(axis=(0, 1)) - np.array(SHAPE)).max() < 40
    # ...and its outline turns fuzzy: strands reach out beyond it, but not far.
    outline = np.zeros(first.shape[:2], np.uint8)
    outline[y0:y1, x0:x1] = 1
    ring = cv2.dilate(outline, np.ones((9, 9), np.uint8)) - outline
    changed = np.abs(last.astype(np.int16) - first).max(axis=2) > 40
    assert changed[ring > 0].mean() > 0.25
    far = cv2.dilate(outline, np.ones((41, 41), np.uint8)) == 0
    assert changed[far].mean() < 0.01


# -- two photos ------------------------------------------------------------------------


def pair() -> tuple[Frame, Frame]:
    """Two 300x300 photos: a green dot on one texture, a blue dot on another (no red: the
    heart is red)."""
    left, right = texture(300, 300, seed=7), texture(300, 300, seed=8)
    add_blob(left, 150, 150, GREEN)
    add_blob(right, 150, 150, BLUE)
    return left, right


@pytest.mark.parametrize("scene", ["hug", "kiss", "heart_gesture"])
def test_two_photos_come_together(tmp_path: Path, scene: str) -> None:
    left, right = pair()
    frames, _ = render(effect(scene, left, right), tmp_path)
    halves = [CoverFit.create(300, 300, 160, 180).image(image) for image in (left, right)]
    assert psnr(frames[0], np.hstack(halves)) > 35  # side by side, untouched
    distances = [np.linalg.norm(centroid(f, BLUE) - centroid(f, GREEN)) for f in frames]
    assert distances[0] == pytest.approx(160, abs=2)
    assert distances[-1] < 0.75 * distances[0]
    assert all(b <= a + 1 for a, b in zip(distances, distances[1:], strict=False))
    # The last frame is one joined picture holding both photos' content...
    green, blue = centroid(frames[-1], GREEN), centroid(frames[-1], BLUE)
    assert green[0] < 160 < blue[0]
    # ...with no hard edge down the middle: the seam is a soft crossfade.
    middle = frames[-1][20:160, 150:170].astype(np.float32)
    steps = np.abs(np.diff(middle, axis=1)).mean(axis=(0, 2))
    assert steps.max() < 25


def heart_pixels(frame: Frame) -> int:
    r, g, b = (frame[:, :, c].astype(np.int16) for c in range(3))
    return int(np.count_nonzero((r > 180) & (g < 80) & (b > 30) & (b < 120)))


def test_heart_gesture_shows_a_heart_between_the_photos(tmp_path: Path) -> None:
    left, right = pair()
    for run in ("heart", "hug"):
        (tmp_path / run).mkdir()
    hearts, _ = render(effect("heart_gesture", left, right), tmp_path / "heart")
    hugs, _ = render(effect("hug", left, right), tmp_path / "hug")
    assert heart_pixels(hearts[0]) == 0
    assert heart_pixels(hugs[-1]) < 20
    assert heart_pixels(hearts[-1]) > 1500
    ys, xs = np.nonzero(
        (hearts[-1][:, :, 0] > 180) & (hearts[-1][:, :, 1] < 80) & (hearts[-1][:, :, 2] < 120)
    )
    assert xs.mean() == pytest.approx(160, abs=8)  # between them
    # Heart-shaped: two lobes on top (a notch in the middle of its top edge), a point below.
    top = ys.min()
    notch = ys[np.abs(xs - 160) < 3].min()
    assert notch > top + 4
    assert np.ptp(xs[ys > ys.max() - 4]) < 0.3 * np.ptp(xs)


# -- contract --------------------------------------------------------------------------


def test_the_engine_renders_exactly_the_registered_scenes() -> None:
    assert EFFECT_SCENES == MOTION_EFFECTS


@pytest.mark.parametrize("scene", sorted(MOTION_EFFECTS))
def test_every_scene_gives_the_frames_asked_for(tmp_path: Path, scene: str) -> None:
    left, right = pair()
    photos = (left, right) if scene in {"hug", "kiss", "heart_gesture"} else (shape_photo(),)
    req = effect(scene, *photos, fps=10, duration=0.7)
    ctx = FakeContext(tmp_path)
    result = MotionEngine().generate(req, ctx)
    info = probe(result.path)
    assert (info.width, info.height, info.num_frames, result.num_frames) == (320, 180, 7, 7)
    assert ctx.fractions == pytest.approx([(i + 1) / 7 for i in range(7)])


@pytest.mark.parametrize("scene", ["squish", "bloombloom", "fuzzyfuzzy", "kiss"])
def test_same_request_same_bytes(tmp_path: Path, scene: str) -> None:
    left, right = pair()
    photos = (left, right) if scene == "kiss" else (shape_photo(),)
    req = effect(scene, *photos, duration=0.5)
    digests = set()
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        result = MotionEngine().generate(req, FakeContext(tmp_path / run))
        digests.add(hashlib.sha256(result.path.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_cancelling_an_effect_stops_it(tmp_path: Path) -> None:
    ctx = FakeContext(tmp_path, cancel_after=4)
    with pytest.raises(CancelledError):
        MotionEngine().generate(effect("fuzzyfuzzy", shape_photo()), ctx)
    assert len(ctx.fractions) == 4
    assert not (tmp_path / "output.mp4").exists()


def test_an_unknown_scene_is_named_with_the_ones_there_are(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="'moonwalk'.*bloombloom.*squish") as caught:
        MotionEngine().generate(effect("moonwalk", shape_photo()), FakeContext(tmp_path))
    assert caught.value.error_type == "unsupported_input"
    with pytest.raises(EngineError, match="names no effect scene"):
        MotionEngine().generate(
            replace(effect("squish", shape_photo()), effect=None), FakeContext(tmp_path)
        )


@pytest.mark.parametrize(("scene", "count"), [("hug", 1), ("squish", 2)])
def test_the_wrong_number_of_photos_is_refused(tmp_path: Path, scene: str, count: int) -> None:
    photos = pair()[:count]
    with pytest.raises(EngineError, match=f"{scene} effect takes . photos?; got {count}"):
        MotionEngine().generate(effect(scene, *photos), FakeContext(tmp_path))


def test_a_start_image_alone_is_the_photo(tmp_path: Path) -> None:
    photo = shape_photo()
    req = replace(effect("squish", photo), reference_images=())
    frames, _ = render(req, tmp_path)
    assert psnr(frames[0], fitted(photo)) > 35
