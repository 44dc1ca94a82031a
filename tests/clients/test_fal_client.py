"""fal's own Python client, unchanged, against a live vidserve (``vidserve.compat``)."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from vidserve.compat import use_vidserve

from helpers import ServerProcess, data_uri, make_image

pytestmark = [
    pytest.mark.slow,
    # fal_client 1.0.3 makes a new httpx.Client per CDN upload and never closes it.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
V1 = "fal-ai/kling-video/v1/standard/image-to-video"
IMAGE = data_uri(make_image(640, 360))


@pytest.fixture(scope="module")
def fal(live: ServerProcess) -> Iterator[ModuleType]:
    import fal_client.client as fc

    saved = {
        n: getattr(fc, n)
        for n in (
            "RUN_URL_FORMAT",
            "QUEUE_URL_FORMAT",
            "REST_URL",
            "CDN_URL",
            "REALTIME_URL_FORMAT",
        )
    }
    yield use_vidserve(live.url)
    for name, value in saved.items():
        setattr(fc, name, value)
    with warnings.catch_warnings():
        # Collect fal_client's leaked sockets here, not during some later test.
        warnings.simplefilter("ignore")
        gc.collect()


def test_subscribe_with_logs_reports_queue_updates_and_returns_the_video(fal: ModuleType) -> None:
    updates: list[Any] = []
    result = fal.subscribe(
        V1,
        arguments={"prompt": "push in", "image_url": IMAGE},
        with_logs=True,
        on_queue_update=updates.append,
    )
    assert result["video"]["content_type"] == "video/mp4"
    assert isinstance(updates[-1], fal.Completed)
    logs = [
        log["message"]
        for u in updates
        if isinstance(u, fal.InProgress | fal.Completed)
        for log in (u.logs or [])
    ]
    assert any("Rendering" in m for m in logs)


def test_submit_status_result_and_cancel(fal: ModuleType, live: ServerProcess) -> None:
    handle = fal.submit(V1, arguments={"prompt": "p", "image_url": IMAGE})
    assert handle.status_url.startswith(live.url)
    assert isinstance(
        fal.status(V1, handle.request_id, with_logs=True),
        fal.Queued | fal.InProgress | fal.Completed,
    )
    assert handle.get()["video"]["url"].startswith(live.url)
    assert fal.result(V1, handle.request_id) == handle.get()
    # Cancel: a queued request behind two long ones (two workers) is cancelled at once.
    long = {"prompt": "p", "image_url": IMAGE, "duration": "10"}
    blockers = [fal.submit(V1, arguments=long) for _ in range(2)]
    victim = fal.submit(V1, arguments=long)
    fal.cancel(V1, victim.request_id)
    status = victim.status()
    assert isinstance(status, fal.Completed) and status.error_type == "request_cancelled"
    with pytest.raises(fal.FalClientHTTPError) as err:
        victim.get()
    assert err.value.error_type == "request_cancelled"
    for blocker in blockers:
        blocker.cancel()


def test_run_waits_for_the_output(fal: ModuleType) -> None:
    result = fal.run(V1, arguments={"prompt": "p", "image_url": IMAGE})
    assert result["video"]["file_name"] == "output.mp4"


def test_upload_file_then_use_its_url(fal: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(make_image(500, 400, seed=3))
    url = fal.upload_file(path)
    result = fal.subscribe(V1, arguments={"prompt": "p", "image_url": url})
    assert result["video"]["content_type"] == "video/mp4"


def test_upload_fallback_initiate_and_put(fal: ModuleType) -> None:
    png = make_image(320, 320, seed=4)
    url = fal.upload(png, "image/png", "pic.png", repository="fal")
    import httpx

    assert httpx.get(url).content == png


def test_multipart_cdn_upload(fal: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    import fal_client.client as fc
    import httpx

    # fal_client goes multipart above 100 MiB; lower the bar rather than send 100 MiB.
    monkeypatch.setattr(fc, "MULTIPART_THRESHOLD", 1024)
    monkeypatch.setattr(fc, "MULTIPART_CHUNK_SIZE", 4096)
    data = bytes(range(256)) * 100  # 25,600 bytes: 7 parts
    url = fal.upload(data, "application/octet-stream", "blob.bin")
    assert httpx.get(url).content == data


def test_validation_error_surfaces_as_the_clients_http_error(fal: ModuleType) -> None:
    with pytest.raises(fal.FalClientHTTPError) as err:
        fal.submit(V1, arguments={"prompt": "p", "image_url": IMAGE, "cfg_scale": 2})
    assert err.value.status_code == 422
    assert "cfg_scale" in str(err.value)


PHOTOS = [data_uri(make_image(400, 300, seed=s)) for s in range(3)]
K = "fal-ai/kling-video/"
KINDS = [
    (
        K + "v3/standard/image-to-video",
        {
            "multi_prompt": [
                {"prompt": "pan left", "duration": "2"},
                {"prompt": "zoom in", "duration": "1"},
            ],
            "start_image_url": PHOTOS[0],
            "generate_audio": False,
        },
    ),
    (K + "v1.6/standard/elements", {"prompt": "in turn", "input_image_urls": PHOTOS}),
    (
        K + "o1/standard/reference-to-video",
        {
            "prompt": "@Element1 by @Image1",
            "elements": [{"frontal_image_url": PHOTOS[0]}],
            "image_urls": PHOTOS[1:],
            "duration": "3",
        },
    ),
    (K + "v1/standard/effects", {"effect_scene": "expansion", "input_image_urls": PHOTOS[:1]}),
]


@pytest.mark.parametrize(("endpoint", "arguments"), KINDS, ids=lambda v: str(v).split("/")[-1])
def test_subscribe_on_each_kind_the_motion_engine_serves(
    fal: ModuleType, endpoint: str, arguments: dict[str, Any]
) -> None:
    result = fal.subscribe(endpoint, arguments=arguments)
    assert result["video"]["content_type"] == "video/mp4" and result["video"]["file_size"] > 0


def test_subscribe_on_text_to_video_raises_the_servers_reason(fal: ModuleType) -> None:
    with pytest.raises(fal.FalClientHTTPError) as err:
        fal.subscribe(K + "v2.5-turbo/pro/text-to-video", arguments={"prompt": "a corgi"})
    assert err.value.status_code == 400 and err.value.error_type == "endpoint_not_served"
    assert "engines that can: cogvideox, ltx, wan" in str(err.value)


def _talking_inputs(tmp_path: Path) -> tuple[str, str]:
    """A 2 s 720x720 video of a real face (scikit-image's astronaut) and 1.5 s of speech-like
    audio, as data URIs."""
    import cv2
    import numpy as np
    from skimage.data import astronaut

    from vidserve.media.audio import Audio, encode_audio
    from vidserve.media.video import VideoWriter

    face = cv2.resize(astronaut(), (720, 720), interpolation=cv2.INTER_CUBIC)
    with VideoWriter(tmp_path / "face.mp4", 720, 720, 25) as writer:
        for _ in range(50):
            writer.write(face)
    t = np.arange(int(1.5 * 16000)) / 16000
    wave = 0.5 * np.clip(np.sin(2 * np.pi * 3 * t), 0, None) * np.sin(2 * np.pi * 150 * t)
    encode_audio(Audio(wave.astype(np.float32), 16000), tmp_path / "speech.wav", "wav")
    video = data_uri((tmp_path / "face.mp4").read_bytes(), "video/mp4")
    return video, data_uri((tmp_path / "speech.wav").read_bytes(), "audio/wav")


def test_subscribe_on_lipsync_from_audio_and_from_text(fal: ModuleType, tmp_path: Path) -> None:
    video, audio = _talking_inputs(tmp_path)
    for endpoint, arguments in (
        (K + "lipsync/audio-to-video", {"video_url": video, "audio_url": audio}),
        (K + "lipsync/text-to-video", {"video_url": video, "text": "Hi!", "voice_id": "AOT"}),
    ):
        result = fal.subscribe(endpoint, arguments=arguments)
        assert result["video"]["content_type"] == "video/mp4", endpoint


def test_subscribe_on_text_to_speech(fal: ModuleType) -> None:
    result = fal.subscribe(K + "v1/tts", arguments={"text": "Hello from vidserve."})
    assert result["audio"]["content_type"] == "audio/mpeg" and result["audio"]["file_size"] > 0
