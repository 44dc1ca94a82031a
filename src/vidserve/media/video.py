"""Streaming H.264/MP4 encoding on PyAV, and a small probe for tests and checks.

:class:`VideoWriter` encodes on a background thread fed through a small bounded queue, so a
renderer and the encoder run in parallel (OpenCV and libx264 both release the GIL) and a clip
is never held in memory whole. Given an :class:`~vidserve.media.audio.Audio`, it also writes
an AAC track, interleaved with the frames as they are encoded.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, cast, get_args

import av
import cv2
import numpy as np
import numpy.typing as npt

from vidserve.media.audio import Audio, AudioInfo, audio_info, encode_samples, resample

#: An RGB image, ``uint8`` of shape ``(height, width, 3)`` (the engines' ``Image``).
Frame = npt.NDArray[np.uint8]

_QUEUE_SIZE: Final = 8
_STOP: Final = object()

# H.264 VUI colour tags (ISO/IEC 23091-2 code points), so players convert back as we did:
# OpenCV's RGB -> YUV below is BT.601 limited range (matrix 6, range 1); the RGB is sRGB,
# whose primaries and (near enough) transfer are BT.709's (1).
_COLOUR_TAGS: Final = {"colorspace": 6, "color_range": 1, "color_primaries": 1, "color_trc": 1}

#: The audio track: mono AAC-LC at 48 kHz (what players and browsers expect of MP4).
AUDIO_RATE: Final = 48000
AUDIO_BIT_RATE: Final = 128_000
#: How the audio track's length relates to the video's: ``keep`` the audio's own length
#: (the default), ``pad`` it with silence up to the video's end, ``trim`` it at the video's
#: end, or ``match`` the video exactly (pad and trim).
AudioFit = Literal["keep", "pad", "trim", "match"]


@functools.cache
def _x264_params() -> dict[str, str]:
    """Options that keep libx264's output the same for the same frames.

    On CPUs with AVX-512 (seen on AMD EPYC virtual machines), x264's AVX-512 code gave a
    different bitstream from run to run for identical frames and settings, in most runs of
    a busy process; with its instruction sets capped at AVX2 (which every AVX-512 CPU has)
    the output is the same every time, and the same as with no assembly at all."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            avx512 = any(line.startswith("flags") and " avx512f" in line for line in info)
    except OSError:  # not Linux: x264 picks its code as it likes
        return {}
    return {"x264-params": "asm=AVX2"} if avx512 else {}


class EncoderError(RuntimeError):
    """The encoder thread failed; the original error is the ``__cause__``."""


class VideoWriter:
    """Write RGB frames to an H.264 MP4 (yuv420p, ``+faststart``) while they are produced.

    ``write`` hands a frame to the encoder thread and returns at once unless
    ``_QUEUE_SIZE`` frames are already waiting. The writer keeps a reference to each frame
    until it is encoded: do not modify a frame after writing it. An error in the encoder
    thread is raised by the next ``write`` or ``close``. Leaving a ``with`` block by an
    exception calls :meth:`abort`, which deletes the partial file.

    Output bytes are reproducible: libx264 runs with a fixed thread count (its frame threads
    produce the same bitstream for the same thread count), without its AVX-512 code (see
    :func:`_x264_params`) and with no clock-derived metadata.

    With ``audio``, the file gets a second stream, mono AAC at :data:`AUDIO_RATE`. Audio and
    video both start at 0; after each frame the audio up to that frame's end is encoded, so
    the two are interleaved as they are written. The audio keeps its own length unless
    ``audio_fit`` says otherwise (see :data:`AudioFit`). Without ``audio`` the file is the
    same, byte for byte, as before audio existed.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: int,
        *,
        crf: int = 20,
        preset: str = "veryfast",
        threads: int = 2,
        audio: Audio | None = None,
        audio_fit: AudioFit = "keep",
    ) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"yuv420p needs a positive, even size; got {width}x{height}")
        if fps <= 0:
            raise ValueError(f"fps must be positive; got {fps}")
        if audio_fit not in get_args(AudioFit):
            raise ValueError(f"audio_fit must be one of {get_args(AudioFit)}; got {audio_fit!r}")
        self.path = Path(path)
        self.width = width
        self.height = height
        self.fps = fps
        self.num_frames = 0
        self._time_base = Fraction(1, fps)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_SIZE)
        self._error: BaseException | None = None
        self._aborting = threading.Event()
        self._state: Literal["open", "closing", "closed", "aborted"] = "open"
        # Resampled once up front: a minute at 48 kHz is 11 MB, small beside the frames.
        self._audio = None if audio is None else resample(audio, AUDIO_RATE).samples
        self._audio_fit = audio_fit
        self._audio_sent = 0  # samples handed to the AAC encoder so far
        self._audio_stream: av.AudioStream | None = None
        self._container = av.open(
            str(self.path), mode="w", format="mp4", container_options={"movflags": "+faststart"}
        )
        try:
            self._stream = self._add_stream(crf, preset, threads)
            if self._audio is not None:
                self._audio_stream = self._add_audio_stream()
        except BaseException:
            self._container.close()
            self.path.unlink(missing_ok=True)
            raise
        self._thread = threading.Thread(target=self._run, name="vidserve-encoder", daemon=True)
        self._thread.start()

    def _add_stream(self, crf: int, preset: str, threads: int) -> av.VideoStream:
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width = self.width
        stream.height = self.height
        stream.pix_fmt = "yuv420p"
        # 1/fps makes every frame last exactly one tick: duration == num_frames / fps.
        stream.time_base = self._time_base
        stream.codec_context.thread_count = threads
        for name, value in _COLOUR_TAGS.items():
            setattr(stream.codec_context, name, value)
        stream.options = {"crf": str(crf), "preset": preset, **_x264_params()}
        return stream

    def _add_audio_stream(self) -> av.AudioStream:
        stream = self._container.add_stream("aac", rate=AUDIO_RATE)
        stream.layout = "mono"
        stream.codec_context.bit_rate = AUDIO_BIT_RATE
        return stream

    def write(self, frame: Frame) -> None:
        """Queue one RGB ``uint8`` frame of shape ``(height, width, 3)``; blocks when full."""
        self._raise_if_failed()
        if self._state != "open":
            raise ValueError(f"write to a {self._state} VideoWriter")
        expected = (self.height, self.width, 3)
        if frame.shape != expected or frame.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 {expected}; got {frame.dtype} {tuple(frame.shape)}"
            )
        self._queue.put(frame)
        self.num_frames += 1

    def close(self) -> None:
        """Flush the encoder, finish the file and raise any error the encoder met."""
        if self._state == "open":
            self._state = "closing"
            self._queue.put(_STOP)
            self._thread.join()
            if self._error is None:
                try:
                    self._container.close()
                except BaseException:
                    self._state = "aborted"
                    self.path.unlink(missing_ok=True)
                    raise
                self._state = "closed"
            else:
                self._state = "aborted"
                self._discard()
        self._raise_if_failed()

    def abort(self) -> None:
        """Stop encoding, drop queued frames and delete the partial file.

        Does nothing after a successful :meth:`close`; never raises an encoder error.
        """
        if self._state in ("closed", "aborted"):
            return
        self._aborting.set()
        if self._state == "open":
            # The encoder thread drains the queue once aborting, so this put cannot hang.
            self._queue.put(_STOP)
        self._state = "aborted"
        self._thread.join()
        self._discard()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise EncoderError(f"video encoder failed: {self._error}") from self._error

    def _discard(self) -> None:
        with contextlib.suppress(Exception):
            self._container.close()
        self.path.unlink(missing_ok=True)

    def _run(self) -> None:
        index = 0
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            if self._error is not None or self._aborting.is_set():
                continue  # keep draining so a blocked ``write`` can return and see the error
            try:
                self._encode(cast(Frame, item), index)
                index += 1
            except BaseException as exc:  # handed to the caller, not lost
                self._error = exc
        if self._error is None and not self._aborting.is_set():
            try:
                self._mux(None)
                self._finish_audio(index)
            except BaseException as exc:
                self._error = exc

    def _encode(self, rgb: Frame, index: int) -> None:
        # OpenCV's conversion is faster than swscale's and releases the GIL.
        yuv = cast(Frame, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420))
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = index
        frame.time_base = self._time_base
        self._mux(frame)
        if self._audio is not None:
            # The audio up to this frame's end (never past the audio's own end).
            end = min(self._audio.shape[0], (index + 1) * AUDIO_RATE // self.fps)
            self._send_audio(self._audio[self._audio_sent : end], flush=False)

    def _mux(self, frame: av.VideoFrame | None) -> None:
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _finish_audio(self, num_frames: int) -> None:
        """Encode the rest of the audio, fitted to the video's length as asked, and flush."""
        if self._audio is None:
            return
        video_end = num_frames * AUDIO_RATE // self.fps
        end = self._audio.shape[0]
        if self._audio_fit in ("trim", "match"):
            end = min(end, video_end)
        rest = self._audio[self._audio_sent : end]
        if self._audio_fit in ("pad", "match") and end < video_end:
            rest = np.concatenate([rest, np.zeros(video_end - end, np.float32)])
        self._send_audio(rest, flush=True)

    def _send_audio(self, samples: npt.NDArray[np.float32], *, flush: bool) -> None:
        if self._audio_stream is None:
            return
        for packet in encode_samples(self._audio_stream, samples, self._audio_sent, flush):
            self._container.mux(packet)
        self._audio_sent += samples.shape[0]


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` reads from a video file.

    ``duration`` is the file's (its longest stream's); the video stream alone lasts
    ``num_frames / fps``, and the audio stream's own length is ``audio.duration``."""

    width: int
    height: int
    fps: float
    num_frames: int
    duration: float
    codec: str
    pix_fmt: str
    #: The first audio stream; None when the file has none.
    audio: AudioInfo | None = None


def probe(path: str | Path) -> VideoInfo:
    """Read size, rate, frame count, duration, codec and pixel format of a video file, and
    its audio stream's codec, rate and duration."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        num_frames = int(stream.frames)
        if num_frames == 0:
            num_frames = sum(1 for _ in container.decode(stream))
        duration = 0.0
        if container.duration is not None:
            duration = container.duration / av.time_base
        elif stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        ctx = stream.codec_context
        return VideoInfo(
            width=int(ctx.width),
            height=int(ctx.height),
            fps=float(stream.average_rate or 0),
            num_frames=num_frames,
            duration=duration,
            codec=str(ctx.name),
            pix_fmt=str(ctx.pix_fmt),
            audio=audio_info(container),
        )


def read_frames(path: str | Path) -> list[Frame]:
    """Decode every frame of a video as RGB ``uint8`` arrays (for tests and small clips)."""
    with av.open(str(path)) as container:
        return [
            cast(Frame, frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)
        ]


def thumbnail(path: str | Path, quality: int = 85) -> bytes | None:
    """A JPEG of the video's first frame, at its size; None when no frame decodes."""
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0), None)
            bgr = None if frame is None else frame.to_ndarray(format="bgr24")
    except av.FFmpegError:
        return None
    if bgr is None:
        return None
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return bytes(data) if ok else None
