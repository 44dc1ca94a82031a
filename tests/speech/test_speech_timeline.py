"""Phoneme events: they tile the audio in order, fall where the sounds are, and carry the
mouth shape (viseme) a face should make."""

from __future__ import annotations

import numpy as np
import pytest
from speech_audio import rms

from vidserve.engines.speech import PAUSE, Speech, Viseme, synthesize, viseme_of
from vidserve.engines.speech.synthesizer import _timeline


def _assert_tiles(speech: Speech) -> None:
    events = speech.phonemes
    assert events[0].start == 0.0
    assert events[-1].end == pytest.approx(speech.duration)
    pairs = list(zip(events, events[1:], strict=False))
    for before, after in pairs:
        assert before.end == after.start
    assert all(e.end > e.start for e in events)
    assert all(e.viseme == viseme_of(e.phoneme) for e in events)
    # Runs of pauses are one event.
    assert not any(a.phoneme == b.phoneme == PAUSE for a, b in pairs)


@pytest.mark.usefixtures("espeak")
@pytest.mark.parametrize(
    ("text", "voice_id", "language", "speed"),
    [
        ("Papa and mama went to the market. Then they came home!", "oversea_male1", "en", 1.0),
        ("你好，世界。今天天气很好。", "chengshu_jiejie", "zh", 1.0),
        ("Mixed 中文 and English, spoken fast.", "mengwa-v1", "zh", 2.0),
        ("Slowly, slowly...", "uk_oldman3", "en", 0.8),
    ],
)
def test_phoneme_events_tile_the_audio_in_order(
    text: str, voice_id: str, language: str, speed: float
) -> None:
    speech = synthesize(text, voice_id, language=language, speed=speed)

    _assert_tiles(speech)
    assert sum(e.viseme != Viseme.REST for e in speech.phonemes) > 5


@pytest.mark.usefixtures("espeak")
def test_papa_mama_closes_the_lips_on_each_p_and_m() -> None:
    speech = synthesize("papa mama", "genshin_vindi2")

    spoken = [(e.phoneme, e.viseme) for e in speech.phonemes if e.viseme != Viseme.REST]
    assert [p for p, _ in spoken][:2] == ["p", "ɑː"]
    closed = [p for p, v in spoken if v == Viseme.CLOSED]
    assert closed == ["p", "p", "m", "m"]
    assert [v for _, v in spoken] == [Viseme.CLOSED, Viseme.OPEN] * 4


@pytest.mark.usefixtures("espeak")
def test_events_are_timed_to_the_sound() -> None:
    speech = synthesize("Papa, mama. Hello, Oslo!", "reader_en_m-v1")

    def level(viseme: Viseme) -> float:
        parts = [
            speech.samples[int(e.start * speech.sample_rate) : int(e.end * speech.sample_rate)]
            for e in speech.phonemes
            if e.viseme == viseme
        ]
        return rms(np.concatenate(parts))

    # Vowels are loud, pauses near silent, a closed mouth (p, m) in between.
    assert level(Viseme.OPEN) > 10 * level(Viseme.REST)
    assert level(Viseme.OPEN) > 1.5 * level(Viseme.CLOSED)


@pytest.mark.parametrize(
    ("phoneme", "viseme"),
    [
        ("p", Viseme.CLOSED),
        ("b", Viseme.CLOSED),
        ("m", Viseme.CLOSED),
        ("ph", Viseme.CLOSED),  # Mandarin's aspirated p
        ("ˈɑː", Viseme.OPEN),
        ("aɪ", Viseme.OPEN),  # a diphthong takes its first shape
        ("ə", Viseme.OPEN),
        ("ˈiː", Viseme.WIDE),
        ("ɛ", Viseme.WIDE),
        ("iɛ", Viseme.WIDE),
        ("oʊ", Viseme.ROUND),
        ("uː", Viseme.ROUND),
        ("w", Viseme.ROUND),
        ("y", Viseme.ROUND),  # Mandarin's ü
        ("ʃ", Viseme.ROUND),
        ("f", Viseme.TEETH),
        ("v", Viseme.TEETH),
        ("l", Viseme.TONGUE),
        ("t", Viseme.TONGUE),
        ("d", Viseme.TONGUE),
        ("n", Viseme.TONGUE),
        ("θ", Viseme.TONGUE),
        ("ð", Viseme.TONGUE),
        ("th", Viseme.TONGUE),  # Mandarin's aspirated t
        ("s.", Viseme.TONGUE),  # espeak's Mandarin retroflex
        ("k", Viseme.TONGUE),
        (PAUSE, Viseme.REST),
        ("", Viseme.REST),
        ("ˈ", Viseme.REST),
    ],
)
def test_viseme_of(phoneme: str, viseme: Viseme) -> None:
    assert viseme_of(phoneme) == viseme


def test_timeline_fills_the_lead_in_and_merges_pauses() -> None:
    raw = [(50, "p"), (80, "ˈɑː"), (200, ""), (200, ""), (300, ""), (400, "m"), (400, "ə")]

    events = _timeline(raw, 0.5)

    assert [(e.phoneme, e.start, e.end) for e in events] == [
        (PAUSE, 0.0, 0.05),
        ("p", 0.05, 0.08),
        ("ɑː", 0.08, 0.2),
        (PAUSE, 0.2, 0.4),
        ("ə", 0.4, 0.5),  # "m" lasted no time
    ]


def test_timeline_keeps_events_inside_the_audio() -> None:
    events = _timeline([(0, "h"), (90, "i"), (70, "x"), (600, "")], 0.5)

    assert [(e.phoneme, e.start, e.end) for e in events] == [
        ("h", 0.0, 0.09),
        ("x", 0.09, 0.5),  # out of order: it starts no earlier than the one before
    ]
    assert _timeline([], 0.25)[0].phoneme == PAUSE
