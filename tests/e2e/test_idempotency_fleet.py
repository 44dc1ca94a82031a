"""``Idempotency-Key`` across a fleet: concurrent submits with one key, spread over two
``vidserve api`` processes on one PostgreSQL, make one request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from helpers import ServerProcess, data_uri, make_image
from pg import fresh_database, require_postgres

pytestmark = pytest.mark.slow
V1 = "fal-ai/kling-video/v1/standard/image-to-video"
BODY = {"prompt": "push in", "image_url": data_uri(make_image(320, 180))}


@pytest.fixture
def apis(tmp_path: Path) -> Iterator[tuple[str, list[ServerProcess]]]:
    require_postgres()
    with fresh_database() as url:
        procs = [
            ServerProcess(tmp_path / f"api{n}", role="api", env={"VIDSERVE_STORE": url}).start()
            for n in range(2)
        ]
        try:
            yield url, procs
        finally:
            for proc in procs:
                proc.stop()


def test_concurrent_submits_with_one_key_on_two_api_processes_make_one_request(
    apis: tuple[str, list[ServerProcess]],
) -> None:
    url, procs = apis
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(12)

    def submit(n: int) -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            answers.append(
                client.post(
                    f"{procs[n % 2].url}/queue/{V1}",
                    json=BODY,
                    headers={"Idempotency-Key": "fleet-key"},
                )
            )

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [200] * 12, [a.text for a in answers]
    assert len({a.json()["request_id"] for a in answers}) == 1
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT COUNT(*) FROM vidserve_requests").fetchone()
    assert row is not None and row[0] == 1
    # The other process knows the key too, after the fact; another body is refused.
    other = httpx.post(
        f"{procs[1].url}/queue/{V1}",
        json={**BODY, "prompt": "pull out"},
        headers={"Idempotency-Key": "fleet-key"},
    )
    assert other.status_code == 422
    assert other.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
