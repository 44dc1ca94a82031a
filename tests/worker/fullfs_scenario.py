"""Run by ``test_a_really_full_file_system`` inside a mount namespace where FILES is a small
tmpfs: fill it, run a request (handed back), free it, run again (completed). Prints
``RESULT <json>``.

Usage: ``python fullfs_scenario.py DATA_DIR FILES_DIR``
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from vidserve.config import Settings
from vidserve.endpoints import ENDPOINTS
from vidserve.engines.base import Engine, RenderedVideo, RunContext, VideoRequest
from vidserve.storage import LocalStorage
from vidserve.store import NewJob
from vidserve.store.sqlite import SQLiteJobStore
from vidserve.worker import Worker
from vidserve.worker.retry import Backoff, RetryPolicy

from helpers import data_uri, make_image, wait_until


class SmallEngine(Engine):
    name = "small"

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        path = ctx.workdir / "output.mp4"  # the work directory is not on the tmpfs
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)
        return RenderedVideo(path, request.width, request.height, request.fps, request.num_frames)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def leftovers(root: Path) -> list[str]:
    return [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.name.endswith(".part") or (p.is_dir() and not any(p.iterdir()))
    ]


def state(store: SQLiteJobStore, request_id: str) -> dict[str, Any]:
    job = store.get(request_id)
    assert job is not None
    return {"status": job.status.value, "attempts": job.attempts, "error": job.error}


def main(data: Path, files: Path) -> dict[str, Any]:
    settings = Settings(data_dir=data, heartbeat_interval=0.05, lease_seconds=5)
    store = SQLiteJobStore(data / "store.sqlite3")
    storage = LocalStorage(files)
    policy = RetryPolicy(
        backoff=Backoff(0.01, 0.05), full_patience=0.1, claim_pause=Backoff(0.2, 0.2)
    )
    worker = Worker(
        store, storage, settings, dict.fromkeys(ENDPOINTS, SmallEngine()), policy=policy
    )
    job = store.create(
        NewJob(
            request_id=str(uuid.uuid4()),
            endpoint_id="fal-ai/kling-video/v1/standard/image-to-video",
            input={"prompt": "p", "image_url": data_uri(make_image(400, 300))},
            base_url="http://testserver",
        )
    )
    filler = fill(files)
    worker.run_once()
    result: dict[str, Any] = {
        "first": state(store, job.request_id),
        "leftovers_when_full": leftovers(files),
    }
    filler.unlink()
    wait_until(lambda: worker.claims_paused_until <= time.monotonic(), "the claim pause ends")
    worker.run_once()
    done = store.get(job.request_id)
    assert done is not None
    result["second"] = {**state(store, job.request_id), "has_video": bool(done.result)}
    result["logs"] = [line.message for line in store.logs(job.request_id)]
    store.close()
    return result


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
