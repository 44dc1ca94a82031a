"""Effect scenes: a named deformation or overlay on one photo, or two photos coming together.

========================  ======  =============================================================
scene                     photos  what a viewer sees
========================  ======  =============================================================
``squish``                1       the subject is flattened onto its base (half its height,
                                  a little wider) (:mod:`.deform`)
``expansion``             1       the subject inflates like a balloon, 1.5x and more in the
                                  middle (:mod:`.deform`)
``dizzydizzy``            1       the picture twists into a swirl about its centre, turning
                                  ever further (:mod:`.deform`)
``bloombloom``            1       flowers grow and open over the photo (:mod:`.bloom`)
``fuzzyfuzzy``            1       fur grows over the subject (:mod:`.fur`)
``hug``, ``kiss``         2       the photos slide together and join (:mod:`.pairs`)
``heart_gesture``         2       the same, and a heart pops up between them (:mod:`.pairs`)
========================  ======  =============================================================

Each clip opens on the photo (two photos: side by side). The photos are
``reference_images`` in the request's order, or the start image when there are none; each is
cover-fitted to the output. Seeded scenes (bloombloom, fuzzyfuzzy) use the request's seed.
"""

from __future__ import annotations

from collections.abc import Callable

from vidserve.engines.base import Image, RunContext, VideoRequest
from vidserve.engines.motion.bloom import BloomRender
from vidserve.engines.motion.deform import DEFORM_BY, DeformRender, expansion, squish, swirl
from vidserve.engines.motion.fit import CoverFit
from vidserve.engines.motion.fur import FurRender
from vidserve.engines.motion.pairs import SCENES, PairRender
from vidserve.engines.motion.sequence import FrameSource
from vidserve.engines.motion.subject import find_subject
from vidserve.errors import EngineError

#: A one-photo scene: (fitted photo, number of frames, seed) -> its frames.
Scene = Callable[[Image, int, int], FrameSource]


def _squish(photo: Image, frames: int, seed: int) -> FrameSource:
    height, width = photo.shape[:2]
    return DeformRender(photo, squish(find_subject(photo), width, height), frames, DEFORM_BY)


def _expansion(photo: Image, frames: int, seed: int) -> FrameSource:
    height, width = photo.shape[:2]
    return DeformRender(photo, expansion(find_subject(photo), width, height), frames, DEFORM_BY)


def _dizzy(photo: Image, frames: int, seed: int) -> FrameSource:
    height, width = photo.shape[:2]
    return DeformRender(photo, swirl(width, height), frames)


SINGLE_SCENES: dict[str, Scene] = {
    "squish": _squish,
    "expansion": _expansion,
    "dizzydizzy": _dizzy,
    "bloombloom": BloomRender,
    "fuzzyfuzzy": FurRender,
}
#: Every scene this engine renders (the registry's ``MOTION_EFFECTS`` lists the same).
EFFECT_SCENES = frozenset(SINGLE_SCENES) | frozenset(SCENES)


def effect_source(request: VideoRequest, ctx: RunContext) -> tuple[FrameSource, str]:
    """The renderer for ``request``'s effect scene, and the mode's name for the log."""
    scene = request.effect
    if scene is None:
        raise EngineError(
            "an effects request names no effect scene; the motion engine renders "
            f"{', '.join(sorted(EFFECT_SCENES))}",
            "unsupported_input",
        )
    if scene not in EFFECT_SCENES:
        raise EngineError(
            f"the motion engine has no effect scene {scene!r}; it renders "
            f"{', '.join(sorted(EFFECT_SCENES))}",
            "unsupported_input",
        )
    photos = list(request.reference_images)
    if not photos and request.start_image is not None:
        photos = [request.start_image]
    needed = 2 if scene in SCENES else 1
    if len(photos) != needed:
        raise EngineError(
            f"the {scene} effect takes {needed} photo{'s' if needed > 1 else ''}; got "
            f"{len(photos)}",
            "unsupported_input",
        )
    for unused, name in ((request.camera is not None, "camera control"),
                         (request.has_motion_brush, "motion brush"),
                         (request.end_image is not None, "end image"),
                         (bool(request.shots), "storyboard")):  # fmt: skip
        if unused:
            ctx.log(f"motion: the {scene} effect ignores the {name}", "WARN")
    width, height, frames = request.width, request.height, request.num_frames
    seed = (request.seed or 0) % 2**64  # numpy's generators take no negative seed
    if needed == 2:
        pair = PairRender(photos[0], photos[1], width, height, frames, SCENES[scene])
        return pair, f"the {scene} effect on two photos"
    photo = CoverFit.create(photos[0].shape[1], photos[0].shape[0], width, height).image(photos[0])
    return SINGLE_SCENES[scene](photo, frames, seed), f"the {scene} effect"
