"""Elements and reference-to-video: several images, shown one after another.

A CPU engine cannot compose a new scene from references (put the person of one image into
the room of another); what it can do honestly is show every image it was given. So the
images become consecutive shots, in the request's order (the start image first and the end
image last when there are ones): each image is cover-fitted to the output and held while
the camera makes a gentle move, and a flow-guided morph (:mod:`.transition`) carries one
image into the next.

The moves: the request's camera control, else the one its prompt names, else gentle
defaults that differ from one image to the next (:mod:`.moves`); the first image's default
is a push-in, so the clip opens on it exactly, and with an end image the last one's is a
pull back, so the clip closes on it exactly.

With a storyboard the shots set the timing instead: each shot shows its share of the
images (in order; several images in one shot morph into each other, one image may span
several shots), held with that shot's own move, and shots are separated by cuts, as in
:mod:`.shots`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidserve.engines.base import Image, RunContext, VideoRequest
from vidserve.engines.motion.moves import GENTLE_PULL_BACK, ChosenMove, choose_moves
from vidserve.engines.motion.sequence import Part, Timeline, held_images
from vidserve.errors import EngineError


@dataclass(frozen=True)
class _Picture:
    image: Image
    label: str


def reference_source(request: VideoRequest, ctx: RunContext) -> tuple[Timeline, str]:
    """The images of an elements or reference-to-video ``request``, and the mode's name."""
    pictures = _pictures(request, ctx)
    if request.has_motion_brush:
        ctx.log("motion: references are shown in turn; the motion brush is ignored", "WARN")
    if request.shots:
        parts = _storyboard(request, pictures, ctx)
        mode = f"{len(pictures)} images over a storyboard of {len(request.shots)} shots"
    else:
        parts = _in_turn(request, pictures, ctx)
        mode = f"{len(pictures)} images in turn, morphing into each other"
    return Timeline(parts), mode


def _pictures(request: VideoRequest, ctx: RunContext) -> list[_Picture]:
    """Start image, references, end image: the order they are shown in."""
    references = list(request.reference_images)
    pictures = [_Picture(image, f"reference {i}") for i, image in enumerate(references, 1)]
    start, end = request.start_image, request.end_image
    # An adapter might pass the first reference as the start image too: show it once.
    if start is not None and not (references and _same(start, references[0])):
        pictures.insert(0, _Picture(start, "the start image"))
    if end is not None and not (references and _same(end, references[-1])):
        pictures.append(_Picture(end, "the end image"))
    if not pictures:
        raise EngineError(
            f"{request.kind} needs at least one image (reference_images or a start image); "
            "got none",
            "unsupported_input",
        )
    if len(pictures) > request.num_frames:
        ctx.log(
            f"motion: {len(pictures)} images but only {request.num_frames} frames; the later "
            "images get no frames",
            "WARN",
        )
    return pictures


def _same(a: Image, b: Image) -> bool:
    return a is b or (a.shape == b.shape and bool(np.array_equal(a, b)))


def _in_turn(request: VideoRequest, pictures: list[_Picture], ctx: RunContext) -> list[Part]:
    moves = choose_moves([request.prompt] * len(pictures), request.camera)
    # A default move on the end image is a gentle pull back that ends on it.
    end_on_last = request.end_image is not None and moves[-1].default
    if end_on_last:
        moves[-1] = ChosenMove(
            GENTLE_PULL_BACK, "the default move, ending on the end image", default=True
        )
    parts, held = held_images(
        [p.image for p in pictures],
        [m.motion for m in moves],
        request.width,
        request.height,
        request.num_frames,
        end_on_last=end_on_last,
    )
    for picture, frames, move in zip(pictures, held, moves, strict=True):
        ctx.log(f"motion: {picture.label} held for {frames} frames: {move.describe()}")
    return parts


def _storyboard(request: VideoRequest, pictures: list[_Picture], ctx: RunContext) -> list[Part]:
    lengths = request.shot_frames()
    moves = choose_moves([shot.prompt for shot in request.shots], request.camera)
    count, shots = len(pictures), len(lengths)
    parts: list[Part] = []
    first = 0
    for index, (frames, move) in enumerate(zip(lengths, moves, strict=True)):
        # Shot k shows pictures [k n / s, (k + 1) n / s): every picture once, in order, and
        # with fewer pictures than shots each spans consecutive shots.
        lo = index * count // shots
        group = pictures[lo : max(lo + 1, (index + 1) * count // shots)]
        shot_parts, _ = held_images(
            [p.image for p in group],
            [move.motion] * len(group),
            request.width,
            request.height,
            frames,
        )
        parts += shot_parts
        shown = ", ".join(p.label for p in group)
        ctx.log(
            f"motion: shot {index + 1}/{shots}, frames {first}-{first + frames - 1} "
            f"({frames}): {shown}; {move.describe()}"
        )
        first += frames
    return parts
