"""End to end over real HTTP: a ``vidserve serve`` process, the seeds' full examples, real
MP4s, cancellation, and a crash in the middle of a render."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from vidserve.endpoints import ENDPOINTS
from vidserve.media.video import probe

from helpers import ServerProcess, data_uri, make_image, make_mask, wait_status

pytestmark = pytest.mark.slow

START = data_uri(make_image(640, 480, seed=1))
END = data_uri(make_image(640, 480, seed=2))
STATIC_MASK = data_uri(make_mask(640, 480, (0, 380, 640, 480)))
DYNAMIC_MASK = data_uri(make_mask(640, 480, (240, 200, 320, 280)))
V16 = "fal-ai/kling-video/v1.6/pro/image-to-video"


def seed_example(endpoint_id: str) -> dict[str, Any]:
    """The seed page's full example with its public URLs swapped for data URIs."""
    body = copy.deepcopy(dict(ENDPOINTS[endpoint_id].example))
    for key in ("image_url", "start_image_url"):
        if key in body:
            body[key] = START
    for key in ("tail_image_url", "end_image_url"):
        if key in body:
            body[key] = END
    if "static_mask_url" in body:
        body["static_mask_url"] = STATIC_MASK
    for mask in body.get("dynamic_masks", []):
        mask["mask_url"] = DYNAMIC_MASK
    return body


def run_to_completion(
    client: httpx.Client,
    srv: ServerProcess,
    endpoint: str,
    body: dict[str, Any],
    timeout: float = 120,
) -> dict[str, Any]:
    job = client.post(f"{srv.url}/queue/{endpoint}", json=body).json()
    wait_status(client, job["status_url"], "COMPLETED", timeout=timeout)
    return job


def check_video(
    client: httpx.Client,
    result: dict[str, Any],
    tmp_path: Path,
    size: tuple[int, int],
    fps: int,
    seconds: float,
) -> None:
    video = result["video"]
    assert video["content_type"] == "video/mp4"
    data = client.get(video["url"]).content
    assert len(data) == video["file_size"]
    path = tmp_path / f"{time.monotonic_ns()}.mp4"
    path.write_bytes(data)
    info = probe(path)
    assert (info.width, info.height) == size
    assert info.fps == pytest.approx(fps)
    assert info.num_frames == round(seconds * fps)
    assert info.duration == pytest.approx(seconds, abs=0.05)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")


EXPECTED = {
    "fal-ai/kling-video/v1/standard/image-to-video": ((960, 720), 30),
    "fal-ai/kling-video/v1/pro/image-to-video": ((1280, 720), 30),
    "fal-ai/kling-video/v1.6/pro/image-to-video": ((1920, 1080), 30),
    "fal-ai/kling-video/v2.1/master/image-to-video": ((1440, 1080), 24),
    "fal-ai/kling-video/o1/standard/image-to-video": ((960, 720), 24),
}


def test_every_seed_example_comes_back_as_a_matching_mp4(
    server_factory: Any, tmp_path: Path
) -> None:
    srv = server_factory(workers=2)
    with httpx.Client(timeout=30) as client:
        jobs = {
            eid: client.post(f"{srv.url}/queue/{eid}", json=seed_example(eid)).json()
            for eid in EXPECTED
        }
        for eid, job in jobs.items():
            status = wait_status(client, job["status_url"], "COMPLETED", timeout=180, logs=1)
            assert "error" not in status, status
            size, fps = EXPECTED[eid]
            check_video(client, client.get(job["response_url"]).json(), tmp_path, size, fps, 5)


@pytest.mark.parametrize(
    ("endpoint", "fields", "seconds", "fps"),
    [
        ("fal-ai/kling-video/v1/standard/image-to-video", {"duration": "10"}, 10, 30),
        ("fal-ai/kling-video/o1/standard/image-to-video", {"duration": "3"}, 3, 24),
        ("fal-ai/kling-video/o1/standard/image-to-video", {"duration": "10"}, 10, 24),
    ],
)
def test_durations_are_honoured(
    server_factory: Any,
    tmp_path: Path,
    endpoint: str,
    fields: dict[str, Any],
    seconds: int,
    fps: int,
) -> None:
    srv = server_factory()
    image_key = "start_image_url" if "/o1/" in endpoint else "image_url"
    with httpx.Client(timeout=30) as client:
        job = run_to_completion(
            client, srv, endpoint, {"prompt": "slow push in", image_key: START, **fields}
        )
        check_video(
            client, client.get(job["response_url"]).json(), tmp_path, (960, 720), fps, seconds
        )


def test_cancel_queued_and_running_requests(server_factory: Any) -> None:
    srv = server_factory(workers=1)
    body = {"prompt": "p", "image_url": START, "duration": "10", "aspect_ratio": "16:9"}
    with httpx.Client(timeout=30) as client:
        running = client.post(f"{srv.url}/queue/{V16}", json=body).json()
        queued = client.post(f"{srv.url}/queue/{V16}", json=body).json()
        assert queued["queue_position"] == 1
        wait_status(client, running["status_url"], "IN_PROGRESS")

        response = client.put(queued["cancel_url"])
        assert (response.status_code, response.json()["status"]) == (200, "OK")
        assert client.get(queued["status_url"]).json()["error_type"] == "request_cancelled"

        asked = time.monotonic()
        response = client.put(running["cancel_url"])
        assert response.status_code == 202
        status = wait_status(client, running["status_url"], "COMPLETED", timeout=10)
        latency = time.monotonic() - asked
        assert status["error_type"] == "request_cancelled"
        assert latency < 1.5, f"running request took {latency:.2f} s to stop"
        assert client.get(running["response_url"]).status_code == 400


def test_a_request_running_when_the_server_dies_runs_again_after_restart(
    server_factory: Any, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    srv = server_factory(workers=1, data_dir=data_dir)
    body = {"prompt": "p", "image_url": START, "duration": "10", "aspect_ratio": "16:9"}
    with httpx.Client(timeout=30) as client:
        victim = client.post(f"{srv.url}/queue/{V16}", json=body).json()
        waiting = client.post(f"{srv.url}/queue/{V16}", json={**body, "duration": "5"}).json()
        done = client.post(f"{srv.url}/queue/{V16}", json={**body, "duration": "5"}).json()
        client.put(done["cancel_url"])  # a completed request must survive the restart too
        deadline = time.monotonic() + 60
        while client.get(victim["status_url"]).json().get("progress", 0) < 0.1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        srv.kill()

        again = server_factory(workers=1, data_dir=data_dir, port=srv.port)
        assert client.get(done["status_url"]).json()["error_type"] == "request_cancelled"
        for job in (victim, waiting):
            status = wait_status(client, job["status_url"], "COMPLETED", timeout=180, logs=1)
            assert "error" not in status, status
            check_video(
                client,
                client.get(job["response_url"]).json(),
                tmp_path,
                (1920, 1080),
                30,
                10 if job is victim else 5,
            )
        messages = [
            e["message"]
            for e in client.get(victim["status_url"], params={"logs": 1}).json()["logs"]
        ]
        assert any("(attempt 1)" in m for m in messages)
        assert any("(attempt 2)" in m for m in messages)
        assert "were running when the last process stopped" in again.log()
