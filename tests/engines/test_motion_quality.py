"""What a viewer sees, measured on real photos: every move opens on the photo itself, a
person moves against the background, transitions align instead of ghosting, a short brush
stroke bends without a seam, and a small photo is enlarged sharper than bicubic."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from motion_scenes import Frame, grey, psnr, raw_frames, request

from vidserve.endpoints.camera import PRESETS, AdvancedCameraControl, CameraControl
from vidserve.engines.base import CameraMotion, DynamicMask, Shot
from vidserve.engines.motion import MotionEngine
from vidserve.engines.motion.fit import CoverFit
from vidserve.engines.motion.transition import TransitionRender
from vidserve.engines.motion.upscale import enlarge

from fakes import FakeContext
from helpers import unavailable


def photo(name: str) -> Frame:
    """One of scikit-image's photos (astronaut 512x512, chelsea 451x300, coffee 600x400)."""
    try:
        from skimage import data
    except ImportError:
        unavailable("scikit-image is not installed (pip install -e '.[test]')")
    return np.ascontiguousarray(getattr(data, name)())


def fitted(image: Frame, width: int = 320, height: int = 180) -> Frame:
    return CoverFit.create(image.shape[1], image.shape[0], width, height).image(image)


# -- frame 0 is the photo --------------------------------------------------------------

SIMPLE = [
    CameraControl.model_validate({"type": "simple", "config": {**dict.fromkeys(
        ("horizontal", "vertical", "pan", "tilt", "roll", "zoom"), 0), axis: value}}).motion()
    for axis in ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
    for value in (10, -10)
]  # fmt: skip
ADVANCED = [
    AdvancedCameraControl(movement_type=axis, movement_value=value).motion()
    for axis in ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
    for value in (7, -4)
]  # fmt: skip
MODES: list[tuple[str, CameraMotion | None]] = [
    *((f"simple {m}", m) for m in SIMPLE),
    *((f"preset {name}", move) for name, move in PRESETS.items()),
    *((f"advanced {m}", m) for m in ADVANCED),
    ("the prompt's default push-in", None),
]


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
@pytest.mark.parametrize(("label", "camera"), MODES, ids=[label for label, _ in MODES])
def test_every_camera_mode_opens_on_the_photo(
    tmp_path: Path, label: str, camera: CameraMotion | None, name: str
) -> None:
    image = photo(name)
    frames = opening_and_end(request(image, camera=camera, duration=2.0), tmp_path)
    first = fitted(image)
    assert psnr(frames[0], first) >= 38, label
    # ...and moves on from there smoothly: no jump to a magnified view after frame 0.
    assert psnr(frames[1], first) > 32, label
    assert psnr(frames[-1], first) < 25, label


def opening_and_end(req: Any, workdir: Path) -> list[Frame]:
    """Frames 0, 1 and the last of a request, rendered before encoding."""
    source, _ = MotionEngine().frame_source(req, FakeContext(workdir))
    return [source.frame(i) for i in (0, 1, source.num_frames - 1)]


def test_a_portrait_opens_on_the_photo_too(tmp_path: Path, face_models: None) -> None:
    image = photo("astronaut")
    for camera in (CameraMotion(horizontal=10), CameraMotion(zoom=10), PRESETS["down_back"]):
        frames = opening_and_end(request(image, camera=camera, duration=2.0), tmp_path)
        assert psnr(frames[0], fitted(image)) >= 38
        assert psnr(frames[1], fitted(image)) > 32


def test_every_storyboard_shot_opens_on_the_photo(tmp_path: Path) -> None:
    image = photo("coffee")
    shots = tuple(Shot(prompt, 1.0) for prompt in ("zoom out", "roll clockwise", "pan left"))
    req = request(image, shots=shots, duration=3.0)
    frames = raw_frames(req, tmp_path)
    start = 0
    for length in req.shot_frames():
        assert psnr(frames[start], fitted(image)) >= 38
        start += length


# -- parallax ----------------------------------------------------------------------------


def shift_inside_and_out(a: Frame, b: Frame, person: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """Median horizontal flow from ``a`` to ``b`` on the person and on the background (away
    from the frame's edges and the person's outline)."""
    flow = cv2.calcOpticalFlowFarneback(grey(a).astype(np.uint8), grey(b).astype(np.uint8),
                                        None, 0.5, 4, 21, 5, 7, 1.5, 0)  # fmt: skip
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))
    inside = cv2.erode(person.astype(np.uint8), disc) > 0
    outside = cv2.erode((~person).astype(np.uint8), disc) > 0
    frame = np.zeros_like(person)
    frame[20:-20, 20:-20] = True
    dx = flow[:, :, 0]
    return float(np.median(dx[inside & frame])), float(np.median(dx[outside & frame]))


def test_a_person_moves_further_than_the_background(tmp_path: Path, face_models: None) -> None:
    from vidserve.engines.faces import person_mask

    image = photo("astronaut")
    req = request(image, width=320, height=320, camera=CameraMotion(horizontal=-3), duration=0.5)
    source, mode = MotionEngine().frame_source(req, FakeContext(tmp_path))
    assert "parallax" in mode
    first, later = source.frame(0), source.frame(4)
    person = person_mask(fitted(image, 320, 320)) >= 128
    near, far = shift_inside_and_out(first, later, person)
    # The camera moves left: everything moves right, the person 1.4x as far.
    assert far > 2.0
    assert near / far == pytest.approx(1.4, abs=0.15)


def test_without_a_person_everything_moves_alike(tmp_path: Path, face_models: None) -> None:
    image = photo("coffee")
    req = request(image, width=320, height=320, camera=CameraMotion(horizontal=-3), duration=0.5)
    ctx = FakeContext(tmp_path)
    source, mode = MotionEngine().frame_source(req, ctx)
    assert "one layer: no face" in mode
    frames = [source.frame(0), source.frame(4)]
    fake_person = np.zeros((320, 320), bool)
    fake_person[100:220, 100:220] = True  # where the cup is
    near, far = shift_inside_and_out(*frames, fake_person)
    assert near / far == pytest.approx(1.0, abs=0.08)


def test_without_the_face_models_the_log_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vidserve.engines.faces as faces

    def missing(*_: Any, **__: Any) -> Any:
        raise faces.FacesUnavailableError("the face models are not installed")

    monkeypatch.setattr(faces, "detect_faces", missing)
    ctx = FakeContext(tmp_path)
    source, mode = MotionEngine().frame_source(request(photo("coffee")), ctx)
    assert "one layer: no person segmenter" in mode
    assert any("no parallax" in line and "not installed" in line for line in ctx.logs)
    assert psnr(source.frame(0), fitted(photo("coffee"))) >= 38


# -- transitions -------------------------------------------------------------------------


def crop_view(image: Frame, box: tuple[float, float, float, float], size: tuple[int, int]) -> Frame:
    """The part of ``image`` in ``box`` (x0, y0, w, h; pixel edges) rendered at ``size``."""
    x0, y0, w, h = box
    sx, sy = size[0] / w, size[1] / h
    matrix = np.array([[sx, 0, 0.5 * sx - 0.5 - x0 * sx], [0, sy, 0.5 * sy - 0.5 - y0 * sy]])
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_AREA if sx < 1 else cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)  # fmt: skip


def test_a_crop_and_shift_of_the_same_photo_morphs_without_ghosting(tmp_path: Path) -> None:
    image = photo("coffee")  # 600x400
    size = (640, 360)
    start_box, end_box = (0.0, 31.25, 600.0, 337.5), (96.0, 80.0, 480.0, 270.0)  # 80 %, shifted
    start, end = crop_view(image, start_box, size), crop_view(image, end_box, size)
    req = request(start, end_image=end, width=640, height=360, duration=25 / 24)
    ctx = FakeContext(tmp_path)
    source, _ = MotionEngine().frame_source(req, ctx)
    assert isinstance(source, TransitionRender) and source.path == "aligned morph"
    assert any("aligned morph" in line and "feature matches agree" in line for line in ctx.logs)
    middle = source.frame(12)  # halfway (the easing is symmetric)
    halfway = tuple((a + b) / 2 for a, b in zip(start_box, end_box, strict=True))
    truth = crop_view(image, halfway, size)  # type: ignore[arg-type]
    crossfade = ((start.astype(np.uint16) + end) // 2).astype(np.uint8)
    assert psnr(middle, truth) >= 28
    assert psnr(crossfade, truth) < 20  # what a plain blend of the two would score
    assert np.array_equal(source.frame(0), start) and np.array_equal(source.frame(24), end)


def test_unrelated_photos_get_a_zoom_through_not_a_double_exposure(tmp_path: Path) -> None:
    start, end = fitted(photo("astronaut"), 640, 360), fitted(photo("chelsea"), 640, 360)
    req = request(start, end_image=end, width=640, height=360, duration=25 / 24)
    ctx = FakeContext(tmp_path)
    source, _ = MotionEngine().frame_source(req, ctx)
    assert isinstance(source, TransitionRender) and source.path == "zoom-through"
    line = next(line for line in ctx.logs if "transition" in line)
    assert "zoom-through" in line and "do not show one scene" in line
    assert source.alignment.inliers < 40
    middle = source.frame(12)
    average = ((start.astype(np.uint16) + end) // 2).astype(np.uint8)
    assert psnr(middle, average) < 16  # not a 50/50 blend
    # The end photo opens from the centre while the start photo still fills the corners.
    centre, corner = (slice(150, 210), slice(290, 350)), (slice(0, 40), slice(0, 60))
    zoomed_end = cv2.resize(end[90:270, 160:480], (640, 360))
    assert psnr(middle[centre], zoomed_end[centre]) > psnr(middle[centre], start[centre])
    assert psnr(middle[corner], start[corner]) > psnr(middle[corner], end[corner])


# -- motion brush --------------------------------------------------------------------------


def gradient(frame: Frame) -> npt.NDArray[np.float32]:
    g = grey(frame)
    return cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)) / 8


def seam_excess(
    before: Frame, after: Frame, mask: npt.NDArray[np.uint8], offset: tuple[int, int]
) -> float:
    """The largest gradient on the mask's boundary band in ``after`` that the picture does
    not explain: beyond 1.6x (the bend's most stretch, see :mod:`.bend`) the largest gradient
    of ``before`` within 3 px of where the content came from, unmoved or moved by
    ``offset`` (the stroke's end; in between on the band the bend moves it by 0.9 to 1 of
    that, which the 3 px cover). A seam is a new edge: neither place has it."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    band = (cv2.dilate(mask, disc) > 0) & ~(cv2.erode(mask, disc) > 0)
    near = cv2.dilate(gradient(before), disc)
    dx, dy = offset
    moved = np.roll(np.roll(near, dy, axis=0), dx, axis=1)
    return float((gradient(after) - 1.6 * np.maximum(near, moved))[band].max())


def test_a_short_brush_stroke_bends_the_region_without_a_seam(tmp_path: Path) -> None:
    image = fitted(photo("chelsea"))
    mask = np.zeros((180, 320), np.uint8)
    mask[40:130, 110:210] = 255  # a rough box around the cat's face
    stroke = ((160.0, 85.0), (172.0, 80.0), (182.0, 88.0))  # ~25 px, under 15 % of 367
    frames = raw_frames(request(image, dynamic_masks=(DynamicMask(mask, stroke),)), tmp_path)
    assert np.array_equal(frames[0], image)
    # A seam would be a new edge; 10 grey levels/px of slack for interpolation.
    assert seam_excess(image, frames[-1], mask, (22, 3)) < 10
    # The region itself travelled the stroke: 22 px right, 3 px down.
    inside = (slice(50, 120), slice(120, 200))
    (dx, dy), _ = cv2.phaseCorrelate(grey(image)[inside], grey(frames[-1])[inside])
    assert dx == pytest.approx(22, abs=1.5) and dy == pytest.approx(3, abs=1.5)
    # Far from the region nothing moved.
    assert psnr(frames[-1][:, :40], image[:, :40]) > 40


def test_the_seam_measure_catches_a_pasted_cut_out() -> None:
    image = fitted(photo("chelsea"))
    mask = np.zeros((180, 320), np.uint8)
    mask[40:130, 110:210] = 255
    pasted = image.copy()
    pasted[43:133, 132:232] = image[40:130, 110:210]  # the box moved 22 right, 3 down
    assert seam_excess(image, pasted, np.roll(np.roll(mask, 3, 0), 22, 1), (22, 3)) > 10


def test_a_long_stroke_moves_a_cut_out_snapped_to_the_photo(tmp_path: Path) -> None:
    image = fitted(photo("coffee"))
    mask = np.zeros((180, 320), np.uint8)
    mask[20:170, 90:230] = 255  # a rough box around the cup
    stroke = ((160.0, 95.0), (260.0, 95.0))
    req = request(image, dynamic_masks=(DynamicMask(mask, stroke),))
    source, _ = MotionEngine().frame_source(req, FakeContext(tmp_path))
    assert source.bent == 0  # type: ignore[attr-defined]
    last = source.frame(source.num_frames - 1)
    assert np.array_equal(source.frame(0), image)
    # The cup arrived 100 px right.
    cup = (slice(40, 150), slice(110, 200))
    moved = (slice(40, 150), slice(210, 300))
    assert psnr(last[moved], image[cup]) > 24


# -- upscaling -----------------------------------------------------------------------------


def gradient_energy(frame: Frame) -> float:
    return float(np.mean(gradient(frame) ** 2))


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
@pytest.mark.parametrize("factor", [2, 3])
def test_enlarging_is_sharper_than_bicubic(name: str, factor: int) -> None:
    truth = photo(name)
    h, w = (s // factor * factor for s in truth.shape[:2])
    truth = truth[:h, :w]
    small = cv2.resize(truth, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    ours = enlarge(small, w, h)
    bicubic = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    # Closer to the real photo's edge contrast (bicubic keeps ~50-70 % of it)...
    target = gradient_energy(truth)
    assert abs(gradient_energy(ours) - target) < 0.6 * abs(gradient_energy(bicubic) - target)
    # ...without inventing detail: as faithful as bicubic, pixel for pixel.
    assert psnr(ours, truth) > psnr(bicubic, truth) - 0.1


def test_a_large_enlargement_and_a_narrow_crop_are_logged(tmp_path: Path) -> None:
    small = cv2.resize(photo("astronaut"), (512, 512))
    req = request(small, width=1920, height=1080, duration=2 / 24)
    ctx = FakeContext(tmp_path)
    MotionEngine().frame_source(req, ctx)
    assert any("enlarged 3.75x" in line for line in ctx.logs)
    tall = replace(request(photo("coffee"), width=1080, height=1920, duration=2 / 24))
    ctx = FakeContext(tmp_path)
    MotionEngine().frame_source(tall, ctx)
    assert any("keeps only 38%" in line for line in ctx.logs)


def test_an_aligned_transition_renders_at_720p() -> None:
    # The sampling grid of a 1280x720 frame has more points than one row of a map may hold.
    image = photo("coffee")
    start = fitted(image, 1280, 720)
    end = crop_view(image, (60.0, 60.0, 480.0, 270.0), (1280, 720))
    transition = TransitionRender(start, end, 5)
    assert transition.path == "aligned morph"
    middle = transition.frame(2)
    assert middle.shape == (720, 1280, 3)
    truth = crop_view(image, (30.0, 45.625, 540.0, 303.75), (1280, 720))
    assert psnr(middle, truth) >= 28
