"""The storage contract, run against every backend (a local folder and a real S3 server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidserve.errors import FileTooLargeError, NotFoundError
from vidserve.storage import FileStorage
from vidserve.storage.base import new_key

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
