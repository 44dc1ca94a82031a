"""The storage contract, run against every backend (a local folder and a real S3 server)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vidserve.errors import FileTooLargeError, NotFoundError
from vidserve.storage import FileStorage
from vidserve.storage.base import MissingPartError, new_key

DATA = bytes(range(256)) * 64  # 16 KiB, every byte value


def test_put_bytes_then_read_gives_the_same_bytes(storage: FileStorage) -> None:
    stored = storage.put_bytes(DATA, content_type="video/mp4", file_name="clip one.mp4")
    assert stored.file_name == "clip_one.mp4"
    assert stored.key.endswith("/clip_one.mp4")
    assert (stored.content_type, stored.size) == ("video/mp4", len(DATA))
    assert storage.read_bytes(stored.key, len(DATA)) == DATA


def test_put_file_copies_the_file_under_the_given_key(storage: FileStorage, tmp_path: Path) -> None:
    src = tmp_path / "render.mp4"
    src.write_bytes(DATA)
    key = new_key("output.mp4")
    stored = storage.put_file(src, content_type="video/mp4", file_name="output.mp4", key=key)
    src.unlink()  # a copy: the source may go once stored
    assert (stored.key, stored.file_name, stored.size) == (key, "output.mp4", len(DATA))
    assert storage.read_bytes(key, 10**6) == DATA


def test_put_over_an_existing_key_replaces_the_content(storage: FileStorage) -> None:
    key = storage.put_bytes(b"old", content_type="text/plain", file_name="a.txt").key
    storage.put_bytes(b"new!", content_type="text/plain", file_name="a.txt", key=key)
    assert storage.read_bytes(key, 100) == b"new!"


def test_empty_files_are_files(storage: FileStorage) -> None:
    stored = storage.put_bytes(b"", content_type="text/plain", file_name="empty.txt")
    assert stored.size == 0
    assert storage.read_bytes(stored.key, 0) == b""


def test_read_past_the_cap_is_file_too_large(storage: FileStorage) -> None:
    key = storage.put_bytes(DATA, content_type="video/mp4", file_name="v.mp4").key
    assert storage.read_bytes(key, len(DATA)) == DATA  # the cap itself is allowed
    with pytest.raises(FileTooLargeError, match=str(len(DATA) - 1)):
        storage.read_bytes(key, len(DATA) - 1)


@pytest.mark.parametrize("key", [f"{'0' * 32}/absent.mp4", "../../etc/passwd", "a/../b", "one"])
def test_reading_absent_or_malformed_keys_is_not_found(storage: FileStorage, key: str) -> None:
    with pytest.raises(NotFoundError):
        storage.read_bytes(key, 100)


@pytest.mark.parametrize("key", ["../escape.txt", "a/b/c.txt", "/x.txt", "nokey"])
def test_writing_malformed_keys_is_refused(storage: FileStorage, key: str) -> None:
    with pytest.raises(ValueError, match="malformed storage key"):
        storage.put_bytes(b"x", content_type="text/plain", file_name="x.txt", key=key)


def test_url_and_key_from_url_round_trip(storage: FileStorage) -> None:
    key = new_key("my clip.mp4")
    url = storage.url(key, "https://vid.example.com/base/")
    assert url == f"https://vid.example.com/base/files/{key}"
    bases = ["http://other.example", "https://vid.example.com/base"]
    assert storage.key_from_url(url, bases) == key
    assert storage.key_from_url(url, ["https://elsewhere.example/base"]) is None
    assert storage.key_from_url("https://vid.example.com/base/queue/x", bases) is None


def test_url_quotes_and_key_from_url_unquotes(storage: FileStorage) -> None:
    key = "0123abcd/name with space.mp4"
    url = storage.url(key, "http://h:8000")
    assert url == "http://h:8000/files/0123abcd/name%20with%20space.mp4"
    assert storage.key_from_url(url, ["http://h:8000"]) == key


def test_delete_removes_the_file_and_is_idempotent(storage: FileStorage) -> None:
    key = storage.put_bytes(DATA, content_type="video/mp4", file_name="v.mp4").key
    other = storage.put_bytes(b"keep", content_type="text/plain", file_name="k.txt").key
    storage.delete(key)
    with pytest.raises(NotFoundError):
        storage.read_bytes(key, len(DATA))
    storage.delete(key)  # already gone: fine
    storage.delete(f"{'f' * 32}/never.mp4")  # never there: fine
    storage.delete("../../etc/passwd")  # malformed: nothing to delete
    assert storage.read_bytes(other, 100) == b"keep"


# -- multipart uploads: parts kept in storage, joined in the client's order ------------------

UPLOAD = "0123456789abcdef0123456789abcdef"


def parts(storage: FileStorage, tmp_path: Path, chunks: dict[int, bytes]) -> None:
    for number, chunk in chunks.items():
        src = tmp_path / f"part-{number}"
        src.write_bytes(chunk)
        storage.put_part(UPLOAD, number, src)


def test_parts_are_joined_in_the_order_given(storage: FileStorage, tmp_path: Path) -> None:
    parts(storage, tmp_path, {1: b"one-", 2: b"two-", 3: b"three"})
    parts(storage, tmp_path, {2: b"TWO-"})  # a retried part replaces the first try
    key = new_key("joined.bin")
    stored = storage.join_parts(
        UPLOAD, [3, 1, 2], key=key, content_type="video/mp4", file_name="joined.bin"
    )
    assert stored == type(stored)(key, "video/mp4", "joined.bin", 13)
    assert storage.read_bytes(key, 100) == b"threeone-TWO-"


def test_joining_removes_the_uploads_parts(storage: FileStorage, tmp_path: Path) -> None:
    parts(storage, tmp_path, {1: b"a", 2: b"b", 7: b"never named"})
    storage.join_parts(UPLOAD, [1, 2], key=new_key("x"), content_type="t/t", file_name="x")
    with pytest.raises(MissingPartError) as missing:
        storage.join_parts(UPLOAD, [7], key=new_key("y"), content_type="t/t", file_name="y")
    assert missing.value.number == 7


def test_a_part_never_uploaded_is_named(storage: FileStorage, tmp_path: Path) -> None:
    parts(storage, tmp_path, {1: b"a", 3: b"c"})
    key = new_key("z")
    with pytest.raises(MissingPartError, match="part 2 was not uploaded"):
        storage.join_parts(UPLOAD, [1, 2, 3], key=key, content_type="t/t", file_name="z")
    with pytest.raises(NotFoundError):
        storage.read_bytes(key, 10)  # nothing half-made under the key


@pytest.mark.parametrize(("upload", "number"), [("../etc", 1), (UPLOAD.upper(), 1), (UPLOAD, 0)])
def test_malformed_parts_are_refused(
    storage: FileStorage, tmp_path: Path, upload: str, number: int
) -> None:
    src = tmp_path / "p"
    src.write_bytes(b"x")
    with pytest.raises(ValueError, match="malformed upload id|part numbers run"):
        storage.put_part(upload, number, src)


def test_abandoned_uploads_parts_are_dropped(storage: FileStorage, tmp_path: Path) -> None:
    parts(storage, tmp_path, {1: b"a", 2: b"b"})
    assert storage.drop_stale_parts(time.time() - 3600) == 0  # arrived just now: kept
    storage.join_parts(UPLOAD, [1], key=new_key("kept"), content_type="t/t", file_name="kept")
    parts(storage, tmp_path, {1: b"again"})
    assert storage.drop_stale_parts(time.time() + 60) == 1  # everything counts as stale
    with pytest.raises(MissingPartError):
        storage.join_parts(UPLOAD, [1], key=new_key("x"), content_type="t/t", file_name="x")
    assert storage.drop_stale_parts(time.time() + 60) == 0
