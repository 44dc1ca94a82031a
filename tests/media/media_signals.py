"""Test signals made in code, and input files encoded from them with PyAV directly (not with
the code under test), shared by the media tests."""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

import av
import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]

RATE = 48000
#: Syllables every 0.25 s, each a 0.12 s burst centred on 0.125 + 0.25 k s; silence between.
SYLLABLE_PERIOD = 0.25
SYLLABLE_LENGTH = 0.12


def speech_like(seconds: float, rate: int = RATE, amplitude: float = 0.6) -> Samples:
    """A 150 Hz voice (with two weaker harmonics) in raised-cosine syllable bursts."""
    t = np.arange(round(seconds * rate)) / rate
    voice = (
        np.sin(2 * np.pi * 150 * t)
        + 0.4 * np.sin(2 * np.pi * 300 * t)
        + 0.2 * np.sin(2 * np.pi * 450 * t)
    ) / 1.6
    phase = (t % SYLLABLE_PERIOD - (SYLLABLE_PERIOD - SYLLABLE_LENGTH) / 2) / SYLLABLE_LENGTH
    burst = np.where((phase >= 0) & (phase <= 1), 0.5 - 0.5 * np.cos(2 * np.pi * phase), 0.0)
    return (amplitude * burst * voice).astype(np.float32)


def syllable_frames(seconds: float, fps: float) -> tuple[list[int], list[int]]:
    """Video frames that hold a syllable's peak, and frames wholly inside a gap."""
    count = int(seconds / SYLLABLE_PERIOD)
    peaks = [int((SYLLABLE_PERIOD * (k + 0.5)) * fps) for k in range(count)]
    gaps = [int(SYLLABLE_PERIOD * k * fps) for k in range(1, count)]
    return peaks, gaps


def tone(seconds: float, hz: float, rate: int = RATE, amplitude: float = 0.5) -> Samples:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def noise(seconds: float, level_db: float, rate: int = RATE, seed: int = 0) -> Samples:
    """White noise with an RMS of ``level_db`` dBFS."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(round(seconds * rate)) * 10 ** (level_db / 20)).astype(np.float32)


def silence(seconds: float, rate: int = RATE) -> Samples:
    return np.zeros(round(seconds * rate), np.float32)


def encode(
    samples: Samples,
    container_format: str,
    codec: str,
    *,
    rate: int = RATE,
    channels: int = 1,
    options: dict[str, str] | None = None,
    right: Samples | None = None,
) -> bytes:
    """``samples`` (and ``right``, for a stereo file) encoded in memory."""
    buffer = io.BytesIO()
    layout = "stereo" if channels == 2 else "mono"
    planes = np.stack([samples, samples if right is None else right]) if channels == 2 else None
    with av.open(buffer, "w", format=container_format) as container:
        stream: Any = container.add_stream(codec, rate=rate)
        stream.layout = layout
        if options:
            stream.codec_context.options = options
        if samples.size:
            data = planes if planes is not None else samples[None, :]
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data), format="fltp", layout=layout
            )
            frame.sample_rate = rate
            frame.pts = 0
            frame.time_base = Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        container.start_encoding()  # the header, even with no samples
    return buffer.getvalue()


#: Input formats: name -> (container, codec, options, channels, extra seconds a decoder may
#: add). ADTS has no edit list, so its priming and padding samples stay; FFmpeg's Vorbis
#: encoder is experimental and stereo only.
FORMATS: dict[str, tuple[str, str, dict[str, str], int, float]] = {
    "mp3": ("mp3", "libmp3lame", {}, 1, 0.001),
    "wav": ("wav", "pcm_s16le", {}, 1, 0.001),
    "m4a": ("ipod", "aac", {}, 1, 0.001),
    "aac-adts": ("adts", "aac", {}, 1, 3 * 1024 / RATE),
    "ogg-vorbis": ("ogg", "vorbis", {"strict": "experimental"}, 2, 0.01),
    "ogg-opus": ("ogg", "libopus", {}, 1, 0.001),
    "webm-opus": ("webm", "libopus", {}, 1, 0.001),
    "flac": ("flac", "flac", {}, 1, 0.001),
}


def encode_as(name: str, samples: Samples) -> bytes:
    container_format, codec, options, channels, _ = FORMATS[name]
    return encode(samples, container_format, codec, channels=channels, options=options)


def without_priming(samples: Samples, rate: int, encoded_at: int = RATE) -> Samples:
    """Decoded ADTS audio less the AAC encoder's 1024 priming samples (ADTS cannot say to
    skip them, as MP4's edit list does)."""
    return samples[round(1024 * rate / encoded_at) :]
