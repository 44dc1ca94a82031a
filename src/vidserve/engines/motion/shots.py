"""Storyboards for image-to-video: each shot its own camera move over the photo.

Every shot is a cut back to the photo: it starts from the photo's own framing and makes
its move from there, rather than continuing from where the shot before it left the camera.
A storyboard is a list of shots, and a cut is what separates shots on screen; moves that
continued from one another would read as one long take with a change of direction, and
would compound (three push-ins would magnify the photo 1.5x, and two pans the same way
could run off the picture), where a cut keeps every shot's move as large as its prompt
asks and always on the picture.

A shot's move is the one its prompt names (:mod:`.prompt`); a shot that names none takes
the request's camera control when it has one, else a default that differs from the shot
before it (:mod:`.moves`), so consecutive shots differ visibly. The request's overall
prompt is not read: with a storyboard it says nothing about any one shot.

With an end image the last shot is a morph from the photo into it (as the whole clip is
without a storyboard), so the clip ends on the end image; that shot's move is logged as
not made.
"""

from __future__ import annotations

from vidserve.engines.base import Image, RunContext, VideoRequest
from vidserve.engines.motion.fit import CoverFit
from vidserve.engines.motion.moves import choose_moves
from vidserve.engines.motion.sequence import Part, Timeline, hold
from vidserve.engines.motion.transition import TransitionRender


def storyboard_source(request: VideoRequest, start: Image, ctx: RunContext) -> Timeline:
    """The shots of ``request`` (which has ``shots``) over the photo ``start``."""
    width, height = request.width, request.height
    lengths = request.shot_frames()
    moves = choose_moves([shot.prompt for shot in request.shots], request.camera)
    if request.has_motion_brush:
        ctx.log(
            "motion: a storyboard moves the camera per shot; the motion brush is ignored", "WARN"
        )
    parts: list[Part] = []
    first = 0
    for number, (frames, move) in enumerate(zip(lengths, moves, strict=True), start=1):
        span = f"shot {number}/{len(lengths)}, frames {first}-{first + frames - 1} ({frames})"
        if number == len(lengths) and request.end_image is not None:
            parts.append(_into_end(start, request.end_image, width, height, frames, ctx))
            ctx.log(
                f"motion: {span}: a morph from the photo into the end image "
                f"(its move, {move.describe()}, is not made)"
            )
        else:
            parts.append(hold(start, move.motion, width, height, frames))
            ctx.log(f"motion: {span}: {move.describe()}")
        first += frames
    return Timeline(parts)


def _into_end(
    start: Image, end: Image, width: int, height: int, frames: int, ctx: RunContext
) -> Part:
    def build() -> TransitionRender:
        first = CoverFit.create(start.shape[1], start.shape[0], width, height).image(start)
        last = CoverFit.create(end.shape[1], end.shape[0], width, height).image(end)
        # Built when the shot starts: its line (which transition, and why) comes then.
        return TransitionRender(first, last, frames, ctx.log)

    return Part(frames, build)
