"""A fleet on one machine: ``vidserve api`` and ``vidserve worker`` processes sharing
PostgreSQL and an S3-compatible bucket (moto), talking real HTTP, losing nothing when a
worker is killed or the API restarts."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
import pytest

from vidserve.client import verify_webhook
from vidserve.media.video import probe

from helpers import ServerProcess, data_uri, make_image
from pg import fresh_database, require_postgres
from s3server import DUMMY_AWS_ENV, s3_server_or_skip
from webhook_receiver import Receiver, running_receiver

pytestmark = pytest.mark.slow

O1 = "fal-ai/kling-video/o1/standard/image-to-video"
BODY = {
    "prompt": "@Image1 drifts",
    "start_image_url": data_uri(make_image(640, 360)),
    "duration": "3",
}


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with s3_server_or_skip(tmp_path_factory.mktemp("s3") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture
def fleet_env(s3_endpoint: str) -> Iterator[dict[str, str]]:
    """Environment for every process of one fleet: its own database and bucket."""
    require_postgres()
    bucket = f"fleet-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **_boto_credentials())
    s3.create_bucket(Bucket=bucket)
    s3.close()
    with fresh_database() as url:
        yield {
            **DUMMY_AWS_ENV,
            "VIDSERVE_STORE": url,
            "VIDSERVE_STORAGE": f"s3://{bucket}/outputs",
            "VIDSERVE_S3_ENDPOINT_URL": s3_endpoint,
            # A killed worker's request runs again 2 s after its last heartbeat.
            "VIDSERVE_LEASE_SECONDS": "2",
            # The webhook receiver runs on this machine's loopback.
            "VIDSERVE_ALLOW_HOSTS": "127.0.0.1",
        }


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": DUMMY_AWS_ENV["AWS_DEFAULT_REGION"],
    }


class Fleet:
    """Starts processes of one fleet and stops them all at the end."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path, self.env = tmp_path, env
        self.procs: list[ServerProcess] = []

    def start(self, role: str, name: str, **kwargs: Any) -> ServerProcess:
        proc = ServerProcess(self.tmp_path / name, role=role, env=self.env, **kwargs)
        self.procs.append(proc.start())
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()

    def rows(self) -> list[dict[str, Any]]:
        with psycopg.connect(self.env["VIDSERVE_STORE"]) as conn:
            cur = conn.execute(
                "SELECT request_id, status, attempts, worker_id, error, result, webhook_state"
                " FROM vidserve_requests"
            )
            names = [c.name for c in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {p.log_path.name}\n{p.log()[-3000:]}" for p in self.procs)
                raise AssertionError(f"timed out waiting for {what}\n{logs}")
            time.sleep(0.1)


@pytest.fixture
def fleet(tmp_path: Path, fleet_env: dict[str, str]) -> Iterator[Fleet]:
    f = Fleet(tmp_path, fleet_env)
    yield f
    f.stop()


def _oks(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.requests]


def test_a_killed_worker_loses_nothing_and_completes_nothing_twice(fleet: Fleet) -> None:
    api = fleet.start("api", "api")
    worker_a = fleet.start("worker", "worker-a")
    fleet.start("worker", "worker-b")
    with running_receiver() as receiver, httpx.Client(timeout=30) as client:
        hook = f"{receiver.url}/ok"
        submitted = [
            client.post(f"{api.url}/queue/{O1}", params={"fal_webhook": hook}, json=BODY).json()
            for _ in range(20)
        ]
        ids = {s["request_id"] for s in submitted}
        assert len(ids) == 20

        # Both workers busy: worker A is rendering one. Kill it mid-render.
        fleet.wait(
            lambda: sum(r["status"] == "IN_PROGRESS" for r in fleet.rows()) == 2,
            60,
            "both workers to be rendering",
        )
        assert worker_a.proc is not None
        worker_a.proc.send_signal(signal.SIGKILL)
        worker_a.proc.wait(10)

        fleet.wait(
            lambda: all(r["status"] == "COMPLETED" for r in fleet.rows()), 180, "all 20 to complete"
        )
        rows = fleet.rows()
        assert len(rows) == 20 and all(r["error"] is None for r in rows), rows
        assert sum(r["attempts"] == 2 for r in rows) == 1  # the one A was rendering
        assert all(r["attempts"] <= 2 for r in rows)

        # A dispatcher records DELIVERED only after the receiver answered, and only PENDING
        # deliveries are claimed (a claim's lease outlasts its send): once all 20 are
        # recorded, every delivery has arrived and none, duplicate or not, is still to come.
        fleet.wait(
            lambda: all(r["webhook_state"] == "DELIVERED" for r in fleet.rows()),
            60,
            "all 20 webhooks to be delivered",
        )
        deliveries = _oks(receiver)
        assert sorted(d["request_id"] for d in deliveries) == sorted(ids)  # once each
        assert all(d["status"] == "OK" and d["payload"]["video"]["url"] for d in deliveries)
        for got in receiver.requests:
            verify_webhook(got.body, got.headers, jwks_url=f"{api.url}/.well-known/jwks.json")

        # Every result is there, and its video comes from the bucket through the API.
        results = [client.get(s["response_url"]).json() for s in submitted]
        video = client.get(results[0]["video"]["url"], follow_redirects=True)
        assert video.status_code == 200 and len(video.content) == results[0]["video"]["file_size"]
        clip = fleet.tmp_path / "clip.mp4"
        clip.write_bytes(video.content)
        info = probe(clip)
        assert info.num_frames == 72 and (info.width, info.height) == (1280, 720)


def test_an_api_restart_under_submissions_loses_no_acknowledged_request(fleet: Fleet) -> None:
    api = fleet.start("api", "api")
    fleet.start("worker", "worker", workers=2)
    acknowledged: list[str] = []
    stop = threading.Event()

    def submit_forever() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                try:
                    response = client.post(f"{api.url}/queue/{O1}", json=BODY)
                except httpx.HTTPError:
                    pass  # the API is down: not acknowledged, nothing owed
                else:
                    if response.status_code == 200:
                        acknowledged.append(response.json()["request_id"])
                stop.wait(0.2)

    submitter = threading.Thread(target=submit_forever)
    submitter.start()
    try:
        fleet.wait(lambda: len(acknowledged) >= 5, 30, "the first submissions")
        assert api.proc is not None
        api.proc.send_signal(signal.SIGKILL)  # mid-stream, as a crash would
        api.proc.wait(10)
        before = len(acknowledged)
        api.start()
        fleet.wait(lambda: len(acknowledged) >= before + 5, 30, "submissions after the restart")
    finally:
        stop.set()
        submitter.join(10)

    assert len(set(acknowledged)) == len(acknowledged)
    fleet.wait(
        lambda: all(r["status"] == "COMPLETED" for r in fleet.rows()), 180, "all to complete"
    )
    rows = {r["request_id"]: r for r in fleet.rows()}
    assert set(acknowledged) <= set(rows)
    assert all(rows[rid]["error"] is None for rid in acknowledged)
    with httpx.Client(timeout=30) as client:
        status = client.get(f"{api.url}/queue/fal-ai/kling-video/requests/{acknowledged[0]}")
        assert status.status_code == 200 and status.json()["video"]["url"]


def test_sigterm_hands_back_and_cancel_and_streams_cross_processes(fleet: Fleet) -> None:
    api = fleet.start("api", "api")
    long_body = {**BODY, "duration": "10"}
    events: list[dict[str, Any]] = []
    with httpx.Client(timeout=30) as client:
        job = client.post(f"{api.url}/queue/{O1}", json=long_body).json()
        rid = job["request_id"]

        def stream() -> None:  # the API serves it; the workers are other processes
            with client.stream("GET", f"{job['status_url']}/stream", params={"logs": 1}) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        events.append(json.loads(line[len("data: ") :]))

        streamer = threading.Thread(target=stream)
        streamer.start()
        status = job["status_url"]
        # The stream's first event (IN_QUEUE) is out before any worker can claim it.
        fleet.wait(lambda: len(events) >= 1, 10, "the stream's first event")
        worker_a = fleet.start("worker", "worker-a")

        def state() -> str:
            return str(client.get(status).json()["status"])

        fleet.wait(lambda: state() == "IN_PROGRESS", 30, "worker A to start")
        assert worker_a.proc is not None
        worker_a.proc.send_signal(signal.SIGTERM)
        worker_a.proc.wait(15)  # it stops promptly, handing the request back
        assert worker_a.proc.returncode == 0
        assert state() == "IN_QUEUE"
        logs = [entry["message"] for entry in client.get(status, params={"logs": 1}).json()["logs"]]
        assert any("handed back" in message for message in logs)

        fleet.start("worker", "worker-b")
        fleet.wait(lambda: state() == "IN_PROGRESS", 30, "worker B to start")
        assert client.put(job["cancel_url"]).json()["status"] == "CANCELLATION_REQUESTED"
        fleet.wait(lambda: state() == "COMPLETED", 5, "the cancel to reach worker B")
        result = client.get(job["response_url"])
        assert result.json()["error_type"] == "request_cancelled"
        streamer.join(10)
        assert not streamer.is_alive()

    seen = [e["status"] for e in events]
    assert seen[0] == "IN_QUEUE" and seen[-1] == "COMPLETED"
    assert "IN_PROGRESS" in seen
    streamed_logs = [entry["message"] for e in events for entry in e.get("logs") or []]
    assert any("handed back" in message for message in streamed_logs)
    assert any(rid in str(e.get("response_url")) for e in events)
