"""API keys: authentication, per-key isolation of requests, rate limits, usage and cost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vidserve.store.base import BUSY_RETRY_SECONDS

from fakes import Harness
from helpers import data_uri, make_image

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
O1 = "fal-ai/kling-video/o1/standard/image-to-video"
BODY = {"prompt": "a car on a road", "image_url": data_uri(make_image(640, 360))}


def key_header(h: Harness, name: str, **limits: int) -> dict[str, str]:
    key, secret = h.store.create_key(name, **limits)
    return {"Authorization": f"Key {key.id}:{secret}"}


def submit(h: Harness, headers: dict[str, str], endpoint: str = V1) -> dict[str, Any]:
    response = h.client.post(f"/queue/{endpoint}", json=BODY, headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_without_keys_the_server_is_open_whatever_key_is_sent(harness: Harness) -> None:
    job = submit(harness, {"Authorization": "Key fal-key-from-somewhere"})
    assert harness.client.get(job["status_url"]).status_code == 202
    stored = harness.store.get(job["request_id"])
    assert stored is not None and stored.owner is None


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (None, "needs an API key"),
        ("Basic abc", "needs an API key"),
        ("Bearer abc", "Invalid API key"),  # OpenAI's scheme takes the same keys
        ("Key ", "needs an API key"),
        ("Key nope", "Invalid API key"),
        ("Key key_000000000000:nope", "Invalid API key"),
    ],
)
def test_once_a_key_exists_every_call_needs_a_valid_one(
    harness: Harness, header: str | None, fragment: str
) -> None:
    key_header(harness, "ci")
    headers = {} if header is None else {"Authorization": header}
    for method, path in [
        ("POST", f"/queue/{V1}"),
        ("POST", f"/run/{V1}"),
        ("GET", "/queue/fal-ai/kling-video/requests/x/status"),
        ("GET", "/usage"),
        ("GET", "/metrics"),
        ("POST", "/rest/storage/upload/initiate"),
        ("POST", "/rest/storage/auth/token"),
    ]:
        response = harness.client.request(method, path, json=BODY, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert fragment in response.json()["detail"]
        assert response.headers["www-authenticate"] == "Key"
    assert harness.client.get("/health").status_code == 200  # ops stay open


def test_both_key_forms_work_and_a_mismatched_id_does_not(harness: Harness) -> None:
    key, secret = harness.store.create_key("ci")
    submit(harness, {"Authorization": f"Key {key.id}:{secret}"})
    submit(harness, {"Authorization": f"Key {secret}"})
    other, _ = harness.store.create_key("other")
    response = harness.client.post(
        f"/queue/{V1}", json=BODY, headers={"Authorization": f"Key {other.id}:{secret}"}
    )
    assert response.status_code == 401


def test_a_revoked_key_stops_working(harness: Harness) -> None:
    headers = key_header(harness, "ci")
    submit(harness, headers)
    (key,) = harness.store.keys()
    harness.store.revoke_key(key.id)
    assert harness.client.post(f"/queue/{V1}", json=BODY, headers=headers).status_code == 401


def test_another_keys_requests_are_404_on_every_route(harness: Harness) -> None:
    alice, bob = key_header(harness, "alice"), key_header(harness, "bob")
    job = submit(harness, alice)
    harness.drain()
    for method, url in [
        ("GET", job["status_url"]),
        ("GET", job["status_url"] + "?logs=1"),
        ("GET", job["status_url"] + "/stream"),
        ("GET", job["response_url"]),
        ("PUT", job["cancel_url"]),
    ]:
        theirs = harness.client.request(method, url, headers=bob)
        assert theirs.status_code == 404, (method, url)
        assert harness.client.request(method, url, headers=alice).status_code != 404
    # The 404 is the same as for a request that never existed: nothing leaks.
    unknown = job["status_url"].replace(job["request_id"], "00000000-0000-0000-0000-000000000000")
    assert harness.client.get(unknown, headers=bob).json()["detail"].startswith("Request ")


def test_files_are_unguessable_and_not_listable(harness: Harness) -> None:
    alice = key_header(harness, "alice")
    job = submit(harness, alice)
    harness.drain()
    url = harness.client.get(job["response_url"], headers=alice).json()["video"]["url"]
    folder, name = url.split("/files/", 1)[1].split("/")
    assert len(folder) == 32 and int(folder, 16) >= 0  # 128 random bits
    for path in ("/files/", f"/files/{folder}", f"/files/{folder}/", "/files/..%2f"):
        assert harness.client.get(path).status_code == 404, path


def test_per_minute_limit_answers_429_with_retry_after(harness: Harness) -> None:
    headers = key_header(harness, "ci", rate_per_minute=2)
    submit(harness, headers)
    submit(harness, headers)
    response = harness.client.post(f"/queue/{V1}", json=BODY, headers=headers)
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert "2 requests per minute" in response.json()["detail"]
    # Another key has its own budget.
    submit(harness, key_header(harness, "other", rate_per_minute=2))


def test_concurrency_limit_frees_up_as_requests_finish(harness: Harness) -> None:
    headers = key_header(harness, "ci", max_concurrent=1)
    submit(harness, headers)
    response = harness.client.post(f"/queue/{V1}", json=BODY, headers=headers)
    assert response.status_code == 429 and "in flight" in response.json()["detail"]
    assert response.headers["retry-after"] == str(int(BUSY_RETRY_SECONDS))
    harness.drain()
    submit(harness, headers)


def test_results_carry_usage_and_usage_sums_per_key(harness: Harness) -> None:
    alice, bob = key_header(harness, "alice"), key_header(harness, "bob")
    first = submit(harness, alice)
    submit(harness, alice)
    o1 = harness.client.post(
        f"/queue/{O1}",
        json={"prompt": "p", "start_image_url": BODY["image_url"], "duration": "3"},
        headers=alice,
    ).json()
    harness.drain()
    result = harness.client.get(first["response_url"], headers=alice).json()
    assert result["usage"] == {"video_seconds": 5.0, "price_per_second": 0.045, "cost": 0.225}
    o1_result = harness.client.get(o1["response_url"], headers=alice).json()
    assert o1_result["usage"]["video_seconds"] == 3.0

    usage = harness.client.get("/usage", headers=alice).json()
    assert usage["key_id"].startswith("key_") and usage["currency"] == "USD"
    assert usage["total"]["requests"] == 3
    assert usage["total"]["cost"] == pytest.approx(0.225 * 2 + 3 * 0.084)
    assert harness.client.get("/usage", headers=bob).json()["total"]["requests"] == 0
    later = harness.client.get("/usage", params={"since": "2999-01-01"}, headers=alice)
    assert later.status_code == 422 and later.json()["detail"][0]["loc"] == ["query", "since"]


def vidserve(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vidserve", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_keys_and_usage_commands(tmp_path: Path) -> None:
    created = vidserve("keys", "create", "ci", "--rpm", "5", data_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    key_id, secret = created.stdout.strip().split(":")
    assert "only its hash is stored" in created.stderr
    listed = vidserve("keys", "list", data_dir=tmp_path)
    assert key_id in listed.stdout and "active" in listed.stdout and secret not in listed.stdout
    assert vidserve("keys", "revoke", key_id, data_dir=tmp_path).returncode == 0
    assert vidserve("keys", "revoke", key_id, data_dir=tmp_path).returncode == 1
    assert "revoked" in vidserve("keys", "list", data_dir=tmp_path).stdout
    usage = vidserve("usage", data_dir=tmp_path)
    assert usage.returncode == 0 and "total: 0 requests" in usage.stdout


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    refused = vidserve("serve", "--host", "0.0.0.0", "--port", "1", data_dir=tmp_path)  # noqa: S104
    assert refused.returncode == 2
    assert "without API keys" in refused.stderr and "--insecure" in refused.stderr
