"""Text- and reference-to-video end to end: a real ``vidserve serve`` whose engines TOML maps
Kling text-to-video endpoints to tiny Wan, LTX and CogVideoX folders and O1 references to a
tiny Wan VACE, driven over HTTP and by fal's own client."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from diffusion_fixtures import FAST, write_config

from vidserve.compat import use_vidserve
from vidserve.media.video import probe

from helpers import ServerProcess, data_uri, make_image, wait_status

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
K = "fal-ai/kling-video/"
#: Endpoint -> the tiny folder (``tiny_text``) that serves it.
MAPPED = {
    K + "v2.1/master/text-to-video": "wan",
    K + "v1.6/standard/text-to-video": "ltx",
    K + "v2/master/text-to-video": "cogvideox",
    K + "v3/standard/text-to-video": "wan",
    K + "o1/standard/reference-to-video": "vace",
}


@pytest.fixture(scope="module")
def server(
    tiny_text: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("t2v")
    tables = {
        name: {"engine": "wan" if name == "vace" else name, "weights": tiny_text[name], **FAST}
        for name in sorted(set(MAPPED.values()))
    }
    config = write_config(root / "engines.toml", tables, endpoints=MAPPED)
    srv = ServerProcess(
        root / "data", workers=1, env={"VIDSERVE_ENGINES_CONFIG": str(config)}
    ).start(timeout=60)
    yield srv
    srv.stop()


def lasts(info: Any, seconds: float) -> bool:
    """The video lasts ``seconds``: never less, at most one VAE step more (8 frames at most:
    CogVideoX 1.0's)."""
    return bool(seconds <= info.num_frames / info.fps <= seconds + 8 / info.fps)


def render(srv: ServerProcess, endpoint: str, body: dict[str, Any], tmp_path: Path) -> Any:
    with httpx.Client(timeout=60) as client:
        job = client.post(f"{srv.url}/queue/{endpoint}", json=body)
        assert job.status_code == 200, job.text
        status = wait_status(client, job.json()["status_url"], "COMPLETED", timeout=240, logs=1)
        assert "error" not in status, status
        video = client.get(job.json()["response_url"]).json()["video"]
        path = tmp_path / "out.mp4"
        path.write_bytes(client.get(video["url"]).content)
    return probe(path)


@pytest.mark.parametrize(
    "endpoint",
    [
        K + "v2.1/master/text-to-video",
        K + "v1.6/standard/text-to-video",
        K + "v2/master/text-to-video",
    ],
    ids=["wan", "ltx", "cogvideox"],
)
def test_each_family_answers_text_to_video_with_an_mp4(
    server: ServerProcess, endpoint: str, tmp_path: Path
) -> None:
    info = render(server, endpoint, {"prompt": "a cat walks on the road"}, tmp_path)
    # 5 s: at FAST's 2 fps, or lower where the tiny model cannot make that many frames.
    assert info.codec == "h264" and info.num_frames >= 9 and info.fps <= 2.0
    assert lasts(info, 5.0)


def test_a_text_storyboard_renders_every_shot(server: ServerProcess, tmp_path: Path) -> None:
    shots = [{"prompt": "a road", "duration": "2"}, {"prompt": "a cat on it", "duration": "3"}]
    body = {"multi_prompt": shots, "generate_audio": False}
    info = render(server, K + "v3/standard/text-to-video", body, tmp_path)
    assert lasts(info, 5.0)


def test_references_render_through_wan_vace(server: ServerProcess, tmp_path: Path) -> None:
    body = {
        "prompt": "@Image1 and @Image2",
        "image_urls": [data_uri(make_image(400, 300, seed=s)) for s in (1, 2)],
        "duration": "3",
    }
    assert render(server, K + "o1/standard/reference-to-video", body, tmp_path).num_frames > 1


def test_what_the_engine_cannot_do_is_a_422_naming_it(server: ServerProcess) -> None:
    body = {"prompt": "p", "aspect_ratio": "16:9", "generate_audio": True}
    response = httpx.post(f"{server.url}/queue/{K}v3/standard/text-to-video", json=body)
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "generate_audio"] and "wan engine" in detail["msg"]


def test_fal_client_subscribes_to_text_to_video(server: ServerProcess) -> None:
    import fal_client.client as fc

    names = ("RUN_URL_FORMAT", "QUEUE_URL_FORMAT", "REST_URL", "CDN_URL", "REALTIME_URL_FORMAT")
    saved = {name: getattr(fc, name) for name in names}
    try:
        fal = use_vidserve(server.url)
        result = fal.subscribe(K + "v2.1/master/text-to-video", arguments={"prompt": "a cat"})
        assert result["video"]["content_type"] == "video/mp4"
    finally:
        for name, value in saved.items():
            setattr(fc, name, value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gc.collect()


@pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
def test_openais_sdk_makes_a_video_from_text_alone(server: ServerProcess, tmp_path: Path) -> None:
    import openai

    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused") as client:
        video = client.videos.create_and_poll(
            model="kling",  # v3 standard: its text-to-video is mapped to tiny Wan here
            prompt="a cat walks on the road",
            seconds="3",  # type: ignore[arg-type]  # Kling's 3-15 s
            poll_interval_ms=500,
        )
        assert video.status == "completed", video.error
        out = tmp_path / "t2v.mp4"
        client.videos.download_content(video.id).write_to_file(out)
    info = probe(out)
    assert lasts(info, 3.0)
    assert video.size == f"{info.width}x{info.height}"
