"""Prompt actions performed on a clip's frames: weather drawn over them, faces moved, and the
rest named, with the reason, in the run's log and the result's warnings.

:func:`with_prompt_actions` wraps any :class:`~.sequence.FrameSource`. What it does for each
action :mod:`.action_words` finds:

- weather and particles (snow, rain, leaves, petals, embers, bubbles, dust, fog, steam,
  smoke, rays): drawn over every frame, in front of everything (:mod:`.particles`,
  :mod:`.veils`); they fade in over the first half second, so frame 0 is the frame
  underneath;
- face actions (blink, nod, shake, turn, look, tilt, smile, breathe): the largest face is
  looked for once up front (in ``picture`` when the caller has it, else in the first frame),
  then followed and moved on every frame (:mod:`.face_motion`); with no face they are named
  "no face found";
- everything else the prompt has a verb for (flies, lifts off, runs, explodes ...): named
  "needs a diffusion engine".

A prompt with no actions leaves the source as it is.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from vidserve.engines.base import Image, RunContext, VideoRequest
from vidserve.engines.motion.action_words import Action, read_actions
from vidserve.engines.motion.particles import KINDS, Particles, fade
from vidserve.engines.motion.sequence import FrameSource
from vidserve.engines.motion.veils import VEILS, Rays, Veil

#: Why an action was not performed.
NEEDS_DIFFUSION = "needs a diffusion engine"
NO_FACE = "no face found"
NO_FACE_MODELS = "the face models are not installed"


class Layer(Protocol):
    """Something drawn over frames: weather or a veil."""

    def draw(self, frame: Image, t: float, strength: float) -> Image:
        """``frame`` with the layer at ``t`` seconds over it, at ``strength`` (0..1)."""
        ...


class Posed(Protocol):
    """Something that moves a face in frames handed in order."""

    def apply(self, frame: Image, index: int) -> Image:
        """Frame ``index`` with the face moved."""
        ...


def with_prompt_actions(
    source: FrameSource, request: VideoRequest, ctx: RunContext, picture: Image | None
) -> tuple[FrameSource, tuple[str, ...]]:
    """``source`` with the prompt's actions performed on its frames, and notes naming those
    that could not be (for the result's warnings). Logs one line of what is performed and one
    of what is not. With no actions in the prompt: ``source`` itself and no notes."""
    actions = read_actions(request.prompt)
    if not actions:
        return source, ()
    seed = request.seed or 0
    done: list[str] = []
    missing: list[tuple[str, str]] = []
    layers: list[Layer] = []
    for action in actions:
        if action.group == "weather":
            layers.append(weather_layer(action, request.width, request.height, seed))
            done.append(_describe(action))
        elif action.group == "other":
            missing.append((action.phrase, NEEDS_DIFFUSION))
    faces = [a for a in actions if a.group == "face"]
    first: Image | None = None
    face: Posed | None = None
    if faces:
        if picture is None:
            first = picture = source.frame(0)
        reason = _face_missing(picture)
        if reason is None:
            face = _face_motion(faces, request, seed)
            done += [_describe(a) for a in faces]
        else:
            missing += [(a.phrase, reason) for a in faces]
    if done:
        ctx.log("motion: prompt actions performed: " + "; ".join(done))
    if missing:
        ctx.log("motion: prompt actions not performed: "
                + "; ".join(f"'{phrase}' ({why})" for phrase, why in missing))  # fmt: skip
    notes = tuple(f"prompt action not performed: {phrase}: {why}" for phrase, why in missing)
    if not layers and face is None:
        return source, notes
    return ActionRender(source, request.fps, layers, face, first), notes


def weather_layer(action: Action, width: int, height: int, seed: int) -> Layer:
    """The layer that draws a weather action."""
    if action.name in KINDS:
        return Particles(KINDS[action.name], width, height, seed, action.density, action.speed)
    if action.name in VEILS:
        return Veil(VEILS[action.name], width, height, seed, action.density, action.speed)
    if action.name == "rays":
        return Rays(width, height, seed, action.density, action.speed)
    raise ValueError(f"no layer draws {action.name!r}")


class ActionRender:
    """``source``'s frames with a face moved (``face``) and layers drawn over them.

    ``first`` is the source's frame 0 when it was rendered early (to look for a face); it is
    handed out instead of rendering it twice.
    """

    def __init__(
        self, source: FrameSource, fps: int, layers: list[Layer], face: Posed | None,
        first: Image | None = None,
    ) -> None:  # fmt: skip
        self.source, self.fps, self.layers, self.face = source, fps, layers, face
        self.num_frames = source.num_frames
        self.duration = source.num_frames / fps
        self._first = first

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        if index == 0 and self._first is not None:
            frame, self._first = self._first.copy(), None
        else:
            frame = self.source.frame(index)
        if self.face is not None:
            frame = self.face.apply(frame, index)
        t = index / self.fps
        strength = fade(t, self.duration)
        for layer in self.layers:
            frame = layer.draw(frame, t, strength)
        return np.ascontiguousarray(frame)


def _face_missing(picture: Image) -> str | None:
    """Why no face can be moved in ``picture``, or None when one can."""
    from vidserve.engines.faces import FacesUnavailableError, detect_faces

    try:
        return None if detect_faces(picture) else NO_FACE
    except FacesUnavailableError:
        return NO_FACE_MODELS


def _face_motion(faces: list[Action], request: VideoRequest, seed: int) -> Posed:
    # Imported here: the face models' runtime loads only for prompts that move a face.
    from vidserve.engines.motion.face_motion import FaceMotion, FaceScript

    rng = np.random.default_rng([seed, 19])
    # A turn or tilt with no side said goes to a seeded side; a look says up or down itself.
    script = {
        a.name: a.side or (int(rng.choice((-1, 1))) if a.name in ("turn", "tilt") else 0)
        for a in faces
    }
    duration = request.num_frames / request.fps
    return FaceMotion(FaceScript.plan(script, duration, seed), request.fps)


def _describe(action: Action) -> str:
    """An action for the log: its name, the prompt's words, and how strong or fast."""
    how = []
    if action.density != 1.0:
        how.append("heavy" if action.density > 1 else "light")
    if action.speed != 1.0:
        how.append("fast" if action.speed > 1 else "slow")
    if action.side:
        how.append({("look", 1): "up", ("look", -1): "down"}.get(
            (action.name, action.side), "right" if action.side > 0 else "left"))  # fmt: skip
    extra = f", {' '.join(how)}" if how else ""
    return f"{action.name} ('{action.phrase}'{extra})"
