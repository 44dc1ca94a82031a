"""Elements and reference-to-video: every image shown, in order, morphing into the next;
start and end images at the ends; storyboards sharing the images out; refusals."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from motion_scenes import Frame, psnr, raw_frames, render, request, texture

from vidserve.engines.base import Kind, Shot, VideoRequest
from vidserve.engines.motion import MotionEngine
from vidserve.engines.motion.fit import CoverFit
from vidserve.errors import EngineError
from vidserve.media.video import probe

from fakes import FakeContext

TINTS = [(200, 60, 60), (60, 170, 70), (60, 80, 200), (210, 190, 50), (170, 70, 190)]


def tinted(index: int, width: int = 400, height: int = 300) -> Frame:
    """A texture washed with one of :data:`TINTS`: each image has its own colour."""
    base = texture(width, height, seed=20 + index).astype(np.float32)
    return np.rint(base * 0.4 + np.array(TINTS[index]) * 0.6).astype(np.uint8)


def references(count: int, kind: Kind = Kind.ELEMENTS, **fields: object) -> VideoRequest:
    base = request(tinted(0), fps=8, duration=4.0)
    return replace(  # type: ignore[arg-type]
        base,
        kind=kind,
        start_image=None,
        reference_images=tuple(tinted(i) for i in range(count)),
        **fields,
    )


def closest(frames: list[Frame], images: list[Frame]) -> tuple[list[int], np.ndarray]:
    """For each frame, the image whose colour it is nearest, and every frame-image
    similarity (negative mean colour distance)."""
    means = np.array([image.reshape(-1, 3).mean(axis=0) for image in images])
    similarity = np.array(
        [-np.linalg.norm(means - f.reshape(-1, 3).mean(axis=0), axis=1) for f in frames]
    )
    return [int(i) for i in similarity.argmax(axis=1)], similarity


def test_elements_show_each_image_in_order(tmp_path: Path) -> None:
    req = references(4)
    frames, ctx = render(req, tmp_path)
    assert len(frames) == 32
    nearest, similarity = closest(frames, list(req.reference_images))
    # Mid-morph a blend of two colours may sit as near a third: count only clear matches.
    ranked = np.sort(similarity, axis=1)
    clear = [n for n, margin in zip(nearest, ranked[:, -1] - ranked[:, -2], strict=True)
             if margin > 15]  # fmt: skip
    assert clear[0] == 0 and clear[-1] == 3 and clear == sorted(clear)
    assert nearest[0] == 0 and nearest[-1] == 3
    # Each image is on screen for a while (held, not flashed)...
    assert all(clear.count(i) >= 5 for i in range(4))
    # ...and its likeness peaks while it is held, in order.
    peaks = similarity.argmax(axis=0)
    assert list(peaks) == sorted(peaks) and len(set(peaks)) == 4
    lines = [line for line in ctx.logs if "held" in line]
    assert len(lines) == 4 and lines[0].startswith("motion: reference 1 held for 6 frames")


def test_one_image_morphs_into_the_next(tmp_path: Path) -> None:
    req = references(2, duration=3.0)
    frames = raw_frames(req, tmp_path)
    _, similarity = closest(frames, list(req.reference_images))
    # Between the holds the picture passes from one to the other without a jump.
    lean = similarity[:, 1] - similarity[:, 0]
    steps = np.diff(lean)
    assert np.all(steps > -2)
    assert steps.max() < 0.5 * (lean[-1] - lean[0])


def test_the_first_image_opens_the_clip_and_an_end_image_closes_it(tmp_path: Path) -> None:
    start, end = tinted(3, 320, 180), tinted(4, 320, 180)
    req = replace(
        references(2, Kind.REFERENCE_TO_VIDEO), start_image=start, end_image=end, duration=3.0
    )
    raw = raw_frames(req, tmp_path)
    assert np.array_equal(raw[0], start)  # push-in from the start image itself
    assert np.array_equal(raw[-1], end)  # pull back onto the end image itself
    images = [start, *req.reference_images, end]
    nearest, _ = closest(raw, images)
    assert sorted(set(nearest)) == [0, 1, 2, 3] and nearest == sorted(nearest)


def test_each_image_is_cover_fitted(tmp_path: Path) -> None:
    portrait = tinted(1, 200, 400)
    req = replace(references(1), reference_images=(portrait,), duration=1.0)
    raw = raw_frames(req, tmp_path)
    assert raw[0].shape == (180, 320, 3)
    assert psnr(raw[0], CoverFit.create(200, 400, 320, 180).image(portrait)) > 30


def test_a_storyboard_shares_the_images_out_over_its_shots(tmp_path: Path) -> None:
    shots = (Shot("push in", 2.0), Shot("pan left", 2.0))
    req = references(4, Kind.REFERENCE_TO_VIDEO, shots=shots)
    frames, ctx = render(req, tmp_path)
    nearest, _ = closest(frames, list(req.reference_images))
    assert set(nearest[:16]) == {0, 1} and set(nearest[16:]) == {2, 3}
    assert nearest == sorted(nearest)
    lines = [line for line in ctx.logs if "shot " in line]
    assert lines[0] == (
        "motion: shot 1/2, frames 0-15 (16): reference 1, reference 2; "
        "zoom=-5 (from the prompt: 'push in')"
    )
    assert "reference 3, reference 4; tilt=-5" in lines[1]


def test_fewer_images_than_shots_span_several_shots(tmp_path: Path) -> None:
    shots = tuple(Shot(p, 1.0) for p in ("a", "b", "c", "d"))
    req = references(2, Kind.REFERENCE_TO_VIDEO, shots=shots)
    frames = raw_frames(req, tmp_path)
    nearest, _ = closest(frames, list(req.reference_images))
    assert nearest == [0] * 16 + [1] * 16
    # A cut at every shot: shot 2 opens on the first image again, framed afresh.
    assert psnr(frames[8], frames[7]) < psnr(frames[7], frames[6]) - 3


def test_the_first_reference_given_as_start_image_is_shown_once(tmp_path: Path) -> None:
    req = references(2, Kind.REFERENCE_TO_VIDEO)
    req = replace(req, start_image=req.reference_images[0])
    ctx = FakeContext(tmp_path)
    MotionEngine().frame_source(req, ctx)
    assert [line.split(" held")[0] for line in ctx.logs] == [
        "motion: reference 1",
        "motion: reference 2",
    ]


def test_a_reference_run_streams_exactly_its_frames(tmp_path: Path) -> None:
    req = references(3, duration=1.5)
    ctx = FakeContext(tmp_path)
    result = MotionEngine().generate(req, ctx)
    assert probe(result.path).num_frames == result.num_frames == 12
    assert ctx.fractions == pytest.approx([(i + 1) / 12 for i in range(12)])


def test_no_images_is_refused(tmp_path: Path) -> None:
    req = replace(references(1), reference_images=())
    with pytest.raises(EngineError, match="elements needs at least one image"):
        MotionEngine().generate(req, FakeContext(tmp_path))


def test_text_to_video_is_refused_with_a_reason(tmp_path: Path) -> None:
    req = replace(references(0), kind=Kind.TEXT_TO_VIDEO)
    with pytest.raises(EngineError, match="does not make text-to-video") as caught:
        MotionEngine().generate(req, FakeContext(tmp_path))
    assert caught.value.error_type == "unsupported_input"
    assert "wan" in str(caught.value)


def test_image_to_video_without_a_start_image_is_refused(tmp_path: Path) -> None:
    req = replace(request(tinted(0)), start_image=None)
    with pytest.raises(EngineError, match="needs a start image"):
        MotionEngine().generate(req, FakeContext(tmp_path))


@pytest.mark.parametrize("frames", [1, 2, 3])
def test_a_clip_shorter_than_its_images_opens_on_the_first(tmp_path: Path, frames: int) -> None:
    req = references(4, duration=frames / 8)
    ctx = FakeContext(tmp_path)
    raw = raw_frames(req, tmp_path)
    assert len(raw) == frames
    assert closest(raw, list(req.reference_images))[0][0] == 0
    MotionEngine().frame_source(req, ctx)
    assert "the later images get no frames" in ctx.logs[0]


def test_same_request_same_bytes(tmp_path: Path) -> None:
    req = references(3, Kind.REFERENCE_TO_VIDEO, duration=1.5, shots=(Shot("a", 0.75),
                                                                     Shot("b", 0.75)))  # fmt: skip
    digests = set()
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        result = MotionEngine().generate(req, FakeContext(tmp_path / run))
        digests.add(hashlib.sha256(result.path.read_bytes()).hexdigest())
    assert len(digests) == 1
