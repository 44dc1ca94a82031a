"""Faces that blink, breathe, nod, smile and turn: what the face does when, and doing it to
each frame.

The face is followed through the frames with :class:`~vidserve.engines.faces.FaceTracker`
(the mesh model, about 2 ms a frame), so it stays under the warp whatever the camera does;
every frame's motion is then built on that frame's own landmarks. Frames where the tracker
loses the face are left as they are.

When it happens, for a clip of ``D`` seconds (every motion starts and, where it returns,
ends at rest, so frame 0 is the frame underneath):

==============  ===============================================================================
action          motion
==============  ===============================================================================
blink           one blink 30-45 % of the way in (a quarter second: fall, rest, rise)
nod             the chin dips 10 degrees and comes back, once or twice (about a second each)
                between 10 % and 90 % of the clip
shake           the head turns 9 degrees each way, two to four times, and comes back
turn            the head turns 14 degrees to one side between 15 % and 65 %, and stays
look up/down    the chin rises (or drops) 9 degrees between 15 % and 65 %, and stays
tilt            the head leans 8 degrees between 15 % and 65 %, and stays
smile           the mouth widens and its corners rise between 15 % and 55 %, and stays
breathe         the head rises and falls by 1.5 % of the face's size every 4.5 seconds
==============  ===============================================================================

Idle motion: any face action also brings the small motions of a living face: blinks every 2
to 6 seconds (:mod:`vidserve.engines.talk.eyes`), breathing, and a slow sway of a degree or
two. A prompt that names no face action leaves faces alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vidserve.engines.base import Image
from vidserve.engines.faces import FaceTracker
from vidserve.engines.motion.fit import smoothstep
from vidserve.engines.motion.head_turn import HeadWarp, smile
from vidserve.engines.talk.eyes import blink_times, closure, eye_meshes
from vidserve.engines.talk.face import blink
from vidserve.engines.talk.mouth import MouthMesh

_NOD, _SHAKE, _TURN, _LOOK, _TILT = 10.0, 9.0, 14.0, 9.0, 8.0
_BREATH, _BREATH_PERIOD = 0.015, 4.5
_SWAY = (1.2, 0.8)  # degrees of idle yaw and pitch
_BLINK_LENGTH = 0.27
# Idle blinks closer than this (seconds) to the asked-for blink are dropped.
_BLINK_GAP = 0.8


@dataclass(frozen=True)
class Pose:
    """One instant of the face: eyes ``shut`` 0..1, ``smile`` 0..1, head angles (degrees,
    as :class:`~vidserve.engines.faces.HeadPose`) and ``lift`` (face sizes, + up)."""

    shut: float
    smile: float
    yaw: float
    pitch: float
    roll: float
    lift: float


@dataclass(frozen=True)
class FaceScript:
    """The face actions of one clip, turned into a pose at any time."""

    duration: float
    actions: dict[str, int]
    blinks: tuple[float, ...]
    sway: tuple[float, float]

    @classmethod
    def plan(cls, actions: dict[str, int], duration: float, seed: int) -> FaceScript:
        """The script for ``actions`` (name -> side, 0 for none) over ``duration`` seconds."""
        rng = np.random.default_rng([seed, 17])
        asked: list[float] = []
        if "blink" in actions and duration >= _BLINK_LENGTH:
            asked = [min(duration * rng.uniform(0.3, 0.45), duration - _BLINK_LENGTH)]
        idle = [t for t in blink_times(seed, duration)
                if all(abs(t - a) > _BLINK_GAP for a in asked)]  # fmt: skip
        sway = (float(rng.uniform(0.1, 0.22)), float(rng.uniform(0.12, 0.25)))
        return cls(duration, dict(actions), tuple(sorted(asked + idle)), sway)

    def at(self, t: float) -> Pose:
        """The face's pose at ``t`` seconds."""
        d, act = max(self.duration, 1e-6), self.actions
        yaw = _SWAY[0] * math.sin(2 * math.pi * self.sway[0] * t)
        pitch = _SWAY[1] * math.sin(2 * math.pi * self.sway[1] * t)
        roll = 0.0
        settle = smoothstep((t / d - 0.15) / 0.5)
        if "nod" in act:
            cycles = max(1, min(2, round(0.8 * d / 1.1)))
            s = min(1.0, max(0.0, (t / d - 0.1) / 0.8))
            pitch -= _NOD * (1 - math.cos(2 * math.pi * cycles * s)) / 2
        if "shake" in act:
            cycles = max(2, min(4, round(0.8 * d / 0.8)))
            s = min(1.0, max(0.0, (t / d - 0.1) / 0.8))
            yaw += _SHAKE * math.sin(2 * math.pi * cycles * s)
        yaw += _TURN * act.get("turn", 0) * settle
        pitch += _LOOK * act.get("look", 0) * settle
        roll += _TILT * act.get("tilt", 0) * settle
        cheer = smoothstep((t / d - 0.15) / 0.4) if "smile" in act else 0.0
        lift = _BREATH * (1 - math.cos(2 * math.pi * t / _BREATH_PERIOD)) / 2
        return Pose(closure(list(self.blinks), t), cheer, yaw, pitch, roll, lift)


class FaceMotion:
    """Applies a :class:`FaceScript` to frames handed in order (``frame(i)`` at ``i / fps``)."""

    def __init__(self, script: FaceScript, fps: int) -> None:
        self.script = script
        self.fps = fps
        self.tracker = FaceTracker(fps)
        self._mouth: MouthMesh | None = None
        self._head: HeadWarp | None = None
        #: Frames on which the face was found and moved (for the log and the tests).
        self.moved = 0

    def apply(self, frame: Image, index: int) -> Image:
        """``frame`` (frame ``index``) with the face posed; the frame itself if none is found."""
        tracked = self.tracker.update(frame)
        if tracked is None:
            return frame
        pose = self.script.at(index / self.fps)
        points = tracked.points
        out = frame.copy()
        if pose.smile > 0.01:
            self._mouth = MouthMesh.build(points, self._mouth)
            smile(out, frame, self._mouth, pose.smile)
        if pose.shut > 0.0:
            blink(out, eye_meshes(frame, points), pose.shut)
        height, width = frame.shape[:2]
        self._head = HeadWarp(points, width, height, self._head)
        self._head.apply(out, pose.yaw, pose.pitch, pose.roll, pose.lift)
        self.moved += 1
        return out
