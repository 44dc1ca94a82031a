"""Input videos (MP4 or MOV, typed by content): probing, streaming frames, their audio, and
the rules an endpoint sets on them (:data:`LIPSYNC_VIDEO_RULES` for fal's lipsync).

Frames stream one at a time, never the whole clip in memory. A phone's rotation tag is
applied: sizes and frames are as the video is shown, not as it is stored. Call
:func:`check_video_input` before decoding frames; its size rules also bound the work.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Final, cast

import av
import numpy as np
from av.container import InputContainer

from vidserve.errors import InputError
from vidserve.media.audio import (
    DEFAULT_MAX_SECONDS,
    Audio,
    AudioInfo,
    Loc,
    Source,
    audio_info,
    decode_audio,
    open_media,
)
from vidserve.media.video import Frame

#: Demuxers a video input may be read with: FFmpeg's "mov" reads MP4 and MOV.
VIDEO_DEMUXERS: Final = ("mov",)
#: Decoders a video input may use.
VIDEO_CODECS: Final = frozenset(
    {"h264", "hevc", "mpeg4", "av1", "libdav1d", "vp9", "libvpx-vp9", "prores", "mjpeg"}
)
_MB: Final = 1024 * 1024
_UNREADABLE: Final = "file is not a readable video; send an MP4 or MOV file"


@dataclass(frozen=True)
class VideoInputInfo:
    """What :func:`open_video` reads from an input video, sizes as displayed."""

    width: int
    height: int
    fps: float
    num_frames: int
    #: The video stream's length in seconds.
    duration: float
    codec: str
    #: The file's size in bytes.
    size_bytes: int
    #: Counter-clockwise degrees (0, 90, 180 or 270) applied to stored frames for display.
    rotation: int = 0
    #: The first audio stream; None when the video is silent.
    audio: AudioInfo | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None


class VideoInput:
    """An MP4/MOV video from bytes or a local path; see :func:`open_video`.

    Each :meth:`frames` or :meth:`audio` call reads the file afresh, so they may be used in
    any order, and several times."""

    def __init__(self, source: Source, loc: Loc) -> None:
        self.source = source
        self.loc = loc
        self.info = _probe(source, loc)

    def frames(self) -> Iterator[Frame]:
        """Decode the video's frames one by one as RGB ``uint8`` ``(height, width, 3)``."""
        turns = self.info.rotation // 90
        index = 0
        with _open(self.source, self.loc) as container:
            try:
                for frame in container.decode(video=0):
                    rgb = cast(Frame, frame.to_ndarray(format="rgb24"))
                    yield np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb
                    index += 1
            except av.FFmpegError:
                raise _corrupt(self.loc, f"frame {index}", self.info.codec) from None

    def audio(
        self, *, sample_rate: int = 16000, max_seconds: float = DEFAULT_MAX_SECONDS
    ) -> Audio | None:
        """The video's audio track as mono :class:`Audio`, or None when it has none.

        An InputError at this video's ``loc`` when the track cannot be decoded."""
        if not self.info.has_audio:
            return None
        return decode_audio(self.source, self.loc, sample_rate=sample_rate, max_seconds=max_seconds)


def open_video(source: Source, loc: Loc) -> VideoInput:
    """Open and probe an MP4/MOV video (its bytes or a local path).

    Raises an InputError at ``loc`` (``video_load_error``) when the file is not an MP4/MOV
    video, has no video stream, uses a codec outside :data:`VIDEO_CODECS`, or its first
    frame cannot be decoded."""
    return VideoInput(source, loc)


def _probe(source: Source, loc: Loc) -> VideoInputInfo:
    size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
    with _open(source, loc) as container:
        if not container.streams.video:
            raise InputError.at(loc, "file has no video stream", "video_load_error")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if str(ctx.name) not in VIDEO_CODECS:
            raise InputError.at(
                loc,
                f"unsupported video codec {ctx.name}; use H.264, HEVC, AV1, VP9 or ProRes",
                "video_load_error",
            )
        rotation = _first_frame_rotation(container, loc, str(ctx.name))
        duration = _seconds(stream.duration, stream.time_base)
        if duration is None and container.duration is not None:
            duration = container.duration / av.time_base
        num_frames = int(stream.frames)
        if not num_frames:  # not in the header: count packets (no decoding)
            container.seek(0)
            num_frames = sum(1 for packet in container.demux(stream) if packet.size)
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if not fps and duration:
            fps = num_frames / duration
        width, height = int(ctx.width), int(ctx.height)
        if rotation in (90, 270):
            width, height = height, width
        return VideoInputInfo(
            width=width,
            height=height,
            fps=fps,
            num_frames=num_frames,
            duration=duration or 0.0,
            codec=str(ctx.name),
            size_bytes=size,
            rotation=rotation,
            audio=audio_info(container),
        )


def _open(source: Source, loc: Loc) -> InputContainer:
    return open_media(source, loc, VIDEO_DEMUXERS, _UNREADABLE, "video_load_error")


def _first_frame_rotation(container: InputContainer, loc: Loc, codec: str) -> int:
    """The display rotation, read from the first frame, which also shows it decodes."""
    try:
        frame = next(container.decode(video=0), None)
    except av.FFmpegError:
        raise _corrupt(loc, "its first frame", codec) from None
    if frame is None:
        raise InputError.at(loc, "video has no frames", "video_load_error")
    return int(round(frame.rotation / 90)) * 90 % 360


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if not value or time_base is None:
        return None
    return float(value * time_base)


def _corrupt(loc: Loc, where: str, codec: str) -> InputError:
    return InputError.at(
        loc, f"video is corrupt: {where} cannot be decoded ({codec})", "video_load_error"
    )


@dataclass(frozen=True)
class VideoRules:
    """An endpoint's limits on an input video; None leaves a limit out."""

    max_bytes: int | None = None
    min_seconds: float | None = None
    max_seconds: float | None = None
    #: Bounds on the width and on the height, each, in pixels (as displayed).
    min_side: int | None = None
    max_side: int | None = None
    min_fps: float | None = None
    max_fps: float | None = None
    #: Slack on the duration bounds: MP4 timestamps round, so "2 s" may read 1.999.
    duration_tolerance: float = 0.05


#: fal's lipsync video: ".mp4/.mov, ≤100MB, 2-60s, 720p/1080p only, width/height 720–1920px".
#: "720p/1080p only" is read as those pixel bounds (no side under 720p's 720, none over
#: 1080p's 1920), not as two exact sizes: fal's text gives no other numbers.
LIPSYNC_VIDEO_RULES: Final = VideoRules(
    max_bytes=100 * _MB, min_seconds=2, max_seconds=60, min_side=720, max_side=1920
)


def check_video_input(info: VideoInputInfo, loc: Loc, rules: VideoRules) -> None:
    """Raise one InputError listing every rule ``info`` breaks, each a detail at ``loc``
    with the rule and the video's numbers (the endpoint answers 422 with them)."""
    details = [
        {"loc": list(loc), "msg": msg, "type": type_} for msg, type_ in _broken_rules(info, rules)
    ]
    if details:
        raise InputError(details)


def _broken_rules(info: VideoInputInfo, rules: VideoRules) -> Iterator[tuple[str, str]]:
    if rules.max_bytes is not None and info.size_bytes > rules.max_bytes:
        yield (
            f"video is {info.size_bytes / _MB:.1f} MB; the limit is {rules.max_bytes / _MB:g} MB",
            "video_too_large",
        )
    slack = rules.duration_tolerance
    if rules.min_seconds is not None and info.duration < rules.min_seconds - slack:
        yield (
            f"video is {info.duration:.2f} s long; it must be at least {rules.min_seconds:g} s",
            "video_too_short",
        )
    if rules.max_seconds is not None and info.duration > rules.max_seconds + slack:
        yield (
            f"video is {info.duration:.2f} s long; it must be at most {rules.max_seconds:g} s",
            "video_too_long",
        )
    for name, value in (("width", info.width), ("height", info.height)):
        low, high = rules.min_side, rules.max_side
        if (low is not None and value < low) or (high is not None and value > high):
            yield (
                f"video {name} is {value} px ({info.width}x{info.height}); "
                f"it must be {_range(low, high, 'px')}",
                f"video_{name}_out_of_range",
            )
    low_fps, high_fps = rules.min_fps, rules.max_fps
    if (low_fps is not None and info.fps < low_fps) or (
        high_fps is not None and info.fps > high_fps
    ):
        yield (
            f"video frame rate is {info.fps:.3g} fps; "
            f"it must be {_range(low_fps, high_fps, 'fps')}",
            "video_fps_out_of_range",
        )


def _range(low: float | None, high: float | None, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low:g} to {high:g} {unit}"
    return f"at least {low:g} {unit}" if low is not None else f"at most {high:g} {unit}"
