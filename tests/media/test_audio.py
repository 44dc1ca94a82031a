"""decode_audio over every input format, its refusals, silence, the per-frame features and
encode_audio. Signals are made in code and encoded with PyAV directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from media_signals import (
    FORMATS,
    RATE,
    encode,
    encode_as,
    noise,
    silence,
    speech_like,
    syllable_frames,
    tone,
    without_priming,
)

from vidserve.errors import InputError
from vidserve.media.audio import (
    Audio,
    check_not_silent,
    decode_audio,
    encode_audio,
    is_silent,
    loudest_db,
    loudness_envelope,
    resample,
    spectral_centroid,
)

LOC = ("body", "audio_url")


def error_of(excinfo: pytest.ExceptionInfo[InputError]) -> dict[str, object]:
    """The one detail of an InputError, checked to name the field."""
    [detail] = excinfo.value.details
    assert detail["loc"] == list(LOC)
    return detail


def assert_speech_envelope(audio: Audio, fps: float, seconds: float, lag: int = 0) -> None:
    """Syllables show as peaks, the gaps between them as near silence."""
    envelope = loudness_envelope(audio, fps)
    peaks, gaps = syllable_frames(seconds, fps)
    assert envelope.max() == pytest.approx(1.0)
    assert min(envelope[[p + lag for p in peaks]]) > 0.6
    assert max(envelope[[g + lag for g in gaps]]) < 0.05


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_decodes_to_mono_16k_with_its_bursts(name: str) -> None:
    seconds = 2.0
    audio = decode_audio(encode_as(name, speech_like(seconds)), LOC)
    assert audio.sample_rate == 16000
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert -1.0 <= audio.samples.min() and audio.samples.max() <= 1.0
    extra = FORMATS[name][4]
    assert seconds - 0.001 <= audio.duration <= seconds + extra
    if name == "aac-adts":
        audio = Audio(without_priming(audio.samples, 16000), 16000)
    assert_speech_envelope(audio, 25, seconds)


def test_sample_rate_and_content_not_name() -> None:
    data = encode_as("flac", speech_like(1.0))
    audio = decode_audio(data, LOC, sample_rate=24000)
    assert (audio.sample_rate, audio.num_samples) == (24000, 24000)


def test_channels_are_averaged_not_boosted() -> None:
    voice = tone(0.5, 150, amplitude=0.5)
    same = decode_audio(encode(voice, "wav", "pcm_s16le", channels=2), LOC)
    assert np.abs(same.samples).max() == pytest.approx(0.5, abs=0.02)
    opposite = decode_audio(encode(voice, "wav", "pcm_s16le", channels=2, right=-voice), LOC)
    assert np.abs(opposite.samples).max() < 0.01


@pytest.mark.parametrize(
    "data",
    [b"hello, this is a text file, not audio" * 10, b"\x89PNG\r\n\x1a\n" + bytes(200)],
    ids=["text", "png"],
)
def test_what_is_not_audio_is_refused(data: bytes) -> None:
    with pytest.raises(InputError) as caught:
        decode_audio(data, LOC)
    detail = error_of(caught)
    assert detail["type"] == "audio_load_error"
    assert "not readable audio" in str(detail["msg"])


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        decode_audio(b"", LOC)
    assert error_of(caught)["type"] == "file_empty"


def test_a_file_with_no_samples_is_empty() -> None:
    with pytest.raises(InputError) as caught:
        decode_audio(encode(silence(0), "wav", "pcm_s16le"), LOC)
    detail = error_of(caught)
    assert (detail["type"], detail["msg"]) == ("audio_empty", "audio file contains no samples")


def test_an_unsupported_codec_is_named() -> None:
    with pytest.raises(InputError) as caught:
        decode_audio(encode(tone(0.5, 440), "wav", "adpcm_ms"), LOC)
    detail = error_of(caught)
    assert detail["type"] == "audio_load_error"
    assert "unsupported audio codec adpcm_ms" in str(detail["msg"])


def test_a_corrupt_stream_is_refused() -> None:
    data = encode_as("aac-adts", speech_like(2.0))
    garbage = np.random.default_rng(1).bytes(len(data) - 64)
    with pytest.raises(InputError) as caught:
        decode_audio(data[:64] + garbage, LOC)
    detail = error_of(caught)
    assert detail["type"] == "audio_load_error"
    assert "corrupt" in str(detail["msg"])


def test_a_cut_off_stream_still_decodes() -> None:
    data = encode_as("aac-adts", speech_like(2.0))
    audio = decode_audio(data[: len(data) // 2], LOC)
    assert 0.8 < audio.duration < 1.2


@pytest.mark.parametrize("max_seconds", [2.9, 0.5])
def test_too_long(max_seconds: float) -> None:
    with pytest.raises(InputError) as caught:
        decode_audio(encode_as("wav", speech_like(3.0)), LOC, max_seconds=max_seconds)
    detail = error_of(caught)
    assert detail["type"] == "audio_too_long"
    assert f"the limit is {max_seconds:g} s" in str(detail["msg"])


def test_a_video_without_audio_has_no_audio_stream(tmp_path: Path) -> None:
    from vidserve.media.video import VideoWriter

    with VideoWriter(tmp_path / "silent.mp4", 32, 32, 10) as writer:
        writer.write(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(InputError) as caught:
        decode_audio(tmp_path / "silent.mp4", LOC)
    assert "no audio stream" in str(error_of(caught)["msg"])


def test_silence_noise_and_speech() -> None:
    assert is_silent(Audio(silence(1.0), RATE))
    assert is_silent(Audio(noise(1.0, -60), RATE))
    assert not is_silent(Audio(noise(1.0, -20), RATE))
    assert not is_silent(Audio(speech_like(1.0), RATE))
    assert is_silent(Audio(noise(1.0, -40), RATE), threshold_db=-30)
    assert loudest_db(Audio(tone(1.0, 150, amplitude=1.0), RATE)) == pytest.approx(-3.01, abs=0.01)


def test_a_stray_click_does_not_make_silence_loud() -> None:
    samples = silence(1.0)
    samples[RATE // 2] = 0.1  # its peak is -20 dBFS; its 50 ms window is far quieter
    assert is_silent(Audio(samples, RATE))


def test_silent_decoded_audio_is_refused_naming_the_field() -> None:
    audio = decode_audio(encode_as("mp3", noise(1.0, -70)), LOC)
    with pytest.raises(InputError) as caught:
        check_not_silent(audio, LOC)
    detail = error_of(caught)
    assert detail["type"] == "audio_silent"
    assert "speech must reach -50 dBFS" in str(detail["msg"])
    check_not_silent(decode_audio(encode_as("mp3", speech_like(1.0)), LOC), LOC)


def test_envelope_length_and_scales() -> None:
    audio = Audio(tone(1.01, 150, amplitude=0.5), RATE)
    assert loudness_envelope(audio, 25).shape == (26,)  # a part-frame at the end counts
    assert loudness_envelope(audio, 29.97).shape == (31,)
    raw = loudness_envelope(audio, 25, normalize=False)
    assert raw[:25] == pytest.approx(0.5 / np.sqrt(2), abs=0.01)
    assert loudness_envelope(audio, 25)[:25] == pytest.approx(1.0, abs=0.02)
    assert loudness_envelope(Audio(silence(0), RATE), 25).shape == (0,)


def test_quiet_audio_is_not_blown_up_by_normalising() -> None:
    assert loudness_envelope(Audio(silence(1.0), RATE), 25).max() == 0.0
    # Divided by the -50 dBFS floor, not by its own loudest frame: 20 dB below it is 0.1.
    assert loudness_envelope(Audio(noise(1.0, -70), RATE), 25).max() < 0.11


def test_envelope_follows_syllables_at_other_rates() -> None:
    assert_speech_envelope(Audio(speech_like(2.0), RATE), 30, 2.0)
    assert_speech_envelope(Audio(speech_like(2.0, rate=16000), 16000), 24, 2.0)


def test_spectral_centroid() -> None:
    low = spectral_centroid(Audio(tone(1.0, 150, rate=16000), 16000), 25)
    high = spectral_centroid(Audio(tone(1.0, 2000, rate=16000), 16000), 25)
    hiss = spectral_centroid(Audio(noise(1.0, -20, rate=16000), 16000), 25)
    assert low.shape == high.shape == (25,)
    assert np.median(low) == pytest.approx(150, rel=0.25)
    assert np.median(high) == pytest.approx(2000, rel=0.05)
    assert np.median(hiss) == pytest.approx(4000, rel=0.1)  # white: the middle of 0-8 kHz
    assert spectral_centroid(Audio(silence(1.0, 16000), 16000), 25).max() == 0.0
    speech = spectral_centroid(Audio(speech_like(2.0, rate=16000), 16000), 25)
    _, gaps = syllable_frames(2.0, 25)
    assert (speech[gaps] == 0).all()


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("mp3", "audio/mpeg"), ("wav", "audio/wav"), ("aac", "audio/aac"), ("m4a", "audio/mp4")],
)
def test_encode_audio_round_trips(tmp_path: Path, fmt: str, content_type: str) -> None:
    audio = Audio(speech_like(2.0, rate=24000), 24000)
    path = tmp_path / f"speech.{fmt}"
    assert encode_audio(audio, path, fmt) == content_type  # type: ignore[arg-type]
    back = decode_audio(path.read_bytes(), LOC)
    extra = 3 * 1024 / 24000 if fmt == "aac" else 0.001  # ADTS keeps priming and padding
    assert 2.0 - 0.001 <= back.duration <= 2.0 + extra
    if fmt == "aac":
        back = Audio(without_priming(back.samples, 16000, encoded_at=24000), 16000)
    assert_speech_envelope(back, 25, 2.0)


def test_encode_audio_default_is_mp3_and_rates_are_fitted(tmp_path: Path) -> None:
    path = tmp_path / "odd-rate"
    assert encode_audio(Audio(tone(0.5, 300, rate=10000), 10000), path) == "audio/mpeg"
    back = decode_audio(path.read_bytes(), LOC, sample_rate=11025)
    assert back.duration == pytest.approx(0.5, abs=0.001)


def test_encode_audio_refuses_nonsense(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown audio format"):
        encode_audio(Audio(tone(0.5, 300), 16000), tmp_path / "x", "ogg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        encode_audio(Audio(silence(0), 16000), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_resample_keeps_the_length_in_seconds() -> None:
    audio = Audio(speech_like(1.0, rate=16000), 16000)
    up = resample(audio, 48000)
    assert (up.sample_rate, up.num_samples) == (48000, 48000)
    assert resample(audio, 16000) is audio


def test_audio_must_be_mono_float32() -> None:
    with pytest.raises(ValueError, match="1-D float32"):
        Audio(np.zeros((2, 100), np.float32), 16000)
    with pytest.raises(ValueError, match="1-D float32"):
        Audio(np.zeros(100, np.int16), 16000)  # type: ignore[arg-type, unused-ignore]
    with pytest.raises(ValueError, match="positive"):
        Audio(np.zeros(100, np.float32), 0)
