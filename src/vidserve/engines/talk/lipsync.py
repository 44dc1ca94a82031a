"""Lipsync: a video's face made to say new speech, frame by frame as the video streams.

Before rendering, frames are searched (one every half second) for a face; the first found
decides which face is animated (the largest, logged when there are several) and a video
with none is refused at ``video_url``. Then each frame is decoded, fitted to the output size,
the face tracked (:class:`~vidserve.engines.faces.FaceTracker`), and its mouth re-shaped to
the speech's track. Frames where the face is lost pass through unchanged. A video shorter
than the output (its frame rate rounded, say) holds its last frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

from vidserve.engines.base import Image, RunContext
from vidserve.engines.faces import Face, FaceTracker, detect_faces
from vidserve.engines.motion.fit import CoverFit
from vidserve.engines.talk.drive import MouthTrack
from vidserve.engines.talk.face import animate_mouth, mouth_drop
from vidserve.engines.talk.mouth import MouthMesh
from vidserve.errors import InputError
from vidserve.media.video_input import VideoInput, open_video

VIDEO_LOC = ("body", "video_url")
#: Seconds between frames searched for a face before rendering.
_SEARCH_EVERY = 0.5


def open_input(path: Path) -> VideoInput:
    """The request's video (an InputError at ``video_url`` when it cannot be read)."""
    return open_video(path, VIDEO_LOC)


def describe_face(faces: list[Face], where: str) -> str:
    """A log line naming the face animated among ``faces`` (largest first)."""
    face = faces[0]
    x0, y0, _, _ = face.box
    chosen = f"{face.width:.0f}x{face.height:.0f} px at ({x0:.0f}, {y0:.0f})"
    if len(faces) == 1:
        return f"talk: a face in {where}: {chosen}"
    return f"talk: {len(faces)} faces in {where}; animating the largest, {chosen}"


class LipsyncRender:
    """The frames of a lipsync render of ``video`` at ``width x height``."""

    def __init__(
        self, video: VideoInput, width: int, height: int, track: MouthTrack, count: int
    ) -> None:
        self.video = video
        self.width, self.height = width, height
        self.track = track
        self.count = count
        info = video.info
        self.fit = CoverFit.create(info.width, info.height, width, height)
        self.fps = info.fps or 25.0
        self.lost = 0

    def _fitted(self, frame: Image) -> Image:
        if frame.shape[:2] == (self.height, self.width):
            return frame
        return self.fit.image(frame)

    def find_face(self, ctx: RunContext) -> None:
        """Search the video for a face; log which is animated; an InputError at
        ``video_url`` when no searched frame has one."""
        step = max(1, round(self.fps * _SEARCH_EVERY))
        for index, frame in enumerate(self.video.frames()):
            if index % step:
                continue
            ctx.check_cancelled()
            faces = detect_faces(self._fitted(frame))
            if faces:
                ctx.log(describe_face(faces, f"frame {index}"))
                return
        raise InputError.at(
            VIDEO_LOC,
            f"no face found in the video (searched a frame every {_SEARCH_EVERY:g} s); "
            "lipsync needs a face turned toward the camera",
            "face_not_found",
        )

    def frames(self) -> Iterator[Image]:
        """Exactly ``count`` rendered frames, the input streamed."""
        tracker = FaceTracker(self.fps)
        rest = math.inf
        last: Image | None = None
        mesh: MouthMesh | None = None
        source = self.video.frames()
        for index in range(self.count):
            decoded = next(source, None)
            if decoded is not None:
                last = self._fitted(decoded)
            elif last is None:
                raise InputError.at(VIDEO_LOC, "video has no frames", "video_load_error")
            frame = last
            tracked = tracker.update(frame)
            if tracked is None:
                self.lost += 1
                mesh = None
                yield frame
                continue
            mesh = MouthMesh.build(tracked.points, mesh)
            rest = min(rest, mesh.gap / mesh.frame.width)
            openness, widen = self.track.at(index)
            out = frame.copy()
            animate_mouth(out, frame, mesh, mouth_drop(mesh, rest, openness), widen)
            yield out
