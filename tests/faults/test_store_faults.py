"""A job store that stops answering, and full disks, in-process (SQLite): 503 with
``Retry-After`` at once while the store is down, service back as soon as it answers, 507 for
a full disk; no traceback and no server path in any answer."""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from vidserve.api import create_app, reads
from vidserve.config import Settings
from vidserve.faults import Fault, fault_of
from vidserve.storage import LocalStorage
from vidserve.store.sqlite import SQLiteJobStore

from helpers import data_uri, make_image

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
IMAGE = data_uri(make_image(320, 320))
BODY = {"prompt": "a car", "image_url": IMAGE}
OPENAI_BODY = {"prompt": "a car", "input_reference": {"image_url": IMAGE}}
#: Where the server's files are said to be in the errors the fakes raise.
SERVER_PATH = "/srv/vidserve/data"


class Faulty:
    """A part (store or storage) whose methods raise ``faults[name]`` (``"*"``: any method)
    while set; everything else goes to the real part."""

    def __init__(self, part: Any) -> None:
        self._part = part
        self.faults: dict[str, BaseException] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._part, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            fault = self.faults.get(name) or self.faults.get("*")
            if fault is not None:
                raise fault
            return attr(*args, **kwargs)

        return call


class App:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = Settings(data_dir=tmp_path)
        self.real_store = SQLiteJobStore(self.settings.store_url)
        self.store = Faulty(self.real_store)
        self.storage = Faulty(LocalStorage(Path(self.settings.storage_url)))
        self.app = create_app(self.settings, self.store, self.storage)  # type: ignore[arg-type]
        self.client = TestClient(self.app, base_url="http://testserver")

    def submit(self) -> httpx.Response:
        return self.client.post(f"/queue/{V1}", json=BODY)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    made = App(tmp_path)
    with made.client:  # one event loop for the whole test: the probe runs on it
        yield made
    made.real_store.close()


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response = call()
    return response, time.monotonic() - start


def assert_clean(response: httpx.Response, tmp_path: Path) -> None:
    """No traceback, exception text or server path in what the client sees."""
    text = response.text
    for leak in ("Traceback", SERVER_PATH, str(tmp_path), "sqlite", "OperationalError"):
        assert leak not in text, (leak, text)


def test_polls_are_503_at_once_while_the_store_is_down_and_back_when_it_is(
    app: App, tmp_path: Path
) -> None:
    submitted = app.submit().json()
    status_url = submitted["status_url"].removeprefix("http://testserver")
    assert app.client.get(status_url).status_code == 202

    app.store.faults["*"] = sqlite3.OperationalError(
        f"unable to open database file: {SERVER_PATH}/vidserve.sqlite3"
    )
    for _ in range(20):
        answer, took = timed(lambda: app.client.get(status_url))
        assert answer.status_code == 503, answer.text
        assert took < 0.1
        assert answer.headers["retry-after"] == "1"
        assert answer.headers["x-fal-retryable"] == "true"
        assert answer.headers["x-fal-request-id"]
        assert answer.json()["error_type"] == "store_unavailable"
        assert "unavailable" in answer.json()["detail"]
        assert_clean(answer, tmp_path)

    health, took = timed(lambda: app.client.get("/health"))
    assert (health.status_code, health.headers["retry-after"]) == (503, "1")
    assert took < 0.1
    body = health.json()
    assert body["status"] == "unavailable" and body["endpoints"] and body["version"]
    assert body["store"]["status"] == "unavailable" and body["store"]["down_seconds"] >= 0
    assert_clean(health, tmp_path)

    # Every route that needs the store: 503 at once; those that do not: served.
    for response in (
        app.submit(),
        app.client.get(submitted["response_url"].removeprefix("http://testserver")),
        app.client.put(submitted["cancel_url"].removeprefix("http://testserver")),
        app.client.get("/usage"),
    ):
        assert response.status_code == 503, response.url
    for path in (
        "/models",
        "/openapi.json",
        "/v1/models",
        "/openapi/queue/openapi.json?endpoint_id=" + V1,
    ):
        assert app.client.get(path).status_code == 200, path
    openai = app.client.post("/v1/videos", json=OPENAI_BODY)
    assert openai.status_code == 503
    assert openai.json()["error"]["code"] == "store_unavailable"

    time.sleep(0.5)  # the probe keeps asking
    del app.store.faults["*"]
    back = time.monotonic()
    while (answer := app.client.get(status_url)).status_code == 503:
        assert time.monotonic() - back < 1.0, "the service did not come back within 1 s"
        time.sleep(0.02)
    assert answer.status_code == 202, answer.text
    assert time.monotonic() - back < 1.0
    healthy = app.client.get("/health")
    assert healthy.status_code == 200
    assert healthy.json()["status"] == "ok" and healthy.json()["store"] == {"status": "ok"}
    assert app.submit().status_code == 200


def test_health_finds_a_store_that_went_away(app: App) -> None:
    assert app.client.get("/health").status_code == 200
    app.store.faults["get"] = sqlite3.OperationalError("disk I/O error")
    answer = app.client.get("/health")
    assert answer.status_code == 503
    assert answer.json()["store"]["status"] == "unavailable"
    del app.store.faults["get"]
    deadline = time.monotonic() + 1
    while app.client.get("/health").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_full_database_is_507_without_paths(app: App, tmp_path: Path) -> None:
    app.store.faults["create"] = sqlite3.OperationalError("database or disk is full")
    answer = app.submit()
    assert answer.status_code == 507, answer.text
    assert answer.json() == {
        "detail": "The server's disk is full: nothing more can be stored until space is freed",
        "error_type": "storage_full",
    }
    assert_clean(answer, tmp_path)
    # Reads still work: the store is not down.
    assert app.client.get("/health").status_code == 200
    openai = app.client.post("/v1/videos", json=OPENAI_BODY)
    assert openai.status_code == 507
    assert openai.json()["error"]["code"] == "storage_full"


def test_a_full_disk_under_uploads_is_507_without_paths(app: App, tmp_path: Path) -> None:
    token = app.client.post("/rest/storage/auth/token", json={}).json()["token"]
    app.storage.faults["put_file"] = OSError(
        errno.ENOSPC, "No space left on device", f"{SERVER_PATH}/files/ab/cd.png"
    )
    answer = app.client.post(
        "/cdn/files/upload",
        content=b"data",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "image/png"},
    )
    assert answer.status_code == 507, answer.text
    assert answer.json()["error_type"] == "storage_full"
    assert_clean(answer, tmp_path)


def test_a_busy_store_is_503_but_not_down(app: App) -> None:
    app.store.faults["create"] = sqlite3.OperationalError("database is locked")
    answer = app.submit()
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert app.client.get("/health").status_code == 200  # the breaker stayed closed


def test_other_os_errors_stay_500(app: App, tmp_path: Path) -> None:
    token = app.client.post("/rest/storage/auth/token", json={}).json()["token"]
    app.storage.faults["put_file"] = PermissionError(
        errno.EACCES, "Permission denied", f"{SERVER_PATH}/files/x"
    )
    answer = app.client.post(
        "/cdn/files/upload", content=b"data", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 500
    assert answer.json()["error_type"] == "internal_error"
    assert_clean(answer, tmp_path)


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (psycopg.OperationalError("connection refused"), Fault.STORE),
        (psycopg.errors.AdminShutdown(), Fault.STORE),
        (psycopg.errors.ConnectionFailure(), Fault.STORE),
        (psycopg.errors.DiskFull(), Fault.STORAGE_FULL),
        (psycopg.errors.DeadlockDetected(), Fault.STORE_BUSY),
        (psycopg.errors.QueryCanceled(), Fault.STORE_BUSY),
        (sqlite3.OperationalError("database or disk is full"), Fault.STORAGE_FULL),
        (sqlite3.OperationalError("database is locked"), Fault.STORE_BUSY),
        (sqlite3.OperationalError("unable to open database file"), Fault.STORE),
        (OSError(errno.ENOSPC, "No space left on device"), Fault.STORAGE_FULL),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), Fault.STORAGE_FULL),
        (OSError(errno.EIO, "I/O error"), None),
        (psycopg.errors.UniqueViolation(), None),
        (ValueError("a bug"), None),
    ],
)
def test_what_errors_say(error: Exception, failure: Fault | None) -> None:
    assert fault_of(error) is failure


def test_storage_calls_own_their_os_errors_and_a_full_disk_is_found_in_the_chain() -> None:
    assert fault_of(OSError(errno.EIO, "I/O error"), storage=True) is Fault.STORAGE
    assert fault_of(ValueError("a bug"), storage=True) is None
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("the encoder failed") from exc
    except RuntimeError as wrapped:
        assert fault_of(wrapped) is Fault.STORAGE_FULL


def test_pool_timeouts_say_the_store_is_down() -> None:
    from psycopg_pool import PoolTimeout

    assert fault_of(PoolTimeout("couldn't get a connection after 30.00 sec")) is Fault.STORE


class HangingStore(SQLiteJobStore):
    """Status reads over the event loop, as PostgreSQL's, that hang while ``hang`` is set."""

    quick_reads = False

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.hang = False

    async def read_status(self, reads: Any) -> Any:
        while self.hang:
            await asyncio.sleep(0.01)
        return self.status_views(reads)


def test_a_status_read_that_hangs_is_503_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "READ_DEADLINE", 0.3)
    settings = Settings(data_dir=tmp_path)
    store = HangingStore(settings.store_url)
    app = create_app(settings, store, LocalStorage(tmp_path / "files"))
    with TestClient(app, base_url="http://testserver") as client:
        status_url = client.post(f"/queue/{V1}", json=BODY).json()["status_url"]
        store.hang = True
        first, took = timed(lambda: client.get(status_url))
        assert first.status_code == 503 and 0.3 <= took < 0.6
        assert "did not answer within 0.3 s" in first.json()["detail"]
        again, took = timed(lambda: client.get(status_url))
        assert again.status_code == 503 and took < 0.1  # the breaker is open
        store.hang = False
        deadline = time.monotonic() + 1
        while client.get(status_url).status_code != 202:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    store.close()
