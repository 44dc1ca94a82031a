"""Input videos: probing MP4/MOV (bytes or path), streaming frames, rotation, extracting the
audio, refusals, and each of fal's lipsync rules as a 422 detail. Clips are made here with
PyAV directly."""

from __future__ import annotations

import io
import types
import weakref
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest
from media_signals import encode_as, speech_like, syllable_frames
from test_video import moving_gradient, psnr

from vidserve.errors import InputError
from vidserve.media.audio import loudness_envelope
from vidserve.media.video_input import (
    LIPSYNC_VIDEO_RULES,
    VideoInputInfo,
    VideoRules,
    check_video_input,
    open_video,
)

Frame = npt.NDArray[np.uint8]
LOC = ("body", "video_url")
MB = 1024 * 1024


def marked(width: int, height: int, index: int) -> Frame:
    """A gradient with a white block in its top-left corner, to see where "up" went."""
    frame = moving_gradient(width, height, index)
    frame[:8, :8] = 255
    return frame


def make_clip(
    container_format: str,
    codec: str,
    size: tuple[int, int],
    fps: int,
    count: int,
    *,
    audio: npt.NDArray[np.float32] | None = None,
    rotation: int = 0,
) -> tuple[bytes, list[Frame]]:
    """A clip in memory; ``audio`` (mono, 48 kHz) is added as AAC."""
    width, height = size
    frames = [marked(width, height, i) for i in range(count)]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        video: Any = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound: Any = None
        if audio is not None:
            sound = container.add_stream("aac", rate=48000)
            sound.layout = "mono"
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None and audio is not None:
            chunk = av.AudioFrame.from_ndarray(audio[None, :], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 48000, 0, Fraction(1, 48000)
            container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return buffer.getvalue(), frames


def test_probe_an_mp4_with_audio_from_bytes() -> None:
    data, _ = make_clip("mp4", "libx264", (160, 96), 25, 50, audio=speech_like(2.0))
    info = open_video(data, LOC).info
    assert (info.width, info.height, info.num_frames, info.codec) == (160, 96, 50, "h264")
    assert info.fps == pytest.approx(25)
    assert info.duration == pytest.approx(2.0, abs=1e-3)
    assert info.size_bytes == len(data)
    assert info.rotation == 0
    assert info.has_audio and info.audio is not None
    assert (info.audio.codec, info.audio.sample_rate) == ("aac", 48000)
    assert info.audio.duration == pytest.approx(2.0, abs=1e-3)


def test_probe_a_mov_from_a_path(tmp_path: Path) -> None:
    data, _ = make_clip("mov", "mpeg4", (128, 72), 30, 15)
    path = tmp_path / "clip.mov"
    path.write_bytes(data)
    video = open_video(path, LOC)
    info = video.info
    assert (info.width, info.height, info.num_frames, info.codec) == (128, 72, 15, "mpeg4")
    assert info.fps == pytest.approx(30)
    assert info.duration == pytest.approx(0.5, abs=1e-3)
    assert info.size_bytes == len(data)
    assert not info.has_audio
    assert video.audio() is None


def test_frames_stream_one_by_one_as_rgb() -> None:
    data, originals = make_clip("mp4", "libx264", (96, 64), 24, 12)
    video = open_video(data, LOC)
    frames = video.frames()
    assert isinstance(frames, types.GeneratorType)
    first = next(frames)
    assert first.dtype == np.uint8 and first.shape == (64, 96, 3)
    decoded = [first, *frames]
    assert len(decoded) == 12
    for original, back in zip(originals, decoded, strict=True):
        assert psnr(original, back) > 30
    assert len(list(video.frames())) == 12  # again, from the start


def test_streaming_never_holds_the_clip() -> None:
    """Frames the caller has let go of are freed while the stream goes on."""
    data, _ = make_clip("mp4", "libx264", (160, 120), 30, 60)
    seen: list[weakref.ref[Frame]] = []
    most_alive = 0
    for frame in open_video(data, LOC).frames():
        seen.append(weakref.ref(frame))
        del frame  # arrays are freed by reference counting, no collection needed
        most_alive = max(most_alive, sum(ref() is not None for ref in seen))
    assert len(seen) == 60
    assert most_alive <= 2


def test_a_rotated_phone_video_is_read_as_shown() -> None:
    data, originals = make_clip("mov", "libx264", (96, 64), 24, 3, rotation=90)
    video = open_video(data, LOC)
    assert (video.info.width, video.info.height, video.info.rotation) == (64, 96, 90)
    first = next(video.frames())
    shown = np.rot90(originals[0], 1)  # 90 degrees counter-clockwise
    assert first.shape == (96, 64, 3)
    assert psnr(shown, first) > 30
    assert first[-4:, :4].min() > 200  # the top-left mark is now bottom-left


def test_extract_audio() -> None:
    data, _ = make_clip("mp4", "libx264", (96, 64), 25, 50, audio=speech_like(2.0))
    audio = open_video(data, LOC).audio(sample_rate=16000)
    assert audio is not None
    assert audio.sample_rate == 16000
    assert audio.duration == pytest.approx(2.0, abs=1e-3)
    envelope = loudness_envelope(audio, 25)
    peaks, gaps = syllable_frames(2.0, 25)
    assert min(envelope[peaks]) > 0.6 and max(envelope[gaps]) < 0.05


def test_extracted_audio_obeys_its_limit() -> None:
    data, _ = make_clip("mp4", "libx264", (96, 64), 25, 10, audio=speech_like(2.0))
    with pytest.raises(InputError) as caught:
        open_video(data, LOC).audio(max_seconds=1.0)
    assert caught.value.details[0]["type"] == "audio_too_long"
    assert caught.value.details[0]["loc"] == list(LOC)


@pytest.mark.parametrize(
    ("make", "type_", "words"),
    [
        (lambda: b"", "file_empty", "file is empty"),
        (lambda: b"not a video at all " * 50, "video_load_error", "not a readable video"),
        (lambda: encode_as("wav", speech_like(0.5)), "video_load_error", "not a readable video"),
        (lambda: encode_as("m4a", speech_like(0.5)), "video_load_error", "no video stream"),
        (
            lambda: make_clip("webm", "libvpx-vp9", (64, 48), 10, 3)[0],
            "video_load_error",
            "not a readable video",
        ),
    ],
    ids=["empty", "text", "wav", "m4a-audio-only", "webm"],
)
def test_what_is_not_an_mp4_or_mov_video_is_refused(make: Any, type_: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        open_video(make(), LOC)
    [detail] = caught.value.details
    assert detail["loc"] == list(LOC)
    assert detail["type"] == type_
    assert words in detail["msg"]


def test_a_corrupt_video_is_refused() -> None:
    data, _ = make_clip("mp4", "libx264", (96, 64), 24, 12)
    start, end = data.index(b"mdat") + 4, data.index(b"moov") - 4  # the coded frames
    broken = data[:start] + np.random.default_rng(2).bytes(end - start) + data[end:]
    with pytest.raises(InputError) as caught:
        open_video(broken, LOC)
    assert caught.value.details == [
        {
            "loc": list(LOC),
            "msg": "video is corrupt: its first frame cannot be decoded (h264)",
            "type": "video_load_error",
        }
    ]


def info_of(**changes: Any) -> VideoInputInfo:
    """A clip that passes the lipsync rules, with ``changes``."""
    fields: dict[str, Any] = {
        "width": 1280,
        "height": 720,
        "fps": 30.0,
        "num_frames": 150,
        "duration": 5.0,
        "codec": "h264",
        "size_bytes": 10 * MB,
    }
    return VideoInputInfo(**(fields | changes))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"width": 1920, "height": 1080},
        {"width": 720, "height": 1280},
        {"width": 1080, "height": 1920},
        {"width": 720, "height": 720},
        {"duration": 2.0},
        {"duration": 1.98},  # MP4 rounding
        {"duration": 60.0},
        {"size_bytes": 100 * MB},
    ],
)
def test_lipsync_rules_accept(changes: dict[str, Any]) -> None:
    check_video_input(info_of(**changes), LOC, LIPSYNC_VIDEO_RULES)


@pytest.mark.parametrize(
    ("changes", "type_", "msg"),
    [
        (
            {"size_bytes": 101 * MB},
            "video_too_large",
            "video is 101.0 MB; the limit is 100 MB",
        ),
        ({"duration": 1.5}, "video_too_short", "video is 1.50 s long; it must be at least 2 s"),
        ({"duration": 61.0}, "video_too_long", "video is 61.00 s long; it must be at most 60 s"),
        (
            {"width": 640, "height": 720},
            "video_width_out_of_range",
            "video width is 640 px (640x720); it must be 720 to 1920 px",
        ),
        (
            {"width": 1280, "height": 2000},
            "video_height_out_of_range",
            "video height is 2000 px (1280x2000); it must be 720 to 1920 px",
        ),
    ],
)
def test_each_lipsync_rule_is_a_detail(changes: dict[str, Any], type_: str, msg: str) -> None:
    with pytest.raises(InputError) as caught:
        check_video_input(info_of(**changes), LOC, LIPSYNC_VIDEO_RULES)
    assert caught.value.details == [{"loc": list(LOC), "msg": msg, "type": type_}]
    assert str(caught.value) == f"video_url: {msg}"


def test_every_broken_rule_is_listed() -> None:
    info = info_of(width=3840, height=2160, duration=75.0, size_bytes=300 * MB)
    with pytest.raises(InputError) as caught:
        check_video_input(info, LOC, LIPSYNC_VIDEO_RULES)
    assert [d["type"] for d in caught.value.details] == [
        "video_too_large",
        "video_too_long",
        "video_width_out_of_range",
        "video_height_out_of_range",
    ]
    assert all(d["loc"] == list(LOC) for d in caught.value.details)


def test_other_rules_frame_rate_and_open_bounds() -> None:
    rules = VideoRules(min_fps=24, max_fps=60, max_side=2160)
    check_video_input(info_of(fps=24.0, width=3840 // 2), LOC, rules)
    with pytest.raises(InputError) as caught:
        check_video_input(info_of(fps=15.0, width=3840), LOC, rules)
    assert [d["msg"] for d in caught.value.details] == [
        "video width is 3840 px (3840x720); it must be at most 2160 px",
        "video frame rate is 15 fps; it must be 24 to 60 fps",
    ]


def test_a_real_small_clip_breaks_the_lipsync_rules() -> None:
    data, _ = make_clip("mp4", "libx264", (160, 96), 25, 25)
    with pytest.raises(InputError) as caught:
        check_video_input(open_video(data, LOC).info, LOC, LIPSYNC_VIDEO_RULES)
    assert [d["msg"] for d in caught.value.details] == [
        "video is 1.00 s long; it must be at least 2 s",
        "video width is 160 px (160x96); it must be 720 to 1920 px",
        "video height is 96 px (160x96); it must be 720 to 1920 px",
    ]
