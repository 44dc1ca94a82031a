"""The talking endpoints through the API and a worker: text-to-speech on the real speech
engine, and what lipsync and avatar inputs become for an engine, with their rules."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidserve.engines.base import Kind
from vidserve.engines.speech.engine import SpeechEngine
from vidserve.media.audio import Audio, decode_audio, encode_audio
from vidserve.media.video import VideoWriter

from fakes import FakeEngine, Harness
from helpers import data_uri, make_image

K = "fal-ai/kling-video/"
TTS, A2V, T2V = K + "v1/tts", K + "lipsync/audio-to-video", K + "lipsync/text-to-video"
AVATAR = K + "ai-avatar/v2/standard"
RATE = 16_000


def speech_like(seconds: float, silent: bool = False) -> Audio:
    """A 150 Hz voiced tone in syllable-rate bursts (or silence)."""
    t = np.arange(int(seconds * RATE)) / RATE
    bursts = np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    samples = 0.0 * t if silent else 0.5 * bursts * np.sin(2 * np.pi * 150 * t)
    return Audio(samples.astype(np.float32), RATE)


def audio_uri(audio: Audio, tmp_path: Path) -> str:
    path = tmp_path / "speech.wav"
    encode_audio(audio, path, "wav")
    return data_uri(path.read_bytes(), "audio/wav")


def video_uri(tmp_path: Path, seconds: float = 2.0, size: tuple[int, int] = (720, 720)) -> str:
    path = tmp_path / "face.mp4"
    frame = np.asarray(_image(make_image(*size, seed=5)))
    with VideoWriter(path, size[0], size[1], 25) as writer:
        for _ in range(int(seconds * 25)):
            writer.write(frame)
    return data_uri(path.read_bytes(), "video/mp4")


def _image(png: bytes) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


def result_of(h: Harness, body: dict[str, Any], endpoint: str, engine: Any) -> Any:
    response = h.client.post(f"/queue/{endpoint}", json=body)
    assert response.status_code == 200, response.text
    assert h.worker(engine).drain() == 1
    return h.client.get(response.json()["response_url"])


def test_text_to_speech_answers_an_mp3_of_the_spoken_text(harness: Harness, tmp_path: Path) -> None:
    short = result_of(harness, {"text": "Hello."}, TTS, SpeechEngine())
    long = result_of(harness, {"text": "Hello. " * 6, "voice_id": "uk_man2"}, TTS, SpeechEngine())
    durations = []
    for response in (short, long):
        assert response.status_code == 200, response.text
        audio_file = response.json()["audio"]
        assert audio_file["content_type"] == "audio/mpeg" and "video" not in response.json()
        data = harness.client.get(audio_file["url"]).content
        audio = decode_audio(data, ("body", "text"))
        assert float(np.abs(audio.samples).max()) > 0.1
        assert response.json()["usage"]["video_seconds"] == pytest.approx(audio.duration, 0.1)
        durations.append(audio.duration)
    assert durations[1] > 3 * durations[0]


@pytest.mark.parametrize(
    ("endpoint", "body", "loc"),
    [
        (TTS, {"text": "hi", "voice_id": "nobody"}, ["body", "voice_id"]),
        (TTS, {"text": ""}, ["body", "text"]),
        (TTS, {"text": "hi", "voice_speed": 3}, ["body", "voice_speed"]),
        (T2V, {"video_url": "https://e.x/v.mp4", "text": "x" * 121, "voice_id": "AOT"}, None),
        (A2V, {"video_url": "v.mp4", "audio_url": "https://e.x/a.mp3"}, ["body", "video_url"]),
    ],
)
def test_bad_talking_input_is_422_naming_the_field(
    harness: Harness, endpoint: str, body: dict[str, Any], loc: list[str] | None
) -> None:
    response = harness.client.post(f"/queue/{endpoint}", json=body)
    assert response.status_code == 422, response.text
    locs = [d["loc"] for d in response.json()["detail"]]
    assert (loc or ["body", "text"]) in locs


def test_lipsync_takes_the_videos_size_fps_and_length_and_the_audio(
    harness: Harness, tmp_path: Path
) -> None:
    engine = FakeEngine()
    body = {"video_url": video_uri(tmp_path), "audio_url": audio_uri(speech_like(1.5), tmp_path)}
    assert result_of(harness, body, A2V, engine).status_code == 200
    (request,) = engine.requests
    assert request.kind is Kind.LIPSYNC and request.video_path is not None
    assert (request.width, request.height, request.fps) == (720, 720, 25)
    assert request.duration == pytest.approx(2.0, abs=0.05)
    assert request.audio is not None and request.audio.duration == pytest.approx(1.5, abs=0.05)


def test_lipsync_from_text_carries_the_voice(harness: Harness, tmp_path: Path) -> None:
    engine = FakeEngine()
    body = {
        "video_url": video_uri(tmp_path),
        "text": "你好",
        "voice_id": "chengshu_jiejie",
        "voice_language": "zh",
        "voice_speed": 1.5,
    }
    assert result_of(harness, body, T2V, engine).status_code == 200
    said = engine.requests[0].utterance
    assert said is not None and (said.text, said.language, said.speed) == ("你好", "zh", 1.5)


def test_the_videos_rules_and_the_speech_length_are_422s_naming_the_field(
    harness: Harness, tmp_path: Path
) -> None:
    small = {"video_url": video_uri(tmp_path, size=(640, 360)), "audio_url": "x"}
    small["audio_url"] = audio_uri(speech_like(1.0), tmp_path)
    response = result_of(harness, small, A2V, FakeEngine())
    assert response.status_code == 422
    assert {d["loc"][1] for d in response.json()["detail"]} == {"video_url"}
    assert "720 to 1920 px" in response.text
    long = {"video_url": video_uri(tmp_path), "audio_url": audio_uri(speech_like(3.0), tmp_path)}
    response = result_of(harness, long, A2V, FakeEngine())
    assert response.status_code == 422 and "the audio lasts 3.00 s" in response.text
    silent = {"video_url": video_uri(tmp_path), "audio_url": ""}
    silent["audio_url"] = audio_uri(speech_like(1.0, silent=True), tmp_path)
    response = result_of(harness, silent, A2V, FakeEngine())
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "audio_url"]


def test_an_avatar_lasts_as_its_audio_at_the_tiers_size(harness: Harness, tmp_path: Path) -> None:
    engine = FakeEngine()
    photo = data_uri(make_image(600, 800, seed=2))
    body = {"image_url": photo, "audio_url": audio_uri(speech_like(2.0), tmp_path)}
    response = result_of(harness, body, AVATAR, engine)
    assert response.status_code == 200, response.text
    (request,) = engine.requests
    assert request.kind is Kind.AVATAR and request.start_image is not None
    assert (request.width, request.height, request.fps) == (720, 960, 30)
    assert request.duration == pytest.approx(2.0, abs=0.01)
    assert "duration" in response.json()


def test_audio_data_uris_must_be_typed_audio(harness: Harness, tmp_path: Path) -> None:
    wav = base64.b64encode(b"RIFF....WAVEfmt ").decode()
    body = {
        "image_url": data_uri(make_image(600, 800)),
        "audio_url": f"data:text/html;base64,{wav}",
    }
    response = result_of(harness, body, AVATAR, FakeEngine())
    assert response.status_code == 422 and "must be audio/*" in response.text
