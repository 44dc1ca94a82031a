"""Fixtures for the worker's fault tests: a chatty engine, a store and a storage that fail
on demand, and a retry policy short enough for tests."""

from __future__ import annotations

import dataclasses
import errno
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vidserve.config import Settings
from vidserve.endpoints import ENDPOINTS
from vidserve.engines.base import Engine, RenderedVideo, RunContext, VideoRequest
from vidserve.storage import LocalStorage, StoredFile
from vidserve.store import Job, JobStore, NewJob
from vidserve.store.sqlite import SQLiteJobStore
from vidserve.worker import Worker
from vidserve.worker.retry import Backoff, RetryPolicy

from helpers import data_uri, make_image

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
IMAGE = data_uri(make_image(400, 300))

#: Retries in tens of milliseconds, claims paused for a fifth of a second.
FAST = RetryPolicy(
    backoff=Backoff(0.01, 0.05),
    storage_patience=0.5,
    full_patience=0.1,
    shutdown_grace=0.5,
    claim_pause=Backoff(0.2, 0.2),
)


class ChattyEngine(Engine):
    """Logs a line and reports progress at each of ``frames`` frames, ``delay`` seconds apart,
    then writes a fake video."""

    name = "chatty"

    def __init__(self, frames: int = 20, delay: float = 0.02) -> None:
        self.frames = frames
        self.delay = delay
        self.started = threading.Event()
        self.finished = threading.Event()

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        self.started.set()
        for i in range(self.frames):
            ctx.check_cancelled()
            ctx.log(f"frame {i}")
            ctx.progress(i / self.frames)
            time.sleep(self.delay)
        path = ctx.workdir / "output.mp4"
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
        self.finished.set()
        return RenderedVideo(path, request.width, request.height, request.fps, request.num_frames)


class RaisingEngine(Engine):
    """Raises ``exc`` (an exception or a factory of one, given the work directory)."""

    name = "raising"

    def __init__(self, exc: BaseException | Callable[[Path], BaseException]) -> None:
        self.exc = exc

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        raise self.exc(ctx.workdir) if callable(self.exc) else self.exc


class FlakyStore:
    """A real store whose methods named in ``failing`` raise ``error()`` instead; counts
    what it raised. Everything else passes through."""

    def __init__(self, inner: JobStore, error: Callable[[], Exception]) -> None:
        self.inner = inner
        self.error = error
        self.failing: set[str] = set()
        #: ``name -> n``: that method fails its next n calls (then works).
        self.fail_next: dict[str, int] = {}
        #: ``name -> n``: that method works, then raises, its next n calls (its answer lost).
        self.lose_answer: dict[str, int] = {}
        self.raised: dict[str, int] = {}
        self._lock = threading.Lock()

    def _should_fail(self, name: str) -> bool:
        with self._lock:
            if name in self.failing:
                return True
            if self.fail_next.get(name, 0) > 0:
                self.fail_next[name] -= 1
                return True
            return False

    def _count(self, name: str) -> Exception:
        with self._lock:
            self.raised[name] = self.raised.get(name, 0) + 1
        return self.error()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._should_fail(name):
                raise self._count(name)
            result = attr(*args, **kwargs)
            with self._lock:
                lose = self.lose_answer.get(name, 0) > 0
                if lose:
                    self.lose_answer[name] -= 1
            if lose:
                raise self._count(name)
            return result

        return call


class FlakyStorage(LocalStorage):
    """Local storage whose writes raise ``OSError(code)`` (naming the file's server path, as
    the OS does) while ``failing`` is set."""

    def __init__(self, root: Path, code: int = errno.ENOSPC) -> None:
        super().__init__(root)
        self.code = code
        self.failing = False
        self.attempts = 0

    def _check(self, file_name: str) -> None:
        self.attempts += 1
        if self.failing:
            raise OSError(self.code, "simulated", str(self.root / "ab12" / f".{file_name}.part"))

    def put_file(
        self, src: Path, *, content_type: str, file_name: str, key: str | None = None
    ) -> StoredFile:
        self._check(file_name)
        return super().put_file(src, content_type=content_type, file_name=file_name, key=key)

    def put_bytes(
        self, data: bytes, *, content_type: str, file_name: str, key: str | None = None
    ) -> StoredFile:
        self._check(file_name)
        return super().put_bytes(data, content_type=content_type, file_name=file_name, key=key)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", heartbeat_interval=0.05, lease_seconds=5)


@pytest.fixture
def sqlite_store(settings: Settings) -> Iterator[SQLiteJobStore]:
    store = SQLiteJobStore(settings.store_url)
    yield store
    store.close()


@pytest.fixture
def flaky_store(sqlite_store: SQLiteJobStore) -> FlakyStore:
    """The SQLite store, failing as a locked database does where told to."""
    return FlakyStore(sqlite_store, lambda: sqlite3.OperationalError("database is locked"))


@pytest.fixture
def flaky_storage(settings: Settings) -> FlakyStorage:
    """Local storage in the data dir, failing with ENOSPC where told to."""
    return FlakyStorage(Path(settings.storage_url))


@pytest.fixture
def chatty_engine() -> type[ChattyEngine]:
    return ChattyEngine


@pytest.fixture
def raising_engine() -> type[RaisingEngine]:
    return RaisingEngine


@pytest.fixture
def make_worker(settings: Settings) -> Callable[..., Worker]:
    """``make_worker(store, storage, engine, **settings_changes)``: a worker on every
    endpoint with the FAST retry policy."""

    def make(store: Any, storage: Any, engine: Engine, **changes: Any) -> Worker:
        own = dataclasses.replace(settings, **changes)
        return Worker(store, storage, own, dict.fromkeys(ENDPOINTS, engine), policy=FAST)

    return make


@pytest.fixture
def submit() -> Callable[..., Job]:
    """``submit(store, endpoint=V1, **fields)``: a request straight into the store."""

    def create(store: Any, endpoint: str = V1, **fields: Any) -> Job:
        job: Job = store.create(
            NewJob(
                request_id=str(uuid.uuid4()),
                endpoint_id=endpoint,
                input={"prompt": "a car on a road", "image_url": IMAGE, **fields},
                base_url="http://testserver",
            )
        )
        return job

    return create


@pytest.fixture
def log_of() -> Callable[[Any, str], list[str]]:
    """``log_of(store, request_id)``: the request's log messages, in order."""

    def read(store: Any, request_id: str) -> list[str]:
        return [line.message for line in store.logs(request_id)]

    return read
