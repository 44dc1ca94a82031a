"""Avatars: a photo made to speak, with blinks and a little head motion.

The photo is fitted to the output size (scaled to cover it, centred), its largest face found
and measured once; every frame then starts from the same fitted photo: the mouth shaped to
the speech, the eyes blinked on the seeded schedule, the head swayed. The face's identity is
the photo's: only the lower face, the eyelids and the head's position move.
"""

from __future__ import annotations

from collections.abc import Iterator

from vidserve.engines.base import Image, RunContext
from vidserve.engines.faces import detect_faces, landmarks
from vidserve.engines.motion.fit import CoverFit
from vidserve.engines.talk.drive import MouthTrack
from vidserve.engines.talk.eyes import blink_times, closure, eye_meshes
from vidserve.engines.talk.face import animate_mouth, blink, mouth_drop
from vidserve.engines.talk.head import HeadMotion
from vidserve.engines.talk.lipsync import describe_face
from vidserve.engines.talk.mouth import MouthMesh
from vidserve.errors import InputError

IMAGE_LOC = ("body", "image_url")


class AvatarRender:
    """The frames of an avatar render of ``photo`` at ``width x height``."""

    def __init__(
        self, photo: Image, width: int, height: int, fps: int, track: MouthTrack, count: int,
        seed: int, ctx: RunContext,
    ) -> None:  # fmt: skip
        fit = CoverFit.create(photo.shape[1], photo.shape[0], width, height)
        self.base = fit.image(photo)
        faces = detect_faces(self.base)
        if not faces:
            raise InputError.at(
                IMAGE_LOC,
                "no face found in the image; an avatar needs a face turned toward the camera",
                "face_not_found",
            )
        ctx.log(describe_face(faces, "the image"))
        points = landmarks(self.base, faces[0])
        self.mouth = MouthMesh.build(points)
        self.eyes = eye_meshes(self.base, points)
        self.head = HeadMotion(points, width, height, seed)
        self.fps, self.track, self.count = fps, track, count
        self.blinks = blink_times(seed, count / fps)

    def frames(self) -> Iterator[Image]:
        """Exactly ``count`` rendered frames."""
        rest = self.mouth.gap / self.mouth.frame.width
        for index in range(self.count):
            t = index / self.fps
            openness, widen = self.track.at(index)
            out = self.base.copy()
            animate_mouth(out, self.base, self.mouth, mouth_drop(self.mouth, rest, openness),
                          widen)  # fmt: skip
            blink(out, self.eyes, closure(self.blinks, t))
            yield self.head.apply(out, t, openness)
