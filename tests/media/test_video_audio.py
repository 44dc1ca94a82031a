"""VideoWriter with an audio track: both streams, their lengths and starts, interleaving,
audio_fit, sync, and the unchanged file when no audio is given."""

from __future__ import annotations

import hashlib
from itertools import groupby
from pathlib import Path

import av
import numpy as np
import pytest
from media_signals import speech_like, syllable_frames
from test_video import moving_gradient, write_clip

from vidserve.media.audio import Audio, decode_audio, loudness_envelope
from vidserve.media.video import AUDIO_RATE, AudioFit, VideoWriter, probe

W, H = 96, 64


def write_with_audio(
    path: Path, fps: int, count: int, audio: Audio, fit: AudioFit = "keep"
) -> None:
    with VideoWriter(path, W, H, fps, audio=audio, audio_fit=fit) as writer:
        for i in range(count):
            writer.write(moving_gradient(W, H, i))


def speech(seconds: float, rate: int = 16000) -> Audio:
    return Audio(speech_like(seconds, rate=rate), rate)


@pytest.mark.parametrize(("fps", "count", "seconds"), [(24, 24, 1.0), (25, 30, 1.37)])
def test_probe_shows_both_streams_starting_at_zero(
    tmp_path: Path, fps: int, count: int, seconds: float
) -> None:
    path = tmp_path / "talk.mp4"
    write_with_audio(path, fps, count, speech(seconds))
    info = probe(path)
    assert (info.width, info.height, info.num_frames, info.codec) == (W, H, count, "h264")
    assert info.audio is not None
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("aac", 48000, 1)
    # The audio keeps its own length (the file lasts as long as its longer stream).
    assert info.audio.duration == pytest.approx(seconds, abs=1 / fps)
    assert info.duration == pytest.approx(max(seconds, count / fps), abs=1 / fps)
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.start_time == 0 and audio.start_time == 0
        assert video.duration is not None and video.time_base is not None
        assert float(video.duration * video.time_base) == pytest.approx(count / fps, abs=1e-3)


def test_audio_decodes_back_in_sync(tmp_path: Path) -> None:
    path = tmp_path / "talk.mp4"
    write_with_audio(path, 25, 50, speech(2.0))
    back = decode_audio(path, ("video",))
    assert back.duration == pytest.approx(2.0, abs=1e-3)
    envelope = loudness_envelope(back, 25)
    peaks, gaps = syllable_frames(2.0, 25)
    assert min(envelope[peaks]) > 0.6 and max(envelope[gaps]) < 0.05


def test_packets_are_interleaved(tmp_path: Path) -> None:
    path = tmp_path / "talk.mp4"
    write_with_audio(path, 24, 48, speech(2.0))
    with av.open(str(path)) as container:
        kinds = [p.stream.type for p in container.demux() if p.size]
    runs = [(kind, len(list(group))) for kind, group in groupby(kinds)]
    # 48 kHz at 24 fps is 2000 samples a frame, about two AAC packets of 1024; the last
    # few come out of the AAC encoder only when it is flushed.
    assert max(n for _, n in runs[:-1]) <= 4
    assert runs[-1][1] <= 8
    assert kinds.count("audio") == pytest.approx(2.0 * AUDIO_RATE / 1024, abs=2)


@pytest.mark.parametrize(
    ("fit", "seconds", "expected"),
    [
        ("keep", 0.6, 0.6),
        ("keep", 1.5, 1.5),
        ("pad", 0.6, 1.0),
        ("pad", 1.5, 1.5),
        ("trim", 0.6, 0.6),
        ("trim", 1.5, 1.0),
        ("match", 0.6, 1.0),
        ("match", 1.5, 1.0),
    ],
)
def test_audio_fit(tmp_path: Path, fit: AudioFit, seconds: float, expected: float) -> None:
    path = tmp_path / "talk.mp4"
    write_with_audio(path, 24, 24, speech(seconds), fit)
    info = probe(path)
    assert info.audio is not None
    assert info.audio.duration == pytest.approx(expected, abs=1e-3)
    assert decode_audio(path, ("video",)).duration == pytest.approx(expected, abs=1e-3)


def test_no_audio_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    write_clip(tmp_path / "plain.mp4", 160, 90, 24, 10)
    with VideoWriter(tmp_path / "none.mp4", 160, 90, 24, audio=None) as writer:
        for i in range(10):
            writer.write(moving_gradient(160, 90, i))
    plain = (tmp_path / "plain.mp4").read_bytes()
    assert plain == (tmp_path / "none.mp4").read_bytes()
    info = probe(tmp_path / "plain.mp4")
    assert info.audio is None
    with av.open(str(tmp_path / "plain.mp4")) as container:
        assert len(container.streams) == 1


def test_same_frames_and_audio_give_same_bytes(tmp_path: Path) -> None:
    digests = set()
    for run in range(3):
        write_with_audio(tmp_path / f"{run}.mp4", 24, 12, speech(0.7))
        digests.add(hashlib.sha256((tmp_path / f"{run}.mp4").read_bytes()).hexdigest())
    assert len(digests) == 1


def test_faststart_with_audio(tmp_path: Path) -> None:
    path = tmp_path / "talk.mp4"
    write_with_audio(path, 24, 12, speech(0.5))
    data = path.read_bytes()
    assert 0 <= data.index(b"moov") < data.index(b"mdat")


def test_audio_at_another_rate_outlasting_a_short_video(tmp_path: Path) -> None:
    path = tmp_path / "talk.mp4"
    write_with_audio(path, 30, 3, speech(0.5, rate=44100))
    info = probe(path)
    assert info.audio is not None and info.audio.duration == pytest.approx(0.5, abs=1e-3)


def test_abort_with_audio_deletes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "talk.mp4"
    with pytest.raises(KeyError), VideoWriter(path, W, H, 24, audio=speech(1.0)) as writer:
        writer.write(moving_gradient(W, H, 0))
        raise KeyError("renderer failed")
    assert not path.exists()


def test_unknown_audio_fit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="audio_fit"):
        VideoWriter(tmp_path / "x.mp4", W, H, 24, audio=speech(1.0), audio_fit="loop")  # type: ignore[arg-type]
    assert not (tmp_path / "x.mp4").exists()


def test_silent_audio_is_still_a_track(tmp_path: Path) -> None:
    path = tmp_path / "quiet.mp4"
    write_with_audio(path, 24, 24, Audio(np.zeros(16000, np.float32), 16000))
    info = probe(path)
    assert info.audio is not None and info.audio.duration == pytest.approx(1.0, abs=1e-3)
