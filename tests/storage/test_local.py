"""What only the local folder does: its on-disk layout and serving from this process."""

from __future__ import annotations

from pathlib import Path

from vidserve.storage import LocalStorage


def test_delete_leaves_no_empty_folder_behind(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = storage.put_bytes(b"x", content_type="text/plain", file_name="x.txt").key
    assert (tmp_path / key).is_file()
    storage.delete(key)
    assert list(tmp_path.iterdir()) == []


def test_local_files_are_served_by_the_api_not_redirected(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = storage.put_bytes(b"x", content_type="text/plain", file_name="x.txt").key
    assert storage.download_url(key) is None
    assert storage.path(key) == tmp_path / key
