"""``synthesize`` with the real espeak-ng: audio that is there, lengths that follow the text
and ``voice_speed``, languages that sound different, cancellation and threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from speech_audio import rms

from vidserve.engines.speech import Speech, synthesize
from vidserve.errors import CancelledError

pytestmark = pytest.mark.usefixtures("espeak")

SENTENCE = "The quick brown fox jumps over the lazy dog, and the children laugh in the park."
CHINESE = "今天天气很好，我们一起去公园散步吧。"


def test_speech_is_mono_float32_audio_that_is_not_silent() -> None:
    speech = synthesize("Hello, world. This is vidserve speaking.", "genshin_vindi2")

    assert speech.samples.dtype == np.float32
    assert speech.samples.ndim == 1
    assert speech.sample_rate == 22050
    assert 1.0 < speech.duration < 5.0
    assert rms(speech.samples) > 0.03
    assert float(np.max(np.abs(speech.samples))) <= 1.0
    assert np.isfinite(speech.samples).all()


def test_longer_text_gives_longer_audio() -> None:
    short = synthesize("Hello.", "oversea_male1")
    longer = synthesize("Hello. " + SENTENCE, "oversea_male1")
    longest = synthesize(" ".join([SENTENCE] * 4), "oversea_male1")

    assert short.duration < longer.duration < longest.duration
    assert longest.duration > 3 * longer.duration * 0.8


@pytest.mark.parametrize(("text", "language"), [(SENTENCE, "en"), (CHINESE, "zh")])
def test_voice_speed_scales_the_duration_by_about_its_factor(text: str, language: str) -> None:
    normal = synthesize(text, "reader_en_m-v1", language=language, speed=1.0)
    fast = synthesize(text, "reader_en_m-v1", language=language, speed=2.0)
    slow = synthesize(text, "reader_en_m-v1", language=language, speed=0.8)

    assert 0.4 < fast.duration / normal.duration < 0.6  # 1/2
    assert 1.15 < slow.duration / normal.duration < 1.4  # 1/0.8 = 1.25
    assert fast.phonemes[-1].end == pytest.approx(fast.duration)


def test_english_and_mandarin_speak_the_same_text_differently() -> None:
    english = synthesize(CHINESE, "chengshu_jiejie", language="en")
    mandarin = synthesize(CHINESE, "chengshu_jiejie", language="zh")

    # English spells the characters out ("Chinese letter", ...); Mandarin reads them.
    assert abs(english.duration - mandarin.duration) > 0.2 * mandarin.duration
    assert mandarin.language == "zh"
    assert "tɕ" in {p.phoneme for p in mandarin.phonemes}
    assert "tɕ" not in {p.phoneme for p in english.phonemes}
    # Ten times the distance between two takes of one language.
    assert _spectral_distance(english, mandarin) > 0.008


def test_latin_text_in_mandarin_is_still_spoken() -> None:
    speech = synthesize("Hello, how are you?", "girlfriend_1_speech02", language="zh")

    assert rms(speech.samples) > 0.03
    # espeak's "(en)" and "(cmn)" language switches are not phonemes.
    assert not any(p.phoneme.startswith("(") for p in speech.phonemes)


def test_the_same_input_gives_the_same_speech() -> None:
    first = synthesize(SENTENCE, "ai_kaiya", speed=1.3)
    second = synthesize(SENTENCE, "ai_kaiya", speed=1.3)

    _assert_same_speech(first, second)


def test_threads_share_the_one_synthesizer_safely() -> None:
    jobs: list[tuple[str, str]] = [
        (SENTENCE, "uk_man2"),
        (CHINESE, "mengwa-v1"),
        ("Papa and mama.", "PeppaPig_platform"),
        (SENTENCE, "laopopo_speech02"),
    ] * 3
    alone = [synthesize(text, voice, language=_lang(text)) for text, voice in jobs]

    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda job: synthesize(*job, language=_lang(job[0])), jobs))

    for a, b in zip(alone, together, strict=True):
        _assert_same_speech(a, b)


def test_cancel_stops_synthesis_with_cancelled_error() -> None:
    asked: list[int] = []

    def cancel() -> bool:
        asked.append(1)
        return len(asked) >= 3

    with pytest.raises(CancelledError):
        synthesize(" ".join([SENTENCE] * 20), "calm_story1", cancel=cancel)
    assert len(asked) == 3
    # The synthesizer is usable again afterwards.
    assert synthesize("Still here.", "calm_story1").duration > 0.3


def test_long_tts_text_is_fast() -> None:
    import time

    started = time.perf_counter()
    speech = synthesize(" ".join([SENTENCE] * 40), "genshin_vindi2")

    assert speech.duration > 120
    assert time.perf_counter() - started < speech.duration / 20  # far faster than real time


def _assert_same_speech(a: Speech, b: Speech) -> None:
    """Equal but for espeak's pitch flutter, whose phase runs on from one call to the next
    (a few milliseconds per utterance)."""
    assert [p.phoneme for p in a.phonemes] == [p.phoneme for p in b.phonemes]
    assert a.duration == pytest.approx(b.duration, rel=0.01)
    assert rms(a.samples) == pytest.approx(rms(b.samples), rel=0.05)


def _lang(text: str) -> Any:
    return "zh" if text == CHINESE else "en"


def _spectral_distance(a: Speech, b: Speech) -> float:
    """1 - cosine similarity of the two long-term log spectra."""

    def profile(speech: Speech) -> np.ndarray[Any, np.dtype[np.float64]]:
        frames = len(speech.samples) // 1024
        blocks = speech.samples[: frames * 1024].reshape(frames, 1024).astype(np.float64)
        spectrum = np.abs(np.fft.rfft(blocks * np.hanning(1024), axis=1)).mean(axis=0)
        return np.log1p(spectrum / spectrum.max() * 1000)

    pa, pb = profile(a), profile(b)
    return float(1 - pa @ pb / (np.linalg.norm(pa) * np.linalg.norm(pb)))
