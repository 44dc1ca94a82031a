"""Clips made of several parts played in turn: held images with a camera move, morphs
between them, and cuts.

Each part is built only when its first frame is asked for, and the part before it is then
dropped, so a clip of many shots keeps one shot's state in memory at a time.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from vidserve.engines.base import CameraMotion, Image
from vidserve.engines.motion.camera import CameraRender
from vidserve.engines.motion.transition import TransitionRender

#: A morph between two held images gets this many frames for each frame a hold gets.
MORPH_SHARE = 0.5


class FrameSource(Protocol):
    """Renders the frames of one clip, any frame on demand."""

    num_frames: int

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based); a new array the caller may keep."""
        ...


@dataclass(frozen=True)
class Part:
    """``num_frames`` frames that ``build()`` renders (called when the part starts)."""

    num_frames: int
    build: Callable[[], FrameSource]


class Timeline:
    """Parts one after another; ``frame(i)`` renders frame ``i`` of the whole."""

    def __init__(self, parts: Sequence[Part]) -> None:
        self._parts = [part for part in parts if part.num_frames > 0]
        self._starts: list[int] = []
        total = 0
        for part in self._parts:
            self._starts.append(total)
            total += part.num_frames
        self.num_frames = total
        self._current: tuple[int, FrameSource] | None = None

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame {index} of a {self.num_frames}-frame clip")
        which = bisect.bisect_right(self._starts, index) - 1
        if self._current is None or self._current[0] != which:
            self._current = (which, self._parts[which].build())
        return self._current[1].frame(index - self._starts[which])


def hold(
    image: Image, move: CameraMotion, width: int, height: int, frames: int, ending: bool = False
) -> Part:
    """``image`` cover-fitted to ``width x height`` while the camera makes ``move``; the
    first frame is the image's own framing, or with ``ending`` the last one is.

    A hold of no frames still builds (as one frame): a morph may start or end on it."""
    if ending:
        return Part(frames, lambda: _Reversed(image, move, width, height, max(1, frames)))
    return Part(frames, lambda: CameraRender(image, move, width, height, max(1, frames)))


class _Reversed:
    """A move that ends on the image's own framing: the opposite move from the image,
    played backwards (the easing is symmetric, so the pace is the same)."""

    def __init__(
        self, image: Image, move: CameraMotion, width: int, height: int, frames: int
    ) -> None:
        opposite = CameraMotion(**{k: -v for k, v in dataclasses.asdict(move).items()})
        self.num_frames = frames
        self._render = CameraRender(image, opposite, width, height, frames)

    def frame(self, index: int) -> Image:
        return self._render.frame(self.num_frames - 1 - index)


class _Inner:
    """The in-between frames of a morph: its first and last (the two stills) are left out,
    since the parts either side already show them."""

    def __init__(self, before: Image, after: Image, frames: int) -> None:
        self.num_frames = frames
        self._morph = TransitionRender(before, after, frames + 2)

    def frame(self, index: int) -> Image:
        return self._morph.frame(index + 1)


def morph(before: Callable[[], Image], after: Callable[[], Image], frames: int) -> Part:
    """A flow-guided morph from the frame ``before()`` gives to the one ``after()`` gives
    (both at the output size), not counting those two frames."""
    return Part(frames, lambda: _Inner(before(), after(), frames))


def split(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` frames shared out in proportion to ``weights``, adding up exactly (each
    boundary rounded from its exact position, so rounding never drifts)."""
    whole = sum(weights)
    bounds, running = [0], 0.0
    for weight in weights:
        running += weight
        bounds.append(round(running / whole * total) if whole else 0)
    bounds[-1] = total
    return [end - start for start, end in zip(bounds, bounds[1:], strict=False)]


def held_images(
    images: Sequence[Image],
    moves: Sequence[CameraMotion],
    width: int,
    height: int,
    frames: int,
    *,
    end_on_last: bool = False,
) -> tuple[list[Part], list[int]]:
    """Each image held with its move, one after another, joined by morphs; the parts and
    how many frames each image is held. With ``end_on_last`` the last hold ends on its
    image's own framing (an end image) rather than starting on it.

    A hold gets one share of the frames and each morph :data:`MORPH_SHARE` of one; a clip
    with fewer frames than images holds the later images for no frames (a morph of no
    frames is a cut).
    """
    count = len(images)
    weights = [1.0 if i % 2 == 0 else MORPH_SHARE for i in range(2 * count - 1)]
    lengths = split(frames, weights)
    if frames and not lengths[0]:  # too few frames to go round: the first image opens
        lengths[0] = 1
        lengths[max(i for i, n in enumerate(lengths) if n and i)] -= 1
    holds = [
        hold(images[i], moves[i], width, height, lengths[2 * i],
             ending=end_on_last and i == count - 1)
        for i in range(count)
    ]  # fmt: skip
    parts: list[Part] = [holds[0]]
    for i in range(1, count):
        before, after = holds[i - 1], holds[i]
        parts.append(morph(_last_frame(before), _first_frame(after), lengths[2 * i - 1]))
        parts.append(after)
    return parts, lengths[::2]


def _last_frame(part: Part) -> Callable[[], Image]:
    return lambda: part.build().frame(max(0, part.num_frames - 1))


def _first_frame(part: Part) -> Callable[[], Image]:
    return lambda: part.build().frame(0)
