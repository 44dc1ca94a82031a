"""The child-process engine host: a crash, an out-of-memory, a bug, a load failure and a
child that will not stop are each data for one request; the worker goes on, and the next
request runs (in a replaced child where the old one died). The engines are small fixtures
named in an engines TOML as ``diffusion_fixtures:Class``, as an operator names their own."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from diffusion_fixtures import V1, write_config

from vidserve.engines.base import Engine
from vidserve.engines.config import read_engines_config
from vidserve.media.video import probe
from vidserve.worker import Worker
from vidserve.worker.child import ChildEngine
from vidserve.worker.pool import close_engines, create_engines

from fakes import Harness
from helpers import data_uri, make_image

IMAGE = data_uri(make_image(640, 360))


@pytest.fixture
def harness(tmp_path: Path) -> Any:
    h = Harness(tmp_path)
    with h.client:
        yield h
    h.store.close()


def child_engine(
    tmp_path: Path, target: str, **table: Any
) -> tuple[ChildEngine, dict[str, Engine]]:
    path = write_config(
        tmp_path / "engines.toml", {"fixture": {"engine": target, **table}}, default="fixture"
    )
    engines = create_engines(None, read_engines_config(path))
    engine = engines[V1]
    assert isinstance(engine, ChildEngine)  # engines named module:Factory are isolated
    return engine, engines


def run(h: Harness, engines: dict[str, Engine], prompt: str) -> dict[str, Any]:
    job = h.client.post(f"/queue/{V1}", json={"prompt": prompt, "image_url": IMAGE}).json()
    Worker(h.store, h.storage, h.settings, engines).drain()
    body: dict[str, Any] = h.client.get(job["status_url"], params={"logs": 1}).json()
    body["job"] = job
    return body


def assert_renders(h: Harness, engines: dict[str, Engine], tmp_path: Path) -> None:
    body = run(h, engines, "a calm lake")
    assert (body["status"], body.get("error")) == ("COMPLETED", None)
    video = h.client.get(body["job"]["response_url"]).json()["video"]
    path = tmp_path / "next.mp4"
    path.write_bytes(h.client.get(video["url"]).content)
    assert probe(path).num_frames == 10  # the fixture's 5 s at 2 fps


def test_a_child_that_kills_itself_fails_the_request_and_a_new_child_runs_the_next(
    harness: Harness, tmp_path: Path
) -> None:
    engine, engines = child_engine(tmp_path, "diffusion_fixtures:KillSelfEngine")
    try:
        body = run(harness, engines, "please crash now")
        assert body["error_type"] == "engine_crashed"
        assert "killed by SIGKILL" in body["error"]
        messages = [entry["message"] for entry in body["logs"]]
        assert "about to die" in messages  # what the child said before dying is kept
        assert engine.starts == 2
        assert_renders(harness, engines, tmp_path)
    finally:
        close_engines(list(engines.values()))


def test_out_of_memory_ends_the_request_with_its_error_type_and_replaces_the_child(
    harness: Harness, tmp_path: Path
) -> None:
    engine, engines = child_engine(tmp_path, "diffusion_fixtures:OutOfMemoryEngine")
    try:
        body = run(harness, engines, "oom please")
        assert body["error_type"] == "out_of_memory"
        assert "80 GiB" in body["error"]
        assert engine.starts == 2  # memory may be left fragmented: a fresh child
        assert_renders(harness, engines, tmp_path)
    finally:
        close_engines(list(engines.values()))


def test_an_engine_bug_fails_the_request_and_keeps_the_child(
    harness: Harness, tmp_path: Path
) -> None:
    engine, engines = child_engine(tmp_path, "diffusion_fixtures:FailingEngine", preload=False)
    try:
        assert engine.starts == 0  # preload = false: started by the first request
        body = run(harness, engines, "fail please")
        assert (body["error_type"], body["error"]) == (
            "engine_error",
            "RuntimeError: boom in the engine",
        )
        assert_renders(harness, engines, tmp_path)
        assert engine.starts == 1
    finally:
        close_engines(list(engines.values()))


def test_a_model_that_cannot_load_fails_requests_with_engine_load_error(
    harness: Harness, tmp_path: Path
) -> None:
    engine, engines = child_engine(tmp_path, "diffusion_fixtures:BrokenLoadEngine")
    try:
        for _ in range(2):  # each request tries again (the folder may have been fixed)
            body = run(harness, engines, "a calm lake")
            assert body["error_type"] == "engine_load_error"
            assert "safetensors is truncated" in body["error"]
        assert engine.starts == 2
    finally:
        close_engines(list(engines.values()))


def test_a_child_that_does_not_stop_after_a_cancel_is_killed_and_replaced(
    harness: Harness, tmp_path: Path
) -> None:
    engine, engines = child_engine(tmp_path, "diffusion_fixtures:StallEngine", cancel_timeout=0.5)
    try:
        job = harness.client.post(
            f"/queue/{V1}", json={"prompt": "stall here", "image_url": IMAGE}
        ).json()
        with harness.running_worker(engine):
            deadline = time.monotonic() + 60
            while not any(
                e["message"] == "stalling"
                for e in harness.client.get(job["status_url"], params={"logs": 1}).json()[
                    "logs"
                ]
            ):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            asked = time.monotonic()
            harness.client.put(job["cancel_url"])
            while harness.client.get(job["status_url"]).json()["status"] != "COMPLETED":
                assert time.monotonic() - asked < 10
                time.sleep(0.02)
            latency = time.monotonic() - asked
        status = harness.client.get(job["status_url"]).json()
        assert status["error_type"] == "request_cancelled"
        assert latency < 3.0
        assert engine.starts == 2
        assert_renders(harness, engines, tmp_path)
    finally:
        close_engines(list(engines.values()))
