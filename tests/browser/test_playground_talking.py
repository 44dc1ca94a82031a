"""The talking endpoints in the playground: text to speech with a voice from the voice
picker, heard in the page; lipsync forms that take a video and an audio file, and a text
whose length they count; an avatar from a portrait and a voice, played with its duration."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from playground_ui import (
    PLAY_VIDEO,
    RENDER_TIMEOUT_MS,
    code_bodies,
    history,
    open_endpoint,
    run_to_completion,
    save_screenshot,
    snap,
    upload,
)

from helpers import ServerProcess

pytestmark = pytest.mark.slow

KLING = "fal-ai/kling-video/"
TTS = KLING + "v1/tts"
LIPSYNC_AUDIO = KLING + "lipsync/audio-to-video"
LIPSYNC_TEXT = KLING + "lipsync/text-to-video"
AVATAR = KLING + "ai-avatar/v2/standard"
VOICES = 46

# Waits for the result's audio to load, plays it (muted) and reports whether time advanced.
PLAY_AUDIO = """async () => {
  const a = document.getElementById('audio');
  if (a.readyState < 1) {
    await new Promise((r) => a.addEventListener('loadedmetadata', r, {once: true}));
  }
  a.muted = true;
  await a.play();
  const t0 = a.currentTime;
  await new Promise((r) => setTimeout(r, 500));
  return {duration: a.duration, t0, t1: a.currentTime, src: a.currentSrc};
}"""

# Drops a file of the given type on a drop zone, as a user dragging it from the desktop.
DROP = """([selector, name, mime]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([new Uint8Array(64)], name, {type: mime}));
  const zone = document.querySelector(selector);
  const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
  for (const type of ['dragenter', 'dragover', 'drop']) {
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 720x720, 2 s MP4 of a moving gradient, no face (lipsync takes 720-1920 px and
    2-60 s)."""
    from vidserve.media.video import VideoWriter

    path: Path = tmp_path_factory.mktemp("talking") / "gradient.mp4"
    ys, xs = np.mgrid[0:720, 0:720]
    with VideoWriter(path, 720, 720, 25) as writer:
        for i in range(50):
            frame = np.stack([xs * 255 // 720, ys * 255 // 720, np.full_like(xs, i * 5)], axis=2)
            writer.write(frame.astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1.5 s WAV: a 220 Hz tone."""
    from vidserve.media.audio import Audio, encode_audio

    path: Path = tmp_path_factory.mktemp("talking") / "speech.wav"
    t = np.arange(int(1.5 * 16000)) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    assert encode_audio(Audio(tone, 16000), path, "wav") == "audio/wav"
    return path


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-image's astronaut (a face the talk engine finds), when the face models are
    installed: skipped without them locally, a failure in CI (as tests/talk)."""
    from vidserve.engines.faces import FacesUnavailableError, check_available

    try:
        check_available()
        from skimage import data
    except (FacesUnavailableError, ImportError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {exc}")
        pytest.skip(str(exc))
    path: Path = tmp_path_factory.mktemp("talking") / "astronaut.png"
    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "PNG")  # type: ignore[no-untyped-call]
    path.write_bytes(buffer.getvalue())
    return path


def voice_options(page: Any) -> list[str]:
    options: list[str] = page.eval_on_selector_all(
        "#field-voice_id option:not([hidden])", "os => os.map(o => o.value)"
    )
    return options


def test_speech_in_a_voice_from_the_picker(
    page: Any, server: ServerProcess, shots: Path, screenshot_path: Path
) -> None:
    open_endpoint(page, server, TTS, "#field-voice_id")
    # Every Kling voice, grouped by who speaks; the default picked, and marked.
    assert len(voice_options(page)) == VOICES
    groups = page.eval_on_selector_all(
        "#field-voice_id optgroup", "gs => gs.map(g => [g.label, g.children.length])"
    )
    assert [label.split(" · ")[0] for label, _ in groups] == ["Men", "Women", "Children", "Elderly"]
    assert sum(n for _, n in groups) == VOICES
    assert page.input_value("#field-voice_id") == "genshin_vindi2"
    default = page.text_content('#field-voice_id option[value="genshin_vindi2"]')
    assert default.endswith("(default)") and "Venti" in default
    assert page.text_content(".voice-hint").endswith("· the default")

    # The search looks at who speaks, not only the id; the first match is picked.
    page.fill('input[aria-label="search voices"]', "british")
    assert set(voice_options(page)) == {"uk_man2", "uk_boy1", "PeppaPig_platform", "uk_oldman3"}
    assert page.text_content(".voice-picker .muted") == "4 matches"
    assert page.input_value("#field-voice_id") == "uk_man2"
    page.select_option("#field-voice_id", "uk_oldman3")
    hint = page.text_content(".voice-hint")
    assert "a British old man (male, elderly)" in hint and "the default is genshin_vindi2" in hint
    page.fill("#field-text", "Good evening, and welcome to the playground.")
    assert page.locator('[data-field="text"] .chars').count() == 0  # TTS text has no limit
    snap(page, shots, "tts")

    sent = {"text": "Good evening, and welcome to the playground.", "voice_id": "uk_oldman3"}
    for language, body in code_bodies(page).items():
        assert body == sent, language
    # The code reads the result's audio, not a video.
    page.click('[data-tab="code"]')
    for language, line in [
        ("curl", '-> {"audio": {"url": ...}}'),
        ("python", 'print(result["audio"]["url"])'),
        ("js", "console.log(result.data.audio.url);"),
    ]:
        page.click(f'[data-language="{language}"]')
        page.wait_for_selector(f'[data-language="{language}"][aria-selected="true"]')
        assert line in page.text_content("#code"), language

    entry = run_to_completion(page)
    assert entry["body"] == sent
    played = page.evaluate(PLAY_AUDIO)
    assert played["duration"] > 1.0, played
    assert played["t1"] > played["t0"], played
    assert page.locator("#video-box").is_hidden()
    assert page.text_content("#audio-meta") == f"{played['duration']:.2f} s"
    assert page.get_attribute("#audio-download", "href") == played["src"]
    assert page.get_attribute("#audio-download", "download").endswith(".mp3")
    result = httpx.get(entry["responseUrl"]).json()
    assert result["audio"]["content_type"] == "audio/mpeg"
    assert result["audio"]["url"] == played["src"]
    assert "voice uk_oldman3" in page.text_content("#logs")
    assert "Good evening" in page.text_content("#history")

    page.evaluate("() => { document.getElementById('audio').pause(); window.scrollTo(0, 0); }")
    path = screenshot_path.with_name("tts-result.png")
    save_screenshot(page.screenshot(full_page=True), path)
    print(f"\ntts result screenshot: {path}")


def test_a_lipsync_form_uploads_a_video_and_an_audio_file(
    page: Any, server: ServerProcess, clip: Path, speech: Path, shots: Path
) -> None:
    video, audio = '[data-field="video_url"]', '[data-field="audio_url"]'
    open_endpoint(page, server, LIPSYNC_AUDIO, video)
    assert page.get_attribute(f"{video} input[type=file]", "accept") == "video/mp4,video/quicktime"
    assert page.get_attribute(f"{audio} input[type=file]", "accept") == "audio/*"
    assert "Drop a video here" in page.text_content(f"{video} .drop")
    assert "Drop an audio file here" in page.text_content(f"{audio} .drop")
    # A drop skips the file picker's filter: a photo dropped on the audio is refused here.
    page.evaluate(DROP, [f"{audio} .drop", "photo.png", "image/png"])
    refused = page.text_content(f"{audio} .upload-state.failed")
    assert refused == "not an audio file (image/png): audio/* here"

    video_url = upload(page, video, clip)
    audio_url = upload(page, audio, speech)
    assert video_url.startswith(f"{server.url}/files/") and audio_url != video_url
    # Each plays in its own preview: the page read their length (and the video's size).
    page.wait_for_function(
        "() => document.querySelector('[data-field=\"audio_url\"] .media-meta').textContent"
    )
    page.wait_for_function(
        "() => document.querySelector('[data-field=\"video_url\"] .media-meta').textContent"
    )
    assert page.text_content(f"{video} .media-meta") == "2.00 s · 720×720"
    assert page.text_content(f"{audio} .media-meta") == "1.50 s"
    assert page.locator(f"{video} video.preview").is_visible()
    assert page.locator(f"{audio} audio.preview").is_visible()
    assert page.locator(f"{video} img").count() == 0
    snap(page, shots, "lipsync-audio")

    sent = {"video_url": video_url, "audio_url": audio_url}
    assert code_bodies(page)["python"] == sent
    with page.expect_request(lambda r: "/queue/" in r.url and r.method == "POST") as request:
        page.click("#run")
    assert json.loads(request.value.post_data) == sent
    page.wait_for_selector("#status-badge:not([data-status='IDLE'])")
    [entry] = history(page)
    assert (entry["endpointId"], entry["body"]) == (LIPSYNC_AUDIO, sent)
    # Only the form is this test's: how the talk engine takes a faceless clip is its own
    # tests' (tests/talk). It is over before the next test uses the one worker.
    page.wait_for_selector(
        "#status-badge:is([data-status='COMPLETED'], [data-status='FAILED'])",
        timeout=RENDER_TIMEOUT_MS,
    )


def test_lipsync_text_shows_its_limit(
    page: Any, server: ServerProcess, clip: Path, shots: Path
) -> None:
    text = '[data-field="text"]'
    open_endpoint(page, server, LIPSYNC_TEXT, '[data-field="video_url"]')
    video_url = upload(page, '[data-field="video_url"]', clip)
    # No default voice here: one is always sent, the list's first until another is picked.
    assert page.input_value("#field-voice_id") == "genshin_vindi2"
    page.fill('input[aria-label="search voices"]', "overseas")
    assert page.input_value("#field-voice_id") == "oversea_male1"

    assert page.text_content(f"{text} .chars") == "0/120 characters"
    too_long = "Hello! " * 18  # 126 characters
    page.fill("#field-text", too_long)
    count = page.locator(f"{text} .chars.over")
    assert count.text_content() == "126/120 characters: 6 over the limit of 120"
    snap(page, shots, "lipsync-text")
    # Typing on is allowed: the server is the judge, and its 422 shows next to the field.
    page.click("#run")
    error = page.locator(f"{text} .field-error")
    error.wait_for()
    assert "at most 120 characters" in error.text_content()
    assert history(page) == []

    page.fill("#field-text", "Hello! I speak with a new voice.")
    assert page.text_content(f"{text} .chars") == "32/120 characters"
    assert page.locator(f"{text} .chars.over").count() == 0
    page.select_option("#field-voice_language", "zh")
    sent = {
        "video_url": video_url,
        "text": "Hello! I speak with a new voice.",
        "voice_id": "oversea_male1",
        "voice_language": "zh",
    }
    for language, body in code_bodies(page).items():
        assert body == sent, language


def test_an_avatar_asks_for_a_photo_and_its_audio(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    open_endpoint(page, server, AVATAR, '[data-field="audio_url"]')
    assert page.text_content("#endpoint-meta").startswith(
        f"{AVATAR} · AI avatar · 720p, 30 fps, 1-60 s · $0.0562/s · talk engine"
    )
    assert page.text_content("#price") == "$0.0562 per second of output"
    fields = page.eval_on_selector_all("#fields > .field", "fs => fs.map(f => f.dataset.field)")
    assert fields == ["image_url", "audio_url", "prompt"]  # the face and the voice first
    assert page.get_attribute('[data-field="image_url"] input[type=file]', "accept").startswith(
        "image/"
    )
    assert page.get_attribute('[data-field="audio_url"] input[type=file]', "accept") == "audio/*"
    snap(page, shots, "avatar")


def test_an_avatar_from_a_portrait_plays_with_its_duration(
    page: Any, server: ServerProcess, portrait: Path, speech: Path, screenshot_path: Path
) -> None:
    open_endpoint(page, server, AVATAR, '[data-field="audio_url"]')
    photo = upload(page, '[data-field="image_url"]', portrait)
    voice = upload(page, '[data-field="audio_url"]', speech)
    sent = {"image_url": photo, "audio_url": voice}  # the prompt's "." is the default
    assert code_bodies(page)["js"] == sent
    entry = run_to_completion(page)
    assert entry["body"] == sent

    # The avatar lasts as long as its audio: the video says so, and so does the result.
    played = page.evaluate(PLAY_VIDEO)
    assert abs(played["duration"] - 1.5) <= 0.1, played
    assert played["t1"] > played["t0"], played
    assert (played["width"], played["height"]) == (720, 720)  # a square photo, at 720p
    assert page.text_content("#result-facts").startswith("duration 1.50 s · seed ")
    assert page.locator("#audio-box").is_hidden()

    page.evaluate("() => { document.getElementById('video').pause(); window.scrollTo(0, 0); }")
    path = screenshot_path.with_name("avatar-result.png")
    save_screenshot(page.screenshot(full_page=True), path)
    print(f"\navatar result screenshot: {path}")
