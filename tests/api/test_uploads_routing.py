"""Upload paths and fal host routing, in process (the real clients run in tests/clients)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from vidserve.api import create_app

from fakes import Harness
from helpers import data_uri, make_image

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
IMAGE = data_uri(make_image(320, 320))


def test_initiate_then_put_without_auth_stores_the_file(harness: Harness) -> None:
    grant = harness.client.post(
        "/rest/storage/upload/initiate?storage_type=fal-cdn-v3",
        json={"content_type": "image/png", "file_name": "a b/../c.png"},
    )
    assert grant.status_code == 200
    body = grant.json()
    put = harness.client.put(
        body["upload_url"], content=b"pixels", headers={"Content-Type": "image/png"}
    )
    assert put.status_code == 200
    fetched = harness.client.get(body["file_url"])
    assert fetched.content == b"pixels"
    assert body["file_url"].endswith("/c.png")  # the name is made safe


def test_forged_upload_urls_are_refused(harness: Harness) -> None:
    body = harness.client.post("/rest/storage/upload/initiate", json={}).json()
    forged = body["upload_url"][:-3] + "abc"
    assert harness.client.put(forged, content=b"x").status_code == 404
    assert harness.client.put("/files/upload/garbage", content=b"x").status_code == 404


def test_js_multipart_parts_then_complete(harness: Harness) -> None:
    body = harness.client.post(
        "/rest/storage/upload/initiate-multipart",
        json={"content_type": "application/octet-stream", "file_name": "big.bin"},
    ).json()
    url = body["upload_url"]
    parts = []
    for number, chunk in ((1, b"a" * 10), (2, b"b" * 5)):
        answer = harness.client.put(f"{url}/{number}", content=chunk)
        assert answer.status_code == 200
        parts.append(answer.json())
        assert answer.json()["etag"] == answer.headers["etag"]
    assert harness.client.post(f"{url}/complete", json={"parts": parts}).status_code == 200
    assert harness.client.get(body["file_url"]).content == b"a" * 10 + b"b" * 5


def test_multipart_parts_may_reach_different_api_processes(
    harness: Harness, tmp_path: Path
) -> None:
    """Behind a load balancer each call of one upload may reach another API process (here:
    another app on the same store and storage, with a data folder of its own)."""
    other_settings = replace(harness.settings, data_dir=tmp_path / "other-process")
    other = TestClient(create_app(other_settings, harness.store, harness.storage))
    body = harness.client.post("/rest/storage/upload/initiate-multipart", json={}).json()
    url = body["upload_url"]
    first = harness.client.put(f"{url}/1", content=b"first half, ").json()
    second = other.put(f"{url}/2", content=b"second half").json()
    done = other.post(f"{url}/complete", json={"parts": [first, second]})
    assert done.status_code == 200, done.text
    assert harness.client.get(body["file_url"]).content == b"first half, second half"


def test_complete_with_a_missing_part_is_422(harness: Harness) -> None:
    url = harness.client.post("/rest/storage/upload/initiate-multipart", json={}).json()[
        "upload_url"
    ]
    harness.client.put(f"{url}/1", content=b"x")
    answer = harness.client.post(
        f"{url}/complete", json={"parts": [{"partNumber": 1}, {"partNumber": 2}]}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "parts", 1]
    for bad in ("1", 0, 10_001, True, None):
        answer = harness.client.post(f"{url}/complete", json={"parts": [{"partNumber": bad}]})
        assert answer.status_code == 422, bad
        assert answer.json()["detail"][0]["loc"] == ["body", "parts", 0, "partNumber"]


def test_cdn_upload_needs_the_token(harness: Harness) -> None:
    assert harness.client.post("/cdn/files/upload", content=b"x").status_code == 422
    token = harness.client.post("/rest/storage/auth/token?storage_type=fal-cdn-v3", json={}).json()
    assert token["base_url"] == "http://testserver/cdn"
    answer = harness.client.post(
        "/cdn/files/upload",
        content=b"data",
        headers={
            "Authorization": f"Bearer {token['token']}",
            "Content-Type": "text/plain",
            "X-Fal-File-Name": "n.txt",
        },
    )
    assert answer.status_code == 200
    assert harness.client.get(answer.json()["access_url"]).content == b"data"


def test_uploads_over_the_cap_are_413(harness: Harness) -> None:
    ctx = harness.app.state.ctx
    harness.app.state.ctx = replace(ctx, settings=replace(ctx.settings, max_upload_bytes=100))
    url = harness.client.post("/rest/storage/upload/initiate", json={}).json()["upload_url"]
    assert harness.client.put(url, content=b"x" * 101).status_code == 413
    assert not list(harness.settings.uploads_dir.glob("*.part"))  # nothing left behind


def test_queue_host_routes_to_the_queue(harness: Harness) -> None:
    answer = harness.client.post(
        f"/{V1}", json={"prompt": "p", "image_url": IMAGE}, headers={"Host": "queue.vidserve.test"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "IN_QUEUE"
    status = harness.client.get(
        f"/fal-ai/kling-video/requests/{answer.json()['request_id']}/status",
        headers={"Host": "queue.vidserve.test"},
    )
    assert status.status_code == 202


def test_run_host_routes_endpoint_paths_to_run(harness: Harness) -> None:
    answer = harness.client.post(
        f"/{V1}", json={"image_url": IMAGE}, headers={"Host": "vidserve.test"}
    )
    assert answer.status_code == 422  # validated by the run route
    assert answer.json()["detail"][0]["loc"] == ["body", "prompt"]


def test_proxy_routes_on_the_target_url(harness: Harness) -> None:
    answer = harness.client.post(
        "/api/fal/proxy",
        json={"prompt": "p", "image_url": IMAGE},
        headers={"x-fal-target-url": f"https://queue.fal.run/{V1}"},
    )
    assert answer.status_code == 200 and answer.json()["status"] == "IN_QUEUE"
    rid = answer.json()["request_id"]
    status = harness.client.get(
        "/api/fal/proxy",
        headers={
            "x-fal-target-url": f"https://queue.fal.run/fal-ai/kling-video/requests/{rid}"
            "/status?logs=1"
        },
    )
    assert status.status_code == 202 and status.json()["logs"] == []


def test_proxy_refuses_missing_or_foreign_targets(harness: Harness) -> None:
    assert harness.client.get("/api/fal/proxy").status_code == 400
    foreign = harness.client.get(
        "/api/fal/proxy", headers={"x-fal-target-url": "https://example.com/x"}
    )
    assert foreign.status_code == 400
    assert "not a fal or vidserve URL" in foreign.json()["detail"]
