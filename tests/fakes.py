"""Fakes for in-process tests: the real app, SQLite store and local storage; workers drained by hand
with small fake engines (each fixture shows one behaviour)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from vidserve.api import create_app
from vidserve.config import Settings
from vidserve.endpoints import ENDPOINTS
from vidserve.endpoints.effect_scenes import EFFECT_SCENES
from vidserve.engines.base import (
    Capabilities,
    Engine,
    Feature,
    Kind,
    RenderedVideo,
    RunContext,
    VideoRequest,
)
from vidserve.storage import LocalStorage
from vidserve.store.sqlite import SQLiteJobStore
from vidserve.worker import Worker

#: An engine that honours everything: adapters' output reaches it whole.
EVERYTHING = Capabilities(
    kinds=frozenset(Kind),
    features=frozenset(Feature),
    max_reference_images=7,
    effects=frozenset(EFFECT_SCENES),
)


class FakeEngine(Engine):
    """Writes a few bytes instead of a video and remembers what it was asked."""

    name = "fake"

    def __init__(self, capabilities: Capabilities = EVERYTHING) -> None:
        self.requests: list[VideoRequest] = []
        self.capabilities = capabilities

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        self.requests.append(request)
        ctx.log("fake render")
        ctx.progress(1.0)
        path = ctx.workdir / "output.mp4"
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
        return RenderedVideo(path, request.width, request.height, request.fps, request.num_frames)


class FakeContext(RunContext):
    """Records progress and logs; becomes cancelled after ``cancel_after`` progress calls."""

    def __init__(self, workdir: Path, cancel_after: int | None = None) -> None:
        self.workdir = workdir
        self.cancel_after = cancel_after
        self.fractions: list[float] = []
        self.logs: list[str] = []

    def progress(self, fraction: float) -> None:
        self.fractions.append(fraction)

    def log(self, message: str, level: str = "INFO") -> None:
        self.logs.append(message)

    @property
    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.fractions) >= self.cancel_after


class SlowEngine(Engine):
    """Takes ``frames`` x 20 ms, checking for cancellation at each frame."""

    name = "slow"

    def __init__(self, frames: int = 500) -> None:
        self.frames = frames
        self.started = threading.Event()

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        self.started.set()
        for i in range(self.frames):
            ctx.check_cancelled()
            ctx.progress(i / self.frames)
            time.sleep(0.02)
        return FakeEngine().generate(request, ctx)


class FailingEngine(Engine):
    """Raises, as a buggy engine would."""

    name = "failing"

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        raise RuntimeError("boom in the engine")


class Harness:
    """The app, its parts, and a way to run the queue with a chosen engine."""

    def __init__(self, tmp_path: Path) -> None:
        self.settings = Settings(data_dir=tmp_path, heartbeat_interval=0.05, lease_seconds=5)
        self.store = SQLiteJobStore(self.settings.store_url)
        self.storage = LocalStorage(Path(self.settings.storage_url))
        self.app = create_app(self.settings, self.store, self.storage)
        self.client = TestClient(self.app, base_url="http://testserver")

    def worker(self, engine: Engine) -> Worker:
        return Worker(self.store, self.storage, self.settings, dict.fromkeys(ENDPOINTS, engine))

    def drain(self, engine: Engine | None = None) -> int:
        return self.worker(engine or FakeEngine()).drain()

    @contextmanager
    def running_worker(self, engine: Engine) -> Iterator[Worker]:
        """A worker thread polling the queue while the block runs."""
        worker = self.worker(engine)
        thread = threading.Thread(target=worker.run, kwargs={"idle_wait": 0.02}, daemon=True)
        thread.start()
        try:
            yield worker
        finally:
            worker.shutdown.set()
            thread.join(10)
