"""vidserve's own client, sync and async, through the same flows as fal's clients."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from vidserve.client import (
    AsyncClient,
    Completed,
    FalClientHTTPError,
    FalClientTimeoutError,
    InProgress,
    Queued,
    SyncClient,
    encode,
    encode_file,
)

from helpers import ServerProcess, data_uri, make_image

pytestmark = pytest.mark.slow
V1 = "fal-ai/kling-video/v1/standard/image-to-video"
IMAGE = data_uri(make_image(640, 360))
LONG = {"prompt": "p", "image_url": IMAGE, "duration": "10"}


def test_importing_the_client_pulls_no_server_opencv_or_torch() -> None:
    code = (
        "import sys, vidserve.client; "
        "bad = [m for m in ('fastapi', 'starlette', 'uvicorn', 'cv2', 'torch', 'av', "
        "'numpy') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_key_and_address_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDSERVE_URL", "http://example.test:9")
    monkeypatch.delenv("VIDSERVE_KEY", raising=False)
    monkeypatch.setenv("FAL_KEY", "fal-key")
    client = SyncClient()
    assert client._config.base_url == "http://example.test:9"
    assert client._config.headers()["Authorization"] == "Key fal-key"
    monkeypatch.setenv("VIDSERVE_KEY", "own-key")
    assert SyncClient()._config.headers()["Authorization"] == "Key own-key"


def test_encode_helpers_make_data_uris(tmp_path: Path) -> None:
    assert encode(b"hi", "text/plain") == "data:text/plain;base64,aGk="
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG")
    assert encode_file(path).startswith("data:image/png;base64,")


def test_sync_flows(live: ServerProcess, tmp_path: Path) -> None:
    with SyncClient(base_url=live.url) as client:
        updates: list[Any] = []
        result = client.subscribe(
            V1, {"prompt": "p", "image_url": IMAGE}, with_logs=True, on_queue_update=updates.append
        )
        assert result["video"]["content_type"] == "video/mp4"
        assert isinstance(updates[-1], Completed) and updates[-1].metrics["inference_time"] > 0
        assert any(isinstance(u, InProgress) for u in updates)

        handle = client.submit(V1, {"prompt": "p", "image_url": IMAGE})
        assert isinstance(client.status(V1, handle.request_id), Queued | InProgress | Completed)
        events = list(handle.iter_events(with_logs=True, interval=0.05))
        assert isinstance(events[-1], Completed) and events[-1].logs
        assert client.result(V1, handle.request_id) == handle.get()

        assert client.run(V1, {"prompt": "p", "image_url": IMAGE})["video"]["url"]

        path = tmp_path / "photo.png"
        path.write_bytes(make_image(480, 480, seed=5))
        url = client.upload_file(path)
        assert httpx.get(url).content == path.read_bytes()
        assert client.subscribe(V1, {"prompt": "p", "image_url": url})["video"]["url"]

        blockers = [client.submit(V1, LONG) for _ in range(2)]
        victim = client.submit(V1, LONG)
        client.cancel(V1, victim.request_id)
        status = victim.status()
        assert isinstance(status, Completed) and status.error_type == "request_cancelled"
        for blocker in blockers:
            blocker.cancel()

        with pytest.raises(FalClientHTTPError) as err:
            client.submit(V1, {"prompt": "p", "image_url": IMAGE, "duration": "7"})
        assert err.value.status_code == 422 and "duration" in err.value.message


def test_subscribe_client_timeout_cancels_the_request(live: ServerProcess) -> None:
    with SyncClient(base_url=live.url) as client:
        seen: list[str] = []
        with pytest.raises(FalClientTimeoutError) as err:
            client.subscribe(V1, LONG, client_timeout=0.5, on_enqueue=seen.append)
        assert err.value.request_id == seen[0]
        status = client.status(V1, seen[0])
        assert isinstance(status, Completed | InProgress)  # cancelled, or stopping now


def test_async_flows(live: ServerProcess) -> None:
    async def main() -> None:
        async with AsyncClient(base_url=live.url) as client:
            updates: list[Any] = []

            async def on_update(status: Any) -> None:
                updates.append(status)

            result = await client.subscribe(
                V1, {"prompt": "p", "image_url": IMAGE}, with_logs=True, on_queue_update=on_update
            )
            assert result["video"]["content_type"] == "video/mp4"
            assert isinstance(updates[-1], Completed)

            handle = await client.submit(V1, {"prompt": "p", "image_url": IMAGE})
            assert (await handle.get())["video"]["url"]
            assert await client.result(V1, handle.request_id) == await handle.get()
            assert (await client.run(V1, {"prompt": "p", "image_url": IMAGE}))["video"]

            url = await client.upload(make_image(320, 320), "image/png", "a.png")
            assert (await client.subscribe(V1, {"prompt": "p", "image_url": url}))["video"]

            victim = await client.submit(V1, LONG)
            await client.cancel(V1, victim.request_id)
            with pytest.raises(FalClientHTTPError):
                await client.submit(V1, {"prompt": "p"})

    asyncio.run(main())
