"""``synthesize``: Kling's text, voice_id, voice_language and voice_speed to speech.

The result is mono float32 audio and a phoneme timeline that tiles it: the first phoneme
starts at 0, each ends where the next starts, the last ends with the audio, and each
carries its :class:`~vidserve.engines.speech.visemes.Viseme` for a mouth to follow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from vidserve.engines.speech.espeak import RATE_MAX, RATE_MIN, RATE_NORMAL, espeak
from vidserve.engines.speech.visemes import PAUSE, Viseme, viseme_of
from vidserve.engines.speech.voices import VOICE_IDS, VOICES, KlingVoice
from vidserve.errors import EngineError, InputError

Language = Literal["en", "zh"]
#: Kling's ``voice_language`` values.
LANGUAGES: tuple[Language, ...] = ("en", "zh")
#: The ``voice_speed`` range Kling allows; 1 is the voice's normal rate.
MIN_SPEED, MAX_SPEED = 0.8, 2.0


@dataclass(frozen=True)
class PhonemeEvent:
    """One phoneme (IPA without stress marks; ``_`` for a pause) from ``start`` to ``end``
    seconds into the audio."""

    phoneme: str
    start: float
    end: float
    viseme: Viseme


@dataclass(frozen=True)
class Speech:
    """Synthesized speech: mono float32 ``samples`` in [-1, 1] at ``sample_rate`` Hz, and the
    phonemes that tile them in order."""

    samples: npt.NDArray[np.float32]
    sample_rate: int
    phonemes: tuple[PhonemeEvent, ...]
    voice: KlingVoice
    language: Language

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.samples) / self.sample_rate


def synthesize(
    text: str,
    voice_id: str,
    *,
    language: str = "en",
    speed: float = 1.0,
    cancel: Callable[[], bool] | None = None,
) -> Speech:
    """Speak ``text`` as Kling's ``voice_id`` in ``language`` (``voice_language``: ``en`` or
    ``zh``) at ``speed`` (``voice_speed``, 0.8 to 2.0; 2 takes about half as long as 1).

    Bad input is an :class:`~vidserve.errors.InputError` at the field Kling names; a missing
    espeak-ng (or, for ``zh``, one older than 1.52) is an
    :class:`~vidserve.errors.EngineError` that says what to install.
    ``cancel`` is asked as audio is made; True ends it with a
    :class:`~vidserve.errors.CancelledError`.
    """
    voice = voice_for(voice_id)
    lang = _check_language(language)
    _check_speed(speed)
    spoken = _check_text(text)
    rate = round(RATE_NORMAL * speed * voice.tempo)
    engine = espeak()
    if lang == "zh" and not engine.speaks_mandarin:
        raise EngineError(
            f"espeak-ng {engine.version} ({engine.location.library}) reads Mandarin's tone "
            "numbers aloud; 1.52 speaks it: pip install 'espeakng-loader==0.2.4'"
        )
    raw = engine.synthesize(
        spoken,
        voice.espeak_voice(lang),
        rate=min(max(rate, RATE_MIN), RATE_MAX),
        pitch=voice.pitch,
        pitch_range=voice.pitch_range,
        cancel=cancel,
    )
    samples = (raw.samples.astype(np.float32) / np.float32(32768.0)).astype(np.float32)
    duration = len(samples) / raw.sample_rate
    return Speech(samples, raw.sample_rate, _timeline(raw.phonemes, duration), voice, lang)


def voice_for(voice_id: str) -> KlingVoice:
    """Kling's ``voice_id``, or an :class:`~vidserve.errors.InputError` naming it."""
    voice = VOICES.get(voice_id)
    if voice is None:
        sample = ", ".join(VOICE_IDS[:3])
        raise InputError.at(
            ("body", "voice_id"),
            f"unknown voice_id {voice_id!r}; Kling has {len(VOICE_IDS)} ({sample}, ...), "
            "listed in this endpoint's schema",
            "literal_error",
        )
    return voice


def detect_language(text: str) -> Language:
    """``zh`` when ``text`` has Chinese characters, else ``en``: for Kling's TTS endpoint,
    which takes no ``voice_language``."""
    return "zh" if any(_is_han(ch) for ch in text) else "en"


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def _check_language(language: str) -> Language:
    for known in LANGUAGES:
        if language == known:
            return known
    raise InputError.at(
        ("body", "voice_language"),
        f"unknown voice_language {language!r}; Kling speaks 'en' or 'zh'",
        "literal_error",
    )


def _check_speed(speed: float) -> None:
    if not (math.isfinite(speed) and MIN_SPEED <= speed <= MAX_SPEED):
        raise InputError.at(
            ("body", "voice_speed"),
            f"voice_speed {speed} is outside {MIN_SPEED} to {MAX_SPEED}, the rates Kling allows",
            "value_error",
        )


def _check_text(text: str) -> str:
    # A NUL would end the C string early; other control characters espeak reads as spaces.
    spoken = text.replace("\0", " ").strip()
    if not spoken:
        raise InputError.at(("body", "text"), "text is empty: there is nothing to say")
    return spoken


def _timeline(raw: list[tuple[int, str]], duration: float) -> tuple[PhonemeEvent, ...]:
    """espeak's phoneme starts (ms) to events that tile ``[0, duration]``: a pause fills any
    lead-in, a zero-length phoneme gives way to the next, runs of pauses merge."""
    starts: list[tuple[float, str]] = [(0.0, PAUSE)]
    for ms, name in raw:
        at = min(max(ms / 1000, starts[-1][0] if starts else 0.0), duration)
        symbol = name.replace("ˈ", "").replace("ˌ", "") or PAUSE
        if starts and starts[-1][0] >= at:
            starts.pop()
        if starts and starts[-1][1] == symbol == PAUSE:
            continue
        starts.append((at, symbol))
    ends = [start for start, _ in starts[1:]] + [duration]
    return tuple(
        PhonemeEvent(symbol, start, end, viseme_of(symbol))
        for (start, symbol), end in zip(starts, ends, strict=True)
        if end > start
    )
