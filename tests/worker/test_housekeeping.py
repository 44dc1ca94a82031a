"""The housekeeper's chores on a real SQLite store and a local folder."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vidserve.errors import NotFoundError
from vidserve.schema import ErrorType
from vidserve.storage import LocalStorage
from vidserve.storage.base import PARTS_LIFETIME, PARTS_PREFIX
from vidserve.store import JobStore, NewJob
from vidserve.store.sqlite import SQLiteJobStore
from vidserve.webhooks import RetryPolicy, WebhookSigner
from vidserve.webhooks.dispatcher import WebhookDispatcher
from vidserve.worker.housekeeping import Housekeeper


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[JobStore, LocalStorage, Housekeeper]]:
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    storage = LocalStorage(tmp_path / "files")
    webhooks = WebhookDispatcher(store, WebhookSigner.from_secret("s"), RetryPolicy())
    keeper = Housekeeper(store, storage, webhooks, interval=0.05)
    yield store, storage, keeper
    keeper.stop()
    store.close()


def test_expired_files_are_deleted_and_others_kept(
    parts: tuple[JobStore, LocalStorage, Housekeeper],
) -> None:
    store, storage, keeper = parts
    old = storage.put_bytes(b"old", content_type="video/mp4", file_name="a.mp4")
    fresh = storage.put_bytes(b"new", content_type="video/mp4", file_name="b.mp4")
    store.add_expiring_file(old.key, time.time() - 1)
    store.add_expiring_file(fresh.key, time.time() + 3600)
    keeper.run_once()
    with pytest.raises(NotFoundError):
        storage.read_bytes(old.key, 100)
    assert storage.read_bytes(fresh.key, 100) == b"new"
    assert store.expired_files(10) == []


def test_the_running_housekeeper_times_out_unstarted_requests(
    parts: tuple[JobStore, LocalStorage, Housekeeper],
) -> None:
    store, _, keeper = parts
    store.create(NewJob("late", "e", {}, "http://x", start_timeout=0.1))
    keeper.start()
    deadline = time.monotonic() + 5
    job = store.get("late")
    while job is not None and job.error_type is None:
        assert time.monotonic() < deadline, "the request never timed out"
        time.sleep(0.05)
        job = store.get("late")
    assert job is not None and job.error_type == ErrorType.REQUEST_TIMEOUT


def test_abandoned_upload_parts_are_dropped_now_and_then(
    parts: tuple[JobStore, LocalStorage, Housekeeper], tmp_path: Path
) -> None:
    _, storage, keeper = parts
    src = tmp_path / "part"
    src.write_bytes(b"x")
    old, fresh = "a" * 32, "b" * 32
    storage.put_part(old, 1, src)
    storage.put_part(fresh, 1, src)
    stale = time.time() - PARTS_LIFETIME - 60
    os.utime(storage.root / PARTS_PREFIX / old / "00001", (stale, stale))
    keeper.run_once()
    assert not (storage.root / PARTS_PREFIX / old).exists()
    assert (storage.root / PARTS_PREFIX / fresh / "00001").is_file()
    # The next look is PARTS_SWEEP_SECONDS away, not a round away: a listing costs on S3.
    os.utime(storage.root / PARTS_PREFIX / fresh / "00001", (stale, stale))
    keeper.run_once()
    assert (storage.root / PARTS_PREFIX / fresh).exists()
    assert keeper.sweep_parts() == 1
