"""The API and the worker over S3 storage: files redirect to presigned URLs, uploads and
outputs land in the bucket, own-file inputs are read from it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vidserve.api import create_app
from vidserve.config import Settings
from vidserve.endpoints import ENDPOINTS
from vidserve.storage.base import new_key
from vidserve.storage.s3 import S3Storage
from vidserve.store.sqlite import SQLiteJobStore
from vidserve.worker import Worker

from fakes import FakeEngine
from helpers import free_port, make_image

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
DATA = bytes(range(256)) * 100


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, heartbeat_interval=0.05, lease_seconds=5)


@pytest.fixture
def store(settings: Settings) -> Iterator[SQLiteJobStore]:
    store = SQLiteJobStore(settings.store_url)
    yield store
    store.close()


@pytest.fixture
def app(settings: Settings, store: SQLiteJobStore, s3_storage: S3Storage) -> FastAPI:
    return create_app(settings, store, s3_storage)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # Redirects point at the S3 server, which the in-process client cannot reach.
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client


def test_files_redirect_to_a_fresh_presigned_url(client: TestClient, s3_storage: S3Storage) -> None:
    key = s3_storage.put_bytes(DATA, content_type="video/mp4", file_name="v.mp4").key
    response = client.get(s3_storage.url(key, "http://testserver"))
    assert response.status_code == 307
    assert response.headers["cache-control"] == "no-store"
    target = response.headers["location"]
    assert target.startswith(f"{s3_storage.endpoint_url}/{s3_storage.bucket}/vid/out/{key}?")
    assert httpx.get(target).content == DATA
    part = httpx.get(target, headers={"Range": "bytes=10-19"})
    assert (part.status_code, part.content) == (206, DATA[10:20])


def test_head_redirects_to_a_url_signed_for_head(client: TestClient, s3_storage: S3Storage) -> None:
    key = s3_storage.put_bytes(DATA, content_type="video/mp4", file_name="v.mp4").key
    response = client.head(f"/files/{key}")
    assert response.status_code == 307
    head = httpx.head(response.headers["location"])
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(DATA))


@pytest.mark.parametrize("key", [f"{'0' * 32}/absent.mp4", "../../etc/passwd", "onlyone"])
def test_missing_files_are_404(client: TestClient, key: str) -> None:
    assert client.get(f"/files/{key}").status_code == 404
    assert client.head(f"/files/{key}").status_code == 404


def test_uploads_land_in_the_bucket(client: TestClient, s3_storage: S3Storage) -> None:
    grant = client.post(
        "/rest/storage/upload/initiate", json={"content_type": "image/png", "file_name": "in.png"}
    ).json()
    put = client.put(grant["upload_url"], content=DATA, headers={"content-type": "image/png"})
    assert put.status_code == 200, put.text
    key = s3_storage.key_from_url(grant["file_url"], ["http://testserver"])
    assert key is not None
    assert s3_storage.read_bytes(key, len(DATA)) == DATA
    target = client.get(grant["file_url"]).headers["location"]
    download = httpx.get(target)
    assert download.content == DATA
    assert download.headers["content-type"] == "image/png"


def test_worker_reads_inputs_from_and_writes_outputs_to_the_bucket(
    client: TestClient, store: SQLiteJobStore, settings: Settings, s3_storage: S3Storage
) -> None:
    # "testserver" resolves nowhere: the input is found only by reading it from the bucket.
    image = s3_storage.put_bytes(make_image(400, 300), content_type="image/png", file_name="i.png")
    body = {"prompt": "a road", "image_url": s3_storage.url(image.key, "http://testserver")}
    job = client.post(f"/queue/{V1}", json=body).json()
    engine = FakeEngine()
    assert Worker(store, s3_storage, settings, dict.fromkeys(ENDPOINTS, engine)).drain() == 1
    assert engine.requests[0].start_image.shape == (300, 400, 3)
    video = client.get(job["response_url"]).json()["video"]
    assert video["url"].startswith("http://testserver/files/")
    download = httpx.get(client.get(video["url"]).headers["location"])
    assert len(download.content) == video["file_size"]
    assert download.headers["content-disposition"] == 'inline; filename="output.mp4"'


def test_an_http_client_following_redirects_gets_the_bytes_and_ranges(
    app: FastAPI, s3_storage: S3Storage
) -> None:
    """End to end over real sockets, as a browser or fal_client would fetch a result."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            threading.Event().wait(0.02)
        key = s3_storage.put_bytes(DATA, content_type="video/mp4", file_name="v.mp4").key
        url = s3_storage.url(key, f"http://127.0.0.1:{port}")
        with httpx.Client(follow_redirects=True) as http:
            assert http.get(url).content == DATA
            part = http.get(url, headers={"Range": "bytes=256-511"})
            assert part.status_code == 206
            assert part.content == DATA[256:512]
            assert http.get(url.replace(key, new_key("gone.mp4"))).status_code == 404
    finally:
        server.should_exit = True
        thread.join(10)
