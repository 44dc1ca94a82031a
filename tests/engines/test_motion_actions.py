"""Prompt actions: which words name which action, what is reported as not performed, and
faces that blink, nod, smile and turn, measured with the face mesh on the output frames."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from motion_scenes import Frame, texture

from vidserve.engines.base import CameraMotion, Image, VideoRequest
from vidserve.engines.motion.action_words import read_actions
from vidserve.engines.motion.actions import with_prompt_actions
from vidserve.engines.motion.camera import CameraRender
from vidserve.engines.motion.face_motion import FaceScript

from fakes import FakeContext

# -- words -----------------------------------------------------------------------------

WORDS: list[tuple[str, list[tuple[str, str, int]]]] = [
    ("a cat turns its head and blinks", [("turn", "face", 0), ("blink", "face", 0)]),
    ("steam rises from the cup", [("steam", "weather", 0)]),
    ("snow falls on the village", [("snow", "weather", 0)]),
    ("she turns to the left", [("turn", "face", -1)]),
    ("he turns his head to the right and smiles", [("turn", "face", 1), ("smile", "face", 0)]),
    ("she looks up at the sky", [("look", "face", 1)]),
    ("he lowers his head", [("look", "face", -1)]),
    ("she nods, then shakes her head", [("nod", "face", 0), ("shake", "face", 0)]),
    ("the car lifts off and flies away", [("lifts off", "other", 0), ("flies", "other", 0)]),
    ("autumn leaves fly in the wind", [("leaves", "weather", 0)]),
    ("dust in the light, god rays", [("dust", "weather", 0), ("rays", "weather", 0)]),
    ("embers and sparks rise from the fire", [("embers", "weather", 0)]),
    # Not actions: the verb "leaves", lying snow, the camera's own flight, negation.
    ("he leaves the room", []),
    ("a snowy mountain, snow on the roofs", []),
    ("the drone flies over the city", []),
    ("no rain, she does not blink", []),
    ("the camera pushes in slowly", []),
    ("crash zoom on the villain", []),
    ("snow melts rapidly", [("melts", "other", 0)]),
    ("waves crash on the shore", [("crashes", "other", 0)]),
]


@pytest.mark.parametrize(("prompt", "expected"), WORDS)
def test_words_name_actions(prompt: str, expected: list[tuple[str, str, int]]) -> None:
    found = [(a.name, a.group, a.side) for a in read_actions(prompt)]
    assert found == expected


@pytest.mark.parametrize(
    ("prompt", "density", "speed"),
    [
        ("heavy snow", 2.0, 1.0),
        ("light rain", 0.5, 1.0),
        ("a blizzard", 2.0, 1.0),
        ("a drizzle", 0.5, 1.0),
        ("snow slowly drifting down", 1.0, 0.6),
        ("rain falls fast", 1.0, 1.7),
    ],
)
def test_density_and_speed_words(prompt: str, density: float, speed: float) -> None:
    (action,) = read_actions(prompt)
    assert (action.density, action.speed) == (density, speed)


# -- what is reported --------------------------------------------------------------------

W, H, FPS = 512, 512, 24


def wrap(
    prompt: str, image: Image, tmp_path: Path, *, frames: int = 48, seed: int = 3,
    camera: CameraMotion | None = None, picture: Image | None = None,
) -> tuple[list[Frame], tuple[str, ...], FakeContext]:  # fmt: skip
    """The wrapped frames of a camera render of ``image``, the notes, and the context."""
    req = VideoRequest(prompt=prompt, width=W, height=H, fps=FPS, duration=frames / FPS,
                       start_image=image, seed=seed)  # fmt: skip
    ctx = FakeContext(tmp_path)
    source = CameraRender(image, camera or CameraMotion(), W, H, frames)
    wrapped, notes = with_prompt_actions(source, req, ctx, picture)
    return [wrapped.frame(i) for i in range(frames)], notes, ctx


def test_no_actions_leave_the_source_alone(tmp_path: Path) -> None:
    image = texture(W, H)
    source = CameraRender(image, CameraMotion(zoom=-3), W, H, 10)
    req = VideoRequest(prompt="a quiet street, the camera pushes in", width=W, height=H,
                       fps=FPS, duration=10 / FPS, start_image=image, seed=1)  # fmt: skip
    ctx = FakeContext(tmp_path)
    wrapped, notes = with_prompt_actions(source, req, ctx, image)
    assert wrapped is source
    assert notes == ()
    assert ctx.logs == []


def test_unperformable_actions_are_named_in_notes_and_log(tmp_path: Path) -> None:
    frames, notes, ctx = wrap("the car lifts off and flies away", texture(W, H), tmp_path,
                              frames=4)  # fmt: skip
    assert notes == (
        "prompt action not performed: lifts off: needs a diffusion engine",
        "prompt action not performed: flies: needs a diffusion engine",
    )
    (line,) = ctx.logs
    assert "not performed" in line and "'lifts off' (needs a diffusion engine)" in line
    # Nothing it can do: the frames are the camera's.
    plain = CameraRender(texture(W, H), CameraMotion(), W, H, 4)
    assert all(np.array_equal(f, plain.frame(i)) for i, f in enumerate(frames))


def test_a_face_action_without_a_face_says_so(face_models: None, tmp_path: Path) -> None:
    frames, notes, ctx = wrap("she blinks while snow falls", texture(W, H), tmp_path, frames=4)
    assert notes == ("prompt action not performed: blinks: no face found",)
    assert any("performed: snow" in line for line in ctx.logs)
    assert any("'blinks' (no face found)" in line for line in ctx.logs)


# -- the script --------------------------------------------------------------------------


def test_every_face_action_starts_from_rest() -> None:
    script = FaceScript.plan({n: 1 for n in ("blink", "nod", "shake", "turn", "look", "tilt",
                                             "smile", "breathe")}, 4.0, 5)  # fmt: skip
    rest = script.at(0.0)
    assert (rest.shut, rest.smile, rest.yaw, rest.pitch, rest.roll, rest.lift) == (0,) * 6


def test_a_nod_comes_back_and_a_turn_stays() -> None:
    nod = FaceScript.plan({"nod": 0}, 2.0, 1)
    pitches = [nod.at(t).pitch for t in np.linspace(0, 2.0, 49)]
    assert min(pitches) < -8 and abs(pitches[-1]) < 1.5
    turn = FaceScript.plan({"turn": -1}, 2.0, 1)
    assert turn.at(2.0).yaw < -12


def test_an_asked_for_blink_falls_in_the_clip() -> None:
    for seed in range(20):
        script = FaceScript.plan({"blink": 0}, 1.0, seed)
        assert any(0.25 <= t <= 0.73 for t in script.blinks)
        assert max(script.at(t).shut for t in np.linspace(0, 1, 97)) == 1.0


# -- faces, measured -----------------------------------------------------------------------


def measure(frames: list[Frame]) -> dict[str, npt.NDArray[np.float64]]:
    """Per frame, from the face mesh (followed frame to frame, unsmoothed): eye openness (the
    mean of both eyes), head yaw, pitch and roll, and mouth width over eye-corner span."""
    from vidserve.engines.faces import FaceTracker, eye_openness, face_size, head_pose

    tracker = FaceTracker(FPS, smooth=False)
    rows = []
    for frame in frames:
        face = tracker.update(frame)
        assert face is not None
        p = face.points
        pose = head_pose(p)
        mouth = math.dist(p[61, :2], p[291, :2]) / face_size(p)
        rows.append((sum(eye_openness(p)) / 2, pose.yaw, pose.pitch, pose.roll, mouth))
    table = np.array(rows, dtype=np.float64)
    return {name: table[:, k] for k, name in enumerate(("eyes", "yaw", "pitch", "roll", "mouth"))}


def test_she_blinks(astronaut: Image, tmp_path: Path) -> None:
    frames, notes, ctx = wrap("she blinks", astronaut, tmp_path, picture=astronaut)
    assert notes == ()
    assert any("performed: blink ('blinks')" in line for line in ctx.logs)
    eyes = measure(frames)["eyes"]
    rest = eyes[0]
    low = int(np.argmin(eyes[: int(0.6 * len(eyes))]))
    # The mesh never reads a painted-shut lid as fully shut (about 0.7 of open at the most
    # closed frame here); the talk engine's blink tests allow 0.85.
    assert eyes[low] < 0.82 * rest, f"eyes only closed to {eyes[low] / rest:.2f} of open"
    assert eyes[low + 4 : low + 10].max() > 0.92 * rest  # open again within 0.4 s


def test_she_nods(astronaut: Image, tmp_path: Path) -> None:
    frames, _, _ = wrap("she nods", astronaut, tmp_path)
    pitch = measure(frames)["pitch"]
    assert pitch.min() < pitch[0] - 5
    assert abs(pitch[-1] - pitch[0]) < 2.0


def test_she_smiles(astronaut: Image, tmp_path: Path) -> None:
    frames, _, _ = wrap("she smiles", astronaut, tmp_path)
    mouth = measure(frames)["mouth"]
    assert mouth[-6:].mean() > 1.03 * mouth[:3].mean()


@pytest.mark.parametrize(("side", "sign"), [("left", -1), ("right", 1)])
def test_she_turns_her_head(astronaut: Image, tmp_path: Path, side: str, sign: int) -> None:
    frames, _, _ = wrap(f"she turns her head to the {side}", astronaut, tmp_path)
    yaw = measure(frames)["yaw"]
    assert sign * (yaw[-6:].mean() - yaw[0]) > 8


def test_frame_zero_is_the_picture_and_weather_joins_the_face(
    astronaut: Image, tmp_path: Path
) -> None:
    """Blinks under a push-in, with snow: the face is followed as the camera moves."""
    frames, notes, ctx = wrap("she blinks as snow falls", astronaut, tmp_path,
                              camera=CameraMotion(zoom=-5), picture=None)  # fmt: skip
    plain = CameraRender(astronaut, CameraMotion(zoom=-5), W, H, 48)
    assert np.array_equal(frames[0], plain.frame(0))
    assert notes == ()
    eyes = measure(frames)["eyes"]
    assert eyes[: int(0.6 * len(eyes))].min() < 0.82 * eyes[0]


def test_same_seed_same_face_motion(astronaut: Image, tmp_path: Path) -> None:
    first, _, _ = wrap("she smiles and nods", astronaut, tmp_path, frames=12)
    again, _, _ = wrap("she smiles and nods", astronaut, tmp_path, frames=12)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


# -- the wrapper's contract ----------------------------------------------------------------


class CountingSource:
    """A camera render that counts which frames were asked for."""

    def __init__(self, image: Image, frames: int) -> None:
        self.render = CameraRender(image, CameraMotion(zoom=-4), W, H, frames)
        self.num_frames = frames
        self.asked: list[int] = []

    def frame(self, index: int) -> Image:
        self.asked.append(index)
        return self.render.frame(index)


def test_without_a_picture_frame_zero_is_rendered_once_and_kept(
    astronaut: Image, tmp_path: Path
) -> None:
    source = CountingSource(astronaut, 6)
    req = VideoRequest(prompt="she smiles", width=W, height=H, fps=FPS, duration=6 / FPS,
                       start_image=astronaut, seed=1)  # fmt: skip
    wrapped, notes = with_prompt_actions(source, req, FakeContext(tmp_path), None)
    frames = [wrapped.frame(i) for i in range(6)]
    assert source.asked == [0, 1, 2, 3, 4, 5]
    assert np.array_equal(frames[0], source.render.frame(0))
    assert notes == ()


def test_missing_face_models_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import vidserve.engines.faces as faces

    def unavailable(image: Image) -> list[object]:
        raise faces.FacesUnavailableError("no runtime")

    monkeypatch.setattr(faces, "detect_faces", unavailable)
    _, notes, _ = wrap("he nods", texture(W, H), tmp_path, frames=2)
    assert notes == ("prompt action not performed: nods: the face models are not installed",)


def test_a_storyboard_timeline_is_wrapped_like_any_source(tmp_path: Path) -> None:
    from vidserve.engines.motion.sequence import Timeline, hold

    image = texture(W, H)
    parts = [hold(image, CameraMotion(zoom=-3), W, H, 8), hold(image, CameraMotion(), W, H, 8)]
    req = VideoRequest(prompt="heavy rain", width=W, height=H, fps=FPS, duration=16 / FPS,
                       start_image=image, seed=2)  # fmt: skip
    wrapped, _ = with_prompt_actions(Timeline(parts), req, FakeContext(tmp_path), image)
    plain = Timeline(parts)
    frames = [wrapped.frame(i) for i in range(16)]
    assert np.array_equal(frames[0], plain.frame(0))
    assert all(not np.array_equal(frames[i], plain.frame(i)) for i in range(12, 16))


# -- the head warp ---------------------------------------------------------------------------


def test_rotation_follows_the_head_pose_convention() -> None:
    from vidserve.engines.motion.head_turn import rotation

    nose = np.array([0.0, 0.0, -1.0])  # in front of the pivot, toward the camera
    assert (rotation(10, 0, 0) @ nose)[0] > 0  # yaw +: the face turns to the image's right
    assert (rotation(0, 10, 0) @ nose)[1] < 0  # pitch +: the chin (and nose) come up
    top = np.array([0.0, -1.0, 0.0])
    assert (rotation(0, 0, 10) @ top)[0] > 0  # roll +: clockwise in the picture


def test_the_head_warp_moves_the_head_and_nothing_far_from_it(astronaut: Image) -> None:
    from vidserve.engines.faces import detect_faces, landmarks
    from vidserve.engines.motion.head_turn import HeadWarp

    points = landmarks(astronaut, detect_faces(astronaut)[0])
    out = astronaut.copy()
    warp = HeadWarp(points, 512, 512)
    warp.apply(out, 12.0, -6.0, 4.0, 0.01)
    moved = np.abs(out.astype(np.int16) - astronaut).sum(axis=2) > 0
    nose = points[1, :2].astype(int)
    assert moved[nose[1] - 20 : nose[1] + 20, nose[0] - 20 : nose[0] + 20].mean() > 0.5
    outside = np.ones_like(moved)
    outside[warp.box.y0 : warp.box.y1, warp.box.x0 : warp.box.x1] = False
    assert not moved[outside].any()
    assert not moved[-80:].any()  # the suit, far below the face, stays


def test_a_turn_too_far_for_the_warp_is_scaled_back_not_folded(astronaut: Image) -> None:
    from vidserve.engines.faces import detect_faces, landmarks
    from vidserve.engines.motion.head_turn import HeadWarp
    from vidserve.engines.talk.warp import folds

    warp = HeadWarp(landmarks(astronaut, detect_faces(astronaut)[0]), 512, 512)
    dst = warp.targets(40.0, 0.0, 0.0, 0.0)
    assert not folds(warp.src, dst, warp.triangles)
    assert np.abs(dst - warp.src).max() > 1.0  # still turned, only less


def test_frames_without_the_face_pass_through(face_models: None) -> None:
    from vidserve.engines.motion.face_motion import FaceMotion

    motion = FaceMotion(FaceScript.plan({"nod": 0}, 1.0, 1), FPS)
    frame = texture(W, H)
    assert motion.apply(frame, 10) is frame
    assert motion.moved == 0
