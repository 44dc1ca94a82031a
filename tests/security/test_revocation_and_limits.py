"""Revocation takes effect at once (one machine) or within a stated bound (a fleet), upload
grants die with their key, and rate limits hold exactly under concurrent submits."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from vidserve.api import create_app
from vidserve.api.auth import FLEET_CACHE_SECONDS
from vidserve.config import Settings
from vidserve.storage import LocalStorage

from fakes import Harness
from helpers import ServerProcess, data_uri, make_image
from pg import fresh_database, require_postgres

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
BODY = {"prompt": "a car on a road", "image_url": data_uri(make_image(640, 360))}


def test_a_revoked_key_is_refused_on_every_route_at_once(harness: Harness) -> None:
    key, secret = harness.store.create_key("ci")
    auth = {"Authorization": f"Key {secret}"}
    job = harness.client.post(f"/queue/{V1}", json=BODY, headers=auth).json()
    upload = harness.client.post(
        "/rest/storage/upload/initiate", json={"file_name": "a.png"}, headers=auth
    ).json()
    cdn = harness.client.post("/rest/storage/auth/token", headers=auth).json()["token"]
    # Grants made before the revocation work until it.
    assert harness.client.put(upload["upload_url"], content=b"x").status_code == 200
    harness.store.revoke_key(key.id)  # what `vidserve keys revoke` does
    assert harness.client.post(f"/queue/{V1}", json=BODY, headers=auth).status_code == 401
    assert harness.client.get(job["status_url"], headers=auth).status_code == 401
    assert harness.client.get(job["response_url"], headers=auth).status_code == 401
    again = harness.client.put(upload["upload_url"], content=b"y")
    assert again.status_code == 401 and "revoked" in again.json()["detail"]
    cdn_upload = harness.client.post(
        "/cdn/files/upload", content=b"z", headers={"Authorization": f"Bearer {cdn}"}
    )
    assert cdn_upload.status_code == 401


def test_grants_made_on_an_open_server_end_once_keys_exist(harness: Harness) -> None:
    upload = harness.client.post("/rest/storage/upload/initiate", json={}).json()
    harness.store.create_key("first")
    assert harness.client.put(upload["upload_url"], content=b"x").status_code == 401


def test_a_fleet_refuses_a_revoked_key_within_the_stated_bound(tmp_path: Path) -> None:
    require_postgres()
    from vidserve.store.postgres import PostgresJobStore

    with fresh_database() as url:
        api_store, cli_store = PostgresJobStore(url), PostgresJobStore(url)
        try:
            settings = Settings(data_dir=tmp_path)
            app = create_app(settings, api_store, LocalStorage(tmp_path / "files"))
            key, secret = cli_store.create_key("ci")
            auth = {"Authorization": f"Key {secret}"}
            with TestClient(app) as client:
                assert client.get("/usage", headers=auth).status_code == 200  # now cached
                cli_store.revoke_key(key.id)  # another process: the CLI
                revoked_at = time.monotonic()
                while client.get("/usage", headers=auth).status_code == 200:
                    assert time.monotonic() - revoked_at < FLEET_CACHE_SECONDS + 0.5
                    time.sleep(0.02)
            assert time.monotonic() - revoked_at <= FLEET_CACHE_SECONDS + 0.5
        finally:
            api_store.close()
            cli_store.close()


def _flood(urls: list[str], clients: int, each: int) -> Counter[int]:
    """``clients`` threads, each submitting ``each`` times, spread over ``urls``."""
    codes: Counter[int] = Counter()
    lock, barrier = threading.Lock(), threading.Barrier(clients)

    def client(n: int) -> None:
        with httpx.Client(timeout=30) as http:
            barrier.wait()
            for _ in range(each):
                code = http.post(f"{urls[n % len(urls)]}/queue/{V1}", json=BODY).status_code
                with lock:
                    codes[code] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


@pytest.mark.slow
def test_twenty_clients_against_100_a_minute_get_exactly_100_in(tmp_path: Path) -> None:
    # An API process alone: nothing runs the requests, so each stays queued.
    srv = ServerProcess(
        tmp_path / "data", role="api", env={"VIDSERVE_RATE_PER_MINUTE": "100"}
    ).start()
    try:
        codes = _flood([srv.url], clients=20, each=8)
    finally:
        srv.stop()
    assert codes == {200: 100, 429: 60}


@pytest.mark.slow
def test_the_limits_are_exact_across_api_processes_on_postgresql(tmp_path: Path) -> None:
    require_postgres()
    with fresh_database() as url:
        env = {"VIDSERVE_STORE": url, "VIDSERVE_MAX_CONCURRENT": "50"}
        procs = [ServerProcess(tmp_path / f"api{n}", role="api", env=env).start() for n in range(2)]
        try:
            codes = _flood([p.url for p in procs], clients=20, each=5)
        finally:
            for proc in procs:
                proc.stop()
    assert codes == {200: 50, 429: 50}
