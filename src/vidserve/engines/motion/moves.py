"""Which camera move a shot or a held image makes, and how a move is written in the log.

Several moves in one clip (a storyboard's shots, the images of an elements request) read
as separate shots only when they differ, so a shot that names no move takes the next one of
:data:`DEFAULT_MOVES` that differs from the move before it.
"""

from __future__ import annotations

import dataclasses

from vidserve.engines.base import GENTLE_PUSH_IN, CameraMotion
from vidserve.engines.motion.prompt import camera_from_prompt

#: Gentle moves in the order shots without a move of their own take them: push in, truck
#: right, pull back, truck left, crane up. Each is plainly visible in a second of video
#: (1.15x, or 7.5 % of the frame) without feeling like a whip.
DEFAULT_MOVES: tuple[CameraMotion, ...] = (
    GENTLE_PUSH_IN,
    CameraMotion(horizontal=3.0),
    CameraMotion(zoom=3.0),
    CameraMotion(horizontal=-3.0),
    CameraMotion(vertical=3.0),
)
#: A gentle pull back: it ends on the image itself (used to end on an end image).
GENTLE_PULL_BACK = CameraMotion(zoom=3.0)


@dataclasses.dataclass(frozen=True)
class ChosenMove:
    """A move and where it came from, for the run's log."""

    motion: CameraMotion
    origin: str
    #: Chosen by the engine (no prompt phrase or camera control asked for it).
    default: bool = False

    def describe(self) -> str:
        """``zoom=-3 (the default move)`` style."""
        return f"{describe(self.motion)} ({self.origin})"


def default_move(index: int, previous: CameraMotion | None) -> CameraMotion:
    """The ``index``-th default move, or the next one when it would repeat ``previous``."""
    move = DEFAULT_MOVES[index % len(DEFAULT_MOVES)]
    if move == previous:
        move = DEFAULT_MOVES[(index + 1) % len(DEFAULT_MOVES)]
    return move


def choose_moves(
    prompts: list[str], requested: CameraMotion | None, first: CameraMotion = GENTLE_PUSH_IN
) -> list[ChosenMove]:
    """One move per prompt: the one its prompt names, else ``requested`` (the request's
    camera control), else a default that differs from the move before it (``first`` for
    the first prompt)."""
    moves: list[ChosenMove] = []
    previous: CameraMotion | None = None
    for index, prompt in enumerate(prompts):
        named = camera_from_prompt(prompt)
        if named is not None:
            phrases = ", ".join(repr(p) for p in named.phrases)
            chosen = ChosenMove(named.motion, f"from the prompt: {phrases}")
        elif requested is not None:
            chosen = ChosenMove(requested, "requested")
        elif index == 0:
            chosen = ChosenMove(first, "the default move", default=True)
        else:
            chosen = ChosenMove(default_move(index, previous), "a default move", default=True)
        moves.append(chosen)
        previous = chosen.motion
    return moves


def describe(camera: CameraMotion) -> str:
    """``zoom=-3`` style: only the axes that move."""
    moving = [
        f"{f.name}={getattr(camera, f.name):g}"
        for f in dataclasses.fields(camera)
        if getattr(camera, f.name)
    ]
    return ", ".join(moving) or "still"
