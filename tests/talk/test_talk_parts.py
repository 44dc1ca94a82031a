"""The talk engine's parts on their own: the mouth's drive from audio and phonemes, blinks,
the piecewise-affine warp, head sway, the mouth mesh and the streaming of a lipsync."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from talk_media import RATE, joined, silence, speech_like

from vidserve.engines.base import Image
from vidserve.engines.faces import detect_faces, landmarks
from vidserve.engines.speech import PhonemeEvent, Viseme
from vidserve.engines.talk.drive import LEAD, MouthTrack, from_audio, from_phonemes
from vidserve.engines.talk.eyes import BLINK_EVERY, blink_times, closure
from vidserve.engines.talk.face import OPEN_RANGE, animate_mouth, mouth_drop
from vidserve.engines.talk.head import HeadMotion, Sway
from vidserve.engines.talk.lipsync import LipsyncRender, open_input
from vidserve.engines.talk.mouth import MouthMesh
from vidserve.engines.talk.warp import Box, folds, triangulate, warp_into, warp_maps
from vidserve.media.audio import Audio

from fakes import FakeContext

FPS = 25


def tone(seconds: float, level: float = 0.5) -> Audio:
    t = np.arange(round(seconds * RATE)) / RATE
    return Audio((level * np.sin(2 * np.pi * 150 * t)).astype(np.float32), RATE)


def test_audio_drive_opens_on_sound_and_rests_in_silence() -> None:
    audio = joined(silence(0.5), tone(0.5), silence(1.0))
    track = from_audio(audio, FPS, 60)
    assert track.openness.shape == track.width.shape == (60,)
    assert 0.0 <= track.openness.min() and track.openness.max() <= 1.0
    assert track.openness[:11].max() < 0.05  # silence (0 to 0.44 s, the mouth leads)
    assert track.openness[14:24].min() > 0.8  # the tone
    assert track.openness[30:50].max() < 0.02  # silence again, after the release
    assert track.openness[50:].max() == 0.0  # past the audio's end
    assert track.at(59) == (0.0, 0.0) and track.at(500) == (0.0, 0.0)
    # A 150 Hz hum is dark: the lips round.
    assert track.width[16:22].max() < -0.5


def test_audio_drive_attacks_faster_than_it_releases() -> None:
    audio = joined(silence(0.5), tone(0.5), silence(0.5))
    track = from_audio(audio, 100, 150).openness  # 100 fps: 10 ms a frame
    onset, offset = round((0.5 - LEAD) * 100), round((1.0 - LEAD) * 100)
    rise = int(np.argmax(track[onset:] > 0.9))
    fall = int(np.argmax(track[offset:] < 0.1))
    assert 0 < rise < fall <= 20


def test_audio_drive_does_not_flicker() -> None:
    track = from_audio(speech_like(3.0, seed=7), FPS, 75).openness
    # Syllables are ~4 a second: the mouth turns (opening <-> closing) at most ~3 times
    # per syllable, never frame by frame.
    turns = np.sum(np.diff(np.sign(np.diff(track[track > 0.02]))) != 0)
    assert turns < 3 * 4 * 3.0


def _event(phoneme: str, start: float, end: float, viseme: Viseme) -> PhonemeEvent:
    return PhonemeEvent(phoneme, start, end, viseme)


def test_phoneme_drive_shapes_each_viseme() -> None:
    events = [
        _event("_", 0.0, 0.2, Viseme.REST), _event("a", 0.2, 0.5, Viseme.OPEN),
        _event("m", 0.5, 0.62, Viseme.CLOSED), _event("i", 0.62, 0.9, Viseme.WIDE),
        _event("u", 0.9, 1.2, Viseme.ROUND), _event("_", 1.2, 1.6, Viseme.REST),
    ]  # fmt: skip
    audio = joined(silence(0.2), tone(1.0), silence(0.4))
    track = from_phonemes(events, audio, FPS, 40)

    def frame(t: float) -> int:
        return round(t * FPS)

    assert track.openness[: frame(0.12)].max() < 0.05
    assert track.openness[frame(0.3) : frame(0.44)].min() > 0.6
    assert track.openness[frame(0.52) : frame(0.58)].max() < 0.1  # the lips meet on "m"
    assert track.width[frame(0.7) : frame(0.85)].min() > 0.4  # "i" spreads them
    assert track.width[frame(1.0) : frame(1.15)].max() < -0.5  # "u" rounds them
    assert track.openness[frame(1.4) :].max() < 0.05


def test_blinks_every_two_to_six_seconds() -> None:
    times = blink_times(11, 60.0)
    assert times == blink_times(11, 60.0)
    assert 0.6 <= times[0] <= 3.0
    gaps = np.diff(times)
    assert gaps.min() >= BLINK_EVERY[0] and gaps.max() <= BLINK_EVERY[1]
    assert 10 <= len(times) <= 30
    assert closure(times, times[0] - 0.01) == 0.0
    assert closure(times, times[0] + 0.1) == 1.0
    assert 0 < closure(times, times[0] + 0.2) < 1
    assert closure(times, times[0] + 0.3) == 0.0


def _checker(size: int = 64) -> Image:
    ys, xs = np.mgrid[0:size, 0:size]
    board = ((xs // 4 + ys // 4) % 2 * 200 + 30).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(board[:, :, None], 3, axis=2))


def _grid_points() -> np.ndarray:
    ring = [(x, y) for x in (8, 32, 56) for y in (8, 32, 56) if (x, y) != (32, 32)]
    return np.array([*ring, (32, 32)], np.float32)


def test_warp_is_the_identity_when_nothing_moves() -> None:
    image, points = _checker(), _grid_points()
    triangles = triangulate(points)
    assert len(triangles) == 8
    out = image.copy()
    warp_into(out, image, points, points, triangles, Box.around(points, 64, 64))
    assert np.array_equal(out, image)


def test_warp_moves_the_middle_and_keeps_the_ring() -> None:
    image, src = _checker(), _grid_points()
    dst = src.copy()
    dst[-1] += (4, 0)
    triangles = triangulate(src)
    out = image.copy()
    warp_into(out, image, src, dst, triangles, Box.around(src, 64, 64))
    assert np.array_equal(out[:8], image[:8]) and np.array_equal(out[57:], image[57:])
    # At the centre the picture moved 4 px right (a whole square of the board).
    assert np.abs(out[30:35, 34].astype(int) - image[30:35, 30].astype(int)).max() <= 1
    assert not folds(src, dst, triangles)
    dst[-1] = (60, 32)  # past the ring: triangles turn over
    assert folds(src, dst, triangles)


def test_head_sway_is_seeded_small_and_leaves_the_edges(astronaut_points: np.ndarray) -> None:
    sway = Sway.seeded(9)
    poses = np.array([sway.at(t) for t in np.arange(0, 20, 0.04)])
    assert np.abs(poses).max() <= 1.0 and np.abs(np.diff(poses, axis=0)).max() < 0.1
    assert sway.at(3.0) == Sway.seeded(9).at(3.0) != Sway.seeded(10).at(3.0)
    image = _checker(512)
    head = HeadMotion(astronaut_points, 512, 512, seed=9)
    moved = head.apply(image, 4.0)
    assert not np.array_equal(moved, image)
    assert np.array_equal(moved[:, :40], image[:, :40])  # left of the head's reach
    assert np.array_equal(moved[-150:], image[-150:])  # below it


@pytest.fixture(scope="module")
def astronaut_points(astronaut: Image) -> np.ndarray:
    return landmarks(astronaut, detect_faces(astronaut)[0])


def test_mouth_mesh_opens_the_jaw(astronaut_points: np.ndarray) -> None:
    mesh = MouthMesh.build(astronaut_points)
    width = mesh.frame.width
    assert np.array_equal(mesh.moved(0.0, 0.0), mesh.src)
    drop = 0.3 * width
    dst = mesh.moved(drop, 0.0)
    moved = dst - mesh.src
    ring = slice(len(mesh.indices), None)
    assert np.abs(moved[ring]).max() == 0
    lip, upper, chin = (mesh.landmark_positions(moved, (i,))[0] for i in (14, 13, 152))
    assert lip[1] == pytest.approx(drop, rel=0.1)
    assert -0.15 * drop <= upper[1] <= 0.01 * drop  # the upper lip lifts little
    assert 0.6 * drop < chin[1] <= drop  # the chin goes with the jaw
    assert not folds(mesh.src, dst, mesh.triangles)
    closing = mesh.moved(-0.5 * mesh.gap, 0.0)
    assert mesh.landmark_positions(closing - mesh.src, (14,))[0][1] < 0
    again = MouthMesh.build(astronaut_points + np.float32(1.5), mesh)
    assert again.triangles is mesh.triangles  # reused while none turns over


def test_mouth_width_rounds_and_spreads(astronaut_points: np.ndarray) -> None:
    mesh = MouthMesh.build(astronaut_points)

    def corners(widen: float) -> float:
        right, left = mesh.landmark_positions(mesh.moved(0.0, widen), (61, 291))
        return float(np.linalg.norm(left - right))

    assert corners(-1.0) < corners(0.0) - 0.1 * mesh.frame.width
    assert corners(1.0) > corners(0.0) + 0.05 * mesh.frame.width


def test_an_opened_mouth_is_dark_inside(astronaut: Image, astronaut_points: np.ndarray) -> None:
    mesh = MouthMesh.build(astronaut_points)
    drop = mouth_drop(mesh, mesh.gap / mesh.frame.width, 1.0)
    assert drop == pytest.approx(OPEN_RANGE * mesh.frame.width)
    out = astronaut.copy()
    animate_mouth(out, astronaut, mesh, drop, 0.0)
    x, y = mesh.landmark_positions(mesh.src, (14,))[0]  # below the old lower lip: inside now
    inside = out[int(y) + 4 : int(y) + 9, int(x) - 3 : int(x) + 4].astype(float)
    cheek = astronaut[int(y) - 10 : int(y) - 5, int(x) + 40 : int(x) + 47].astype(float)
    assert inside.mean() < 0.45 * cheek.mean()
    assert np.array_equal(out[:120], astronaut[:120])  # eyes and above untouched


def test_lipsync_streams_its_input(portrait_video: Path) -> None:
    video = open_input(portrait_video)
    decoded = 0
    real = video.frames

    def counting() -> Iterator[Image]:
        nonlocal decoded
        for frame in real():
            decoded += 1
            yield frame

    video.frames = counting  # type: ignore[method-assign]
    track = MouthTrack(np.full(75, 0.5, np.float32), np.zeros(75, np.float32))
    render = LipsyncRender(video, 640, 360, track, 75)
    render.find_face(FakeContext(Path(".")))
    decoded = 0
    frames = render.frames()
    for _ in range(5):
        next(frames)
    assert decoded == 5  # one frame in for each frame out, never the clip at once


def test_a_coarse_map_matches_the_fine_one(astronaut_points: np.ndarray) -> None:
    mesh = MouthMesh.build(astronaut_points * np.float32(2.0))  # as on a 1024 px frame
    dst = mesh.moved(0.3 * mesh.frame.width, 0.5)
    box = Box.around(mesh.src, 1024, 1024)
    fine, coarse = (
        warp_maps(mesh.src, dst, mesh.triangles, box, 1),
        warp_maps(mesh.src, dst, mesh.triangles, box, 2),
    )
    error = np.hypot(fine[0] - coarse[0], fine[1] - coarse[1])
    assert np.percentile(error, 99) < 0.25 and error.max() < 1.5
    edge = np.concatenate([error[0], error[-1], error[:, 0], error[:, -1]])
    assert edge.max() < 1e-3  # the box's edges do not move: no seam
