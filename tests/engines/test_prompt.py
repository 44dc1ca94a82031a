"""Camera phrases in prompts: which move each names, speed words, negation, clauses."""

from __future__ import annotations

import pytest

from vidserve.engines.base import CameraMotion
from vidserve.engines.motion.prompt import camera_from_prompt

CASES: list[tuple[str, CameraMotion]] = [
    ("The camera pushes in towards the tree", CameraMotion(zoom=-5)),
    ("Zoom into her eyes", CameraMotion(zoom=-5)),
    ("dolly forward through the door", CameraMotion(zoom=-5)),
    ("a slow dolly shot", CameraMotion(zoom=-2.5)),
    ("crash zoom on the villain", CameraMotion(zoom=-10)),
    ("zoom out to the whole city", CameraMotion(zoom=5)),
    ("pull back to reveal the valley", CameraMotion(zoom=5)),
    ("the camera moves away from the house", CameraMotion(zoom=5)),
    ("pan left across the skyline", CameraMotion(tilt=-5)),
    ("Panning to the right", CameraMotion(tilt=5)),
    ("the camera pans over the crowd", CameraMotion(tilt=5)),
    ("tilt up to the sky", CameraMotion(pan=5)),
    ("pan down to the river", CameraMotion(pan=-5)),
    ("truck left along the wall", CameraMotion(horizontal=-5)),
    ("tracking shot of a runner", CameraMotion(horizontal=5)),
    ("the camera slides right", CameraMotion(horizontal=5)),
    ("crane up over the trees", CameraMotion(vertical=5)),
    ("the camera descends to street level", CameraMotion(vertical=-5)),
    ("orbit around the statue", CameraMotion(horizontal=5, tilt=-3)),
    ("arc left around the car", CameraMotion(horizontal=-5, tilt=3)),
    ("roll counterclockwise", CameraMotion(roll=-5)),
    ("dutch angle on the stairs", CameraMotion(roll=5)),
    ("push in while panning left", CameraMotion(zoom=-5, tilt=-5)),
    # Speed words: the nearest within four words of the phrase, in the same clause.
    ("The camera pushes in slowly towards the tree", CameraMotion(zoom=-2.5)),
    ("gently pan right", CameraMotion(tilt=2.5)),
    ("the camera slowly moves left", CameraMotion(horizontal=-2.5)),
    ("rapidly zoom in", CameraMotion(zoom=-10)),
    ("Snow melts rapidly. The camera pushes in.", CameraMotion(zoom=-5)),
    ("slowly, zoom in", CameraMotion(zoom=-5)),
    # Negation, and each axis keeps its first phrase.
    ("no zoom, just pan right", CameraMotion(tilt=5)),
    ("zoom in, then zoom out", CameraMotion(zoom=-5)),
    # A still camera wins over everything.
    ("static camera, leaves rustle as we zoom in", CameraMotion()),
    ("Locked-off shot of the sea", CameraMotion()),
    ("the camera stays still while she walks", CameraMotion()),
]


@pytest.mark.parametrize(("prompt", "expected"), CASES, ids=[c[0] for c in CASES])
def test_phrases_name_the_move(prompt: str, expected: CameraMotion) -> None:
    found = camera_from_prompt(prompt)
    assert found is not None
    assert found.motion == expected
    assert found.phrases


@pytest.mark.parametrize(
    "prompt",
    [
        "",
        "A stylish woman walks down a Tokyo street",
        "A frying pan on a stove, rolling hills behind",
        "A woman moves left across the room",
        "the moon's orbit, an arc of light",
        "zoom",  # a bare noun is not a move
    ],
)
def test_prompts_without_camera_phrases_name_nothing(prompt: str) -> None:
    assert camera_from_prompt(prompt) is None


def test_moves_stay_in_kling_range() -> None:
    found = camera_from_prompt("rapidly crash zoom in")
    assert found is not None and found.motion.zoom == -10
