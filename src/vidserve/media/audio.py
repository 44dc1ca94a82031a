"""Audio for the talking endpoints: decoding input files, checks, features and encoding.

:func:`decode_audio` reads MP3, WAV, M4A/AAC, Ogg (Vorbis or Opus), FLAC and WebM/Opus with
PyAV from memory, typed by content, never by name, into an :class:`Audio`: mono ``float32``
samples in [-1, 1] at one sample rate. Bad input is an :class:`~vidserve.errors.InputError`
naming the field. :func:`loudness_envelope` and :func:`spectral_centroid` give one value per
video frame, to drive mouth shapes; :func:`encode_audio` writes a standalone file (fal's TTS
returns one). Endpoint rules (how long a clip may be) are the endpoint's; the limits here
guard the decoder.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, Literal, cast

import av
import numpy as np
import numpy.typing as npt
from av.container import InputContainer

from vidserve.errors import InputError

Loc = tuple[str | int, ...]
#: A media file: its bytes, or the path of a local file.
Source = bytes | str | Path
#: Mono samples in [-1, 1].
Samples = npt.NDArray[np.float32]

#: Demuxers an audio input may be read with (FFmpeg's names; "mov" covers mp4 and m4a).
#: Anything else (playlists, image sequences, exotic containers) is refused before probing.
AUDIO_DEMUXERS: Final = ("mp3", "wav", "aac", "mov", "ogg", "flac", "matroska")
#: Decoders an audio input may use, besides PCM (``pcm_*``, from WAV).
AUDIO_CODECS: Final = frozenset(
    {"mp3", "mp3float", "aac", "aac_fixed", "vorbis", "opus", "libopus", "flac"}
)
#: Longest audio :func:`decode_audio` reads by default; endpoints pass their own limit.
DEFAULT_MAX_SECONDS: Final = 600.0
#: Below this (dBFS, loudest 50 ms) audio counts as silent.
SILENCE_DB: Final = -50.0
_SILENCE_WINDOW_S: Final = 0.05
_FORMATS_SHOWN: Final = "MP3, WAV, M4A/AAC, OGG (Vorbis or Opus), FLAC or WebM/Opus"


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono audio: ``float32`` samples in [-1, 1] at ``sample_rate`` Hz."""

    samples: Samples
    sample_rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 1 or self.samples.dtype != np.float32:
            raise ValueError(
                f"samples must be 1-D float32; got {self.samples.dtype} {self.samples.shape}"
            )
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive; got {self.sample_rate}")

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate


@dataclass(frozen=True)
class AudioInfo:
    """The first audio stream of a file, as its container describes it."""

    codec: str
    sample_rate: int
    channels: int
    #: Seconds; 0.0 when the container does not say.
    duration: float
    #: Seconds from the file's start (0.0 when the container does not say).
    start_time: float


def audio_info(container: InputContainer) -> AudioInfo | None:
    """What an open PyAV container says of its first audio stream; None when it has none."""
    if not container.streams.audio:
        return None
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    return AudioInfo(
        codec=str(ctx.name),
        sample_rate=int(ctx.sample_rate),
        channels=int(ctx.channels),
        duration=_seconds(stream.duration, stream.time_base) or 0.0,
        start_time=_seconds(stream.start_time, stream.time_base) or 0.0,
    )


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def open_media(
    source: Source, loc: Loc, demuxers: tuple[str, ...], message: str, type_: str
) -> InputContainer:
    """Open ``source`` with PyAV, allowing only ``demuxers``; an InputError (``message``,
    ``type_``) when it cannot be. A missing local file is the caller's bug and raises
    :class:`FileNotFoundError`."""
    if isinstance(source, bytes) and not source:
        raise InputError.at(loc, "file is empty", "file_empty")
    file: Any = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        options = {"format_whitelist": ",".join(demuxers)}
        return cast(InputContainer, av.open(file, "r", container_options=options))
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise  # a local path the caller got wrong, not bad input
    except (av.FFmpegError, ValueError):
        raise InputError.at(loc, message, type_) from None


def decode_audio(
    data: Source,
    loc: Loc,
    *,
    sample_rate: int = 16000,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> Audio:
    """Decode the first audio stream of ``data`` to mono at ``sample_rate`` Hz.

    Channels are averaged (not FFmpeg's louder downmix), the rate converted with PyAV's
    :class:`~av.AudioResampler`. Raises an InputError at ``loc``: ``audio_load_error`` when
    the file is not audio, uses another codec or is corrupt; ``audio_empty`` when it holds
    no samples; ``audio_too_long`` past ``max_seconds`` (decoding stops there)."""
    if sample_rate <= 0 or max_seconds <= 0:
        raise ValueError(f"bad sample_rate {sample_rate} or max_seconds {max_seconds}")
    unreadable = f"file is not readable audio; send {_FORMATS_SHOWN}"
    with open_media(data, loc, AUDIO_DEMUXERS, unreadable, "audio_load_error") as container:
        if not container.streams.audio:
            raise InputError.at(
                loc, f"file has no audio stream; send {_FORMATS_SHOWN}", "audio_load_error"
            )
        stream = container.streams.audio[0]
        codec = str(stream.codec_context.name)
        if codec not in AUDIO_CODECS and not codec.startswith("pcm_"):
            raise InputError.at(
                loc,
                f"unsupported audio codec {codec}; use MP3, AAC, Vorbis, Opus, FLAC or PCM WAV",
                "audio_load_error",
            )
        limit = int(max_seconds * sample_rate) + 1
        chunks: list[Samples] = []
        total = 0
        try:
            for chunk in _mono_chunks(_tolerant_decode(container, stream), sample_rate):
                chunks.append(chunk)
                total += chunk.shape[0]
                if total > limit:
                    raise _too_long(loc, total / sample_rate, max_seconds)
        except (av.FFmpegError, ValueError):
            raise InputError.at(
                loc, f"audio is corrupt and cannot be decoded ({codec})", "audio_load_error"
            ) from None
        # MP4 ends on whole AAC frames; its edit list gives the true length. (Elsewhere a
        # header's duration may be an estimate, so only what was decoded is believed.)
        declared = _seconds(stream.duration, stream.time_base)
        if container.format.name.startswith("mov") and declared is not None:
            total = min(total, round(declared * sample_rate))
    if total == 0:
        raise InputError.at(loc, "audio file contains no samples", "audio_empty")
    samples = np.concatenate(chunks)[:total] if chunks else np.zeros(0, np.float32)
    return Audio(np.clip(samples, -1.0, 1.0, out=samples), sample_rate)


def _too_long(loc: Loc, seconds: float, max_seconds: float) -> InputError:
    return InputError.at(
        loc,
        f"audio is too long: {seconds:.1f} s; the limit is {max_seconds:g} s",
        "audio_too_long",
    )


#: Undecodable packets skipped (as players do) before a file counts as corrupt: this many,
#: or one in ten, whichever is more. A stream cut off mid-packet still plays.
_BAD_PACKETS: Final = 2


def _tolerant_decode(container: InputContainer, stream: av.AudioStream) -> Iterator[av.AudioFrame]:
    seen = bad = 0
    for packet in container.demux(stream):
        seen += 1
        try:
            yield from stream.decode(packet)
        except av.InvalidDataError:
            bad += 1
            if bad > max(_BAD_PACKETS, seen // 10):
                raise
    # demux() ends with an empty packet, which flushes the decoder.


def _mono_chunks(frames: Iterator[av.AudioFrame], sample_rate: int) -> Iterator[Samples]:
    """Planar float at ``sample_rate``, channels averaged; a new resampler whenever the
    stream changes its layout or rate mid-way (PyAV's refuses such frames)."""
    resampler: av.AudioResampler | None = None
    setup: tuple[str, str, int] | None = None
    for frame in frames:
        key = (frame.format.name, frame.layout.name, int(frame.sample_rate))
        if resampler is None or key != setup:
            if resampler is not None:
                yield from _averaged(resampler.resample(None))
            resampler, setup = av.AudioResampler(format="fltp", rate=sample_rate), key
        yield from _averaged(resampler.resample(frame))
    if resampler is not None:
        yield from _averaged(resampler.resample(None))


def _averaged(frames: list[av.AudioFrame]) -> Iterator[Samples]:
    for frame in frames:
        planes = frame.to_ndarray()  # (channels, samples) for planar formats
        yield planes.mean(axis=0, dtype=np.float32) if planes.shape[0] > 1 else planes[0]


def resample(audio: Audio, sample_rate: int) -> Audio:
    """``audio`` at another rate (PyAV's resampler, which keeps the length in seconds)."""
    if sample_rate == audio.sample_rate:
        return audio
    if audio.num_samples == 0:
        return Audio(audio.samples, sample_rate)
    frame = av.AudioFrame.from_ndarray(audio.samples[None, :], format="flt", layout="mono")
    frame.sample_rate = audio.sample_rate
    frame.pts = 0
    frame.time_base = Fraction(1, audio.sample_rate)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame) + resampler.resample(None)]
    samples = np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
    return Audio(np.clip(samples, -1.0, 1.0), sample_rate)


def loudest_db(audio: Audio) -> float:
    """The RMS level (dBFS) of the loudest 50 ms of ``audio``; ``-inf`` for digital silence.

    A window, not the peak sample, so a faint click does not make a silent file loud."""
    window = max(1, round(audio.sample_rate * _SILENCE_WINDOW_S))
    if audio.num_samples == 0:
        return float("-inf")
    squares = np.square(audio.samples, dtype=np.float64)
    if audio.num_samples <= window:
        loudest = float(squares.mean())
    else:
        running = np.concatenate([[0.0], np.cumsum(squares)])
        loudest = float((running[window:] - running[:-window]).max()) / window
    return 10 * float(np.log10(loudest)) if loudest > 0 else float("-inf")


def is_silent(audio: Audio, threshold_db: float = SILENCE_DB) -> bool:
    """Whether even the loudest 50 ms of ``audio`` is below ``threshold_db`` dBFS."""
    return loudest_db(audio) < threshold_db


def check_not_silent(audio: Audio, loc: Loc, threshold_db: float = SILENCE_DB) -> None:
    """An InputError (``audio_silent``) at ``loc`` when :func:`is_silent`."""
    level = loudest_db(audio)
    if level < threshold_db:
        shown = "digital silence" if level == float("-inf") else f"{level:.0f} dBFS"
        raise InputError.at(
            loc,
            f"audio is silent: its loudest moment is {shown}; "
            f"speech must reach {threshold_db:g} dBFS",
            "audio_silent",
        )


def _frame_starts(audio: Audio, fps: float) -> npt.NDArray[np.int64]:
    """First sample of each video frame ``i``, which covers ``[i / fps, (i + 1) / fps)``."""
    if fps <= 0:
        raise ValueError(f"fps must be positive; got {fps}")
    count = int(np.ceil(audio.num_samples * fps / audio.sample_rate - 1e-9))
    return np.floor(np.arange(count) * audio.sample_rate / fps).astype(np.int64)


def loudness_envelope(audio: Audio, fps: float, *, normalize: bool = True) -> Samples:
    """RMS loudness per video frame: ``ceil(duration * fps)`` values, frame ``i`` measured
    over ``[i / fps, (i + 1) / fps)``.

    With ``normalize`` (the default) values are divided by the loudest frame's, so the
    loudest frame is 1.0 whatever the recording level; quiet audio is divided by no less
    than the silence level (-50 dBFS), so silence stays near 0 rather than being blown up.
    Without it, values are the plain RMS of samples in [-1, 1] (``20 * log10`` of it is
    dBFS). Always in [0, 1]."""
    starts = _frame_starts(audio, fps)
    if starts.size == 0:
        return np.zeros(0, np.float32)
    squares = np.square(audio.samples, dtype=np.float64)
    sums = np.add.reduceat(squares, starts)
    lengths = np.diff(np.append(starts, audio.num_samples))
    rms = np.sqrt(sums / lengths)
    if normalize:
        rms /= max(float(rms.max()), 10 ** (SILENCE_DB / 20))
    return np.clip(rms, 0.0, 1.0).astype(np.float32)


_CENTROID_BLOCK: Final = 256  # video frames per FFT batch


def spectral_centroid(audio: Audio, fps: float) -> Samples:
    """The spectral centroid (Hz) per video frame, aligned with :func:`loudness_envelope`;
    0.0 for frames below the silence level. Bright sounds (s, f, open vowels) rank high,
    a hum low: a cheap cue for mouth shapes."""
    starts = _frame_starts(audio, fps)
    if starts.size == 0:
        return np.zeros(0, np.float32)
    window = max(1, int(np.ceil(audio.sample_rate / fps)))
    n_fft = 1 << (window - 1).bit_length()
    padded = np.concatenate([audio.samples, np.zeros(window, np.float32)])
    taper = np.hanning(window).astype(np.float32)
    freqs = np.fft.rfftfreq(n_fft, 1 / audio.sample_rate)
    centroid = np.zeros(starts.size, np.float64)
    for first in range(0, starts.size, _CENTROID_BLOCK):  # bounded memory on long audio
        block = starts[first : first + _CENTROID_BLOCK]
        frames = padded[block[:, None] + np.arange(window)] * taper
        magnitude = np.abs(np.fft.rfft(frames, n=n_fft, axis=1))
        energy = magnitude.sum(axis=1)
        centroid[first : first + block.size] = (magnitude @ freqs) / np.maximum(energy, 1e-12)
    quiet = loudness_envelope(audio, fps, normalize=False) < 10 ** (SILENCE_DB / 20)
    centroid[quiet] = 0.0
    return centroid.astype(np.float32)


AudioFormat = Literal["mp3", "wav", "aac", "m4a"]
# format -> (container, encoder, content type)
_ENCODINGS: Final[dict[str, tuple[str, str, str]]] = {
    "mp3": ("mp3", "libmp3lame", "audio/mpeg"),
    "wav": ("wav", "pcm_s16le", "audio/wav"),
    "aac": ("adts", "aac", "audio/aac"),
    "m4a": ("ipod", "aac", "audio/mp4"),
}


def encode_audio(
    audio: Audio, path: str | Path, format: AudioFormat = "mp3", *, bit_rate: int = 128_000
) -> str:
    """Write ``audio`` as a standalone file and return its content type.

    ``mp3`` (``audio/mpeg``, what fal's TTS returns), ``wav`` (16-bit PCM, ``audio/wav``),
    ``aac`` (raw ADTS, ``audio/aac``) or ``m4a`` (AAC in MP4, ``audio/mp4``). The rate is
    kept when the codec allows it, else raised to the nearest one it does. A failed write
    leaves no file."""
    if format not in _ENCODINGS:
        raise ValueError(f"unknown audio format {format!r}; use one of {sorted(_ENCODINGS)}")
    if audio.num_samples == 0:
        raise ValueError("cannot encode empty audio")
    container_format, codec_name, content_type = _ENCODINGS[format]
    rate = _codec_rate(codec_name, audio.sample_rate)
    path = Path(path)
    try:
        with av.open(str(path), mode="w", format=container_format) as container:
            stream = cast(av.AudioStream, container.add_stream(codec_name, rate=rate))
            stream.layout = "mono"
            if codec_name != "pcm_s16le":
                stream.codec_context.bit_rate = bit_rate
            for packet in encode_samples(stream, resample(audio, rate).samples):
                container.mux(packet)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return content_type


def _codec_rate(codec_name: str, rate: int) -> int:
    allowed = av.Codec(codec_name, "w").audio_rates
    if not allowed or rate in allowed:
        return rate
    higher = [r for r in allowed if r >= rate]
    return min(higher) if higher else max(allowed)


def encode_samples(
    stream: av.AudioStream, samples: Samples, start: int = 0, flush: bool = True
) -> list[av.Packet[av.AudioStream]]:
    """Packets for mono ``samples`` at the stream's rate, the first at sample ``start``;
    with ``flush``, the encoder's last packets too. PyAV cuts frames to the codec's size."""
    rate = int(stream.codec_context.sample_rate)
    packets: list[av.Packet[av.AudioStream]] = []
    if samples.size:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples)[None, :], format="flt", layout="mono"
        )
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        packets += stream.encode(frame)
    if flush:
        packets += stream.encode(None)
    return packets
