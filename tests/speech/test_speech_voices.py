"""Kling's 46 voice ids: the same list as fal's, each spoken by a real espeak voice and
variant, in both languages, at a pitch that fits who the id names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from speech_audio import pitch_hz, rms

import kling_reference
from vidserve.engines.speech import (
    DEFAULT_VOICE_ID,
    VOICE_IDS,
    VOICES,
    KlingVoice,
    synthesize,
    voice_for,
)
from vidserve.errors import InputError

REFERENCE = kling_reference.load()


@pytest.mark.parametrize(
    "endpoint", ["fal-ai/kling-video/v1/tts", "fal-ai/kling-video/lipsync/text-to-video"]
)
def test_the_voice_ids_are_fals_enum_in_its_order(endpoint: str) -> None:
    field = REFERENCE.input_type(endpoint).fields["voice_id"]

    assert field.type.enum == VOICE_IDS
    assert len(VOICE_IDS) == 46


def test_the_default_voice_is_the_tts_default() -> None:
    field = REFERENCE.input_type("fal-ai/kling-video/v1/tts").fields["voice_id"]

    assert field.default == DEFAULT_VOICE_ID


def test_the_map_reads_the_ids_hints() -> None:
    def who(voice_id: str) -> tuple[str, str]:
        return VOICES[voice_id].gender, VOICES[voice_id].age

    assert all(VOICES[v].english in ("en", "en-gb-x-rp") for v in VOICE_IDS if "uk_" in v)
    assert VOICES["PeppaPig_platform"].english == "en"
    assert who("uk_oldman3") == ("male", "elderly")
    assert who("laopopo_speech02") == who("heainainai_speech02") == ("female", "elderly")
    assert who("chengshu_jiejie") == ("female", "adult")
    assert who("commercial_lady_en_f-v1") == ("female", "adult")
    assert who("oversea_male1") == who("reader_en_m-v1") == ("male", "adult")
    for child in ("cartoon-boy-07", "cartoon-girl-01", "mengwa-v1", "genshin_klee2"):
        assert VOICES[child].age == "child"
    assert VOICES["chengshu_jiejie"].espeak_voice("zh") == "cmn+f4"
    assert VOICES["uk_man2"].espeak_voice("en") == "en-gb-x-rp+m1"


def test_every_variant_is_in_espeaks_data(espeak: Any) -> None:
    variants = Path(espeak.data_path) / "voices" / "!v"
    for voice in VOICES.values():
        # espeak silently speaks the default for a variant it lacks: check the file.
        assert (variants / voice.variant).is_file(), voice


@pytest.mark.usefixtures("espeak")
@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("voice_id", VOICE_IDS)
def test_every_voice_speaks(voice_id: str, language: str) -> None:
    text = "Hello, nice to meet you." if language == "en" else "你好，很高兴认识你。"
    speech = synthesize(text, voice_id, language=language)

    assert speech.voice.voice_id == voice_id
    assert 0.5 < speech.duration < 4.0
    assert rms(speech.samples) > 0.02


@pytest.mark.usefixtures("espeak")
def test_pitch_follows_gender_and_age() -> None:
    def pitch(voice: KlingVoice) -> float:
        speech = synthesize("Hello there, how are you doing today?", voice.voice_id)
        return pitch_hz(speech.samples, speech.sample_rate)

    pitches = {voice.voice_id: pitch(voice) for voice in VOICES.values()}
    for voice in VOICES.values():
        hz = pitches[voice.voice_id]
        if voice.age == "child":
            assert hz > 240, (voice, hz)
        elif voice.gender == "female":
            assert 150 < hz < 280, (voice, hz)
        else:
            assert 55 < hz < 140, (voice, hz)
    deep = pitches["diyinnansang_DB_CN_M_04-v2"]  # 低音男嗓, a deep bass
    assert deep == min(pitches.values())


@pytest.mark.parametrize("voice_id", ["nobody", "GENSHIN_VINDI2", ""])
def test_an_unknown_voice_id_is_an_input_error_naming_it(voice_id: str) -> None:
    with pytest.raises(InputError) as caught:
        synthesize("Hello.", voice_id)

    (detail,) = caught.value.details
    assert detail["loc"] == ["body", "voice_id"]
    assert detail["type"] == "literal_error"
    assert f"unknown voice_id {voice_id!r}" in detail["msg"]
    assert "Kling has 46" in detail["msg"]
    with pytest.raises(InputError):
        voice_for(voice_id)
