"""Full or failing file storage: the request goes back to the queue with no attempt spent,
the worker pauses its claims, and the request runs once space returns. What users see names
no server path; failed copies leave no ``.part`` files."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from vidserve.errors import EngineError
from vidserve.schema import ErrorType, Status
from vidserve.storage import LocalStorage, StorageFullError
from vidserve.storage.s3 import S3Storage

from helpers import unavailable, wait_until
from s3server import DUMMY_AWS_ENV

HERE = Path(__file__).resolve().parent


def _leftovers(root: Path) -> list[Path]:
    """Temporary files and empty key folders under a storage root."""
    return [
        p
        for p in root.rglob("*")
        if p.name.endswith(".part") or (p.is_dir() and not any(p.iterdir()))
    ]


def test_full_storage_hands_back_pauses_claims_and_completes_once_space_returns(
    flaky_store: Any,
    flaky_storage: Any,
    chatty_engine: Any,
    make_worker: Any,
    submit: Any,
    log_of: Any,
    settings: Any,
) -> None:
    job = submit(flaky_store)
    worker = make_worker(flaky_store, flaky_storage, chatty_engine(frames=2))
    flaky_storage.failing = True

    assert worker.drain() == 1  # claimed once, handed back, then no claims: no spinning
    back = flaky_store.get(job.request_id)
    assert (back.status, back.attempts, back.error) == (Status.IN_QUEUE, 0, None)
    assert worker.claims_paused_until > time.monotonic()
    assert not worker.run_once()  # paused
    assert flaky_store.get(job.request_id).status is Status.IN_QUEUE
    lines = log_of(flaky_store, job.request_id)
    assert any("File storage is full" in line and "handed back" in line for line in lines)
    assert not any(str(settings.data_dir) in line for line in lines)
    assert flaky_storage.attempts >= 2  # retried briefly before handing back

    flaky_storage.failing = False
    wait_until(lambda: worker.claims_paused_until <= time.monotonic(), "the claim pause ends")
    assert worker.drain() == 1
    done = flaky_store.get(job.request_id)
    assert done.status is Status.COMPLETED and done.error is None and done.attempts == 1
    assert done.result["video"]["file_size"] > 0
    assert _leftovers(flaky_storage.root) == []


def test_storage_that_stays_down_hands_back_after_its_patience(
    flaky_store: Any, flaky_storage: Any, chatty_engine: Any, make_worker: Any, submit: Any
) -> None:
    job = submit(flaky_store)
    flaky_storage.code = errno.EIO
    flaky_storage.failing = True
    worker = make_worker(flaky_store, flaky_storage, chatty_engine(frames=1))

    started = time.monotonic()
    assert worker.drain() == 1
    assert time.monotonic() - started >= worker.policy.storage_patience
    back = flaky_store.get(job.request_id)
    assert (back.status, back.attempts, back.error_type) == (Status.IN_QUEUE, 0, None)
    assert worker.claims_paused_until > time.monotonic()


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device", "/srv/secret/workdir/out.mp4"),
        EngineError(
            "No space left on device", ErrorType.STORAGE_FULL
        ),  # an engine's child process says so
        RuntimeError("the encoder could not write"),  # raised from a full disk, see below
    ],
)
def test_a_full_disk_under_the_engine_is_not_an_engine_error(
    exc: BaseException,
    flaky_store: Any,
    flaky_storage: Any,
    raising_engine: Any,
    make_worker: Any,
    submit: Any,
    log_of: Any,
) -> None:
    if isinstance(exc, RuntimeError):
        exc.__cause__ = OSError(errno.EDQUOT, "Disk quota exceeded")
    job = submit(flaky_store)

    make_worker(flaky_store, flaky_storage, raising_engine(exc)).drain()

    back = flaky_store.get(job.request_id)
    assert (back.status, back.attempts, back.error_type) == (Status.IN_QUEUE, 0, None)
    assert not any("/srv/secret" in line for line in log_of(flaky_store, job.request_id))


# -- local storage: nothing left behind ------------------------------------------------------


def _fail_midway(*args: Any, **kwargs: Any) -> None:
    # Writes a little to the destination (the temporary file), then finds no room.
    dst = args[1] if len(args) > 1 else None
    if isinstance(dst, str | os.PathLike):
        Path(dst).write_bytes(b"half")
    elif dst is not None:
        dst.write(b"half")
    raise OSError(errno.ENOSPC, "No space left on device", "/srv/secret/.x.part")


def test_failed_copies_leave_no_part_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalStorage(tmp_path / "files")
    src = tmp_path / "in.bin"
    src.write_bytes(b"x" * 1000)
    upload = "ab" * 16
    storage.put_part(upload, 1, src)
    monkeypatch.setattr(shutil, "copyfile", _fail_midway)
    monkeypatch.setattr(shutil, "copyfileobj", _fail_midway)

    with pytest.raises(StorageFullError) as caught:
        storage.put_file(src, content_type="video/mp4", file_name="out.mp4")
    assert str(caught.value) == "file storage is full" and caught.value.errno == errno.ENOSPC
    assert "/srv/secret" not in str(caught.value)
    with pytest.raises(StorageFullError):
        storage.put_part(upload, 2, src)
    with pytest.raises(StorageFullError):
        storage.join_parts(
            upload, [1], key="cd" * 16 + "/joined.bin", content_type="x/y", file_name="j"
        )
    monkeypatch.undo()

    def full_write(self: Path, data: bytes) -> int:
        with open(self, "wb") as out:
            out.write(data[:10])
        raise OSError(errno.EDQUOT, "Disk quota exceeded", str(self))

    monkeypatch.setattr(Path, "write_bytes", full_write)
    with pytest.raises(StorageFullError) as caught:
        storage.put_bytes(b"y" * 100, content_type="image/jpeg", file_name="t.jpg")
    assert caught.value.errno == errno.EDQUOT
    monkeypatch.undo()

    assert _leftovers(storage.root) == []
    parts = storage.root / "_parts" / upload
    assert [p.name for p in parts.iterdir()] == ["00001"]  # the earlier part is intact


def test_other_write_errors_also_clean_up_and_pass_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = LocalStorage(tmp_path / "files")
    src = tmp_path / "in.bin"
    src.write_bytes(b"x")

    def broken(*args: Any, **kwargs: Any) -> None:
        Path(args[1]).write_bytes(b"?")
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(shutil, "copyfile", broken)
    with pytest.raises(PermissionError):
        storage.put_file(src, content_type="video/mp4", file_name="out.mp4")
    assert _leftovers(storage.root) == []


def test_a_full_bucket_is_storage_full() -> None:
    client = boto3.client(
        "s3",
        region_name=DUMMY_AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    storage = S3Storage("bucket", client=client)
    with Stubber(client) as stub:
        stub.add_client_error(
            "put_object", "XMinioStorageFull", "Storage backend has reached its minimum free"
        )
        with pytest.raises(StorageFullError):
            storage.put_bytes(b"x", content_type="image/jpeg", file_name="t.jpg")
        stub.add_client_error("put_object", "AccessDenied", "no")
        with pytest.raises(Exception, match="AccessDenied"):
            storage.put_bytes(b"x", content_type="image/jpeg", file_name="t.jpg")


# -- a real full file system ------------------------------------------------------------------


def test_a_really_full_file_system(tmp_path: Path) -> None:
    """A 256 KiB tmpfs as the storage folder, in a user and mount namespace of its own (no
    root needed where unprivileged user namespaces are allowed; skipped where not, a failure
    under CI=true, whose machines allow them)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        unavailable("no unshare(1) here")
    mount = tmp_path / "files"
    mount.mkdir()
    scenario = HERE / "fullfs_scenario.py"
    script = 'mount -t tmpfs -o size=256k tmpfs "$1" && shift && exec "$@"'
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), *sys.path])}
    done = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", str(mount)]
        + [sys.executable, str(scenario), str(tmp_path / "data"), str(mount)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    if done.returncode != 0 and "RESULT" not in done.stdout:
        unavailable(f"cannot mount a tmpfs in a user namespace here: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result["first"] == {"status": "IN_QUEUE", "attempts": 0, "error": None}
    assert result["leftovers_when_full"] == []  # no .part file, no empty folder
    assert any("File storage is full" in line for line in result["logs"])
    assert not any(str(mount) in line or str(tmp_path) in line for line in result["logs"])
    assert result["second"]["status"] == "COMPLETED" and result["second"]["error"] is None
    assert result["second"]["has_video"] and result["second"]["attempts"] == 1
