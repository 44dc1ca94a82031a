"""``open_storage``: which storage a location string names, and what it refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vidserve.storage import LocalStorage, open_storage
from vidserve.storage.s3 import S3Storage


@pytest.mark.parametrize(
    ("location", "bucket", "prefix"),
    [
        ("s3://media", "media", ""),
        ("s3://media/", "media", ""),
        ("s3://media/vidserve/out", "media", "vidserve/out/"),
        ("s3://media/vidserve/out/", "media", "vidserve/out/"),
        ("  s3://my.bucket-1/a%20b  ", "my.bucket-1", "a b/"),
    ],
)
def test_s3_urls_give_s3_storage(location: str, bucket: str, prefix: str) -> None:
    storage = open_storage(location)
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == (bucket, prefix)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("s3://Bad_Bucket!/x", "not a valid bucket name"),
        ("s3://ab", "not a valid bucket name"),
        ("s3://key:secret@media/x", "not in the URL"),
        ("s3://media/x?region=eu", "no '\\?' or '#'"),
        ("gs://media/x", "unsupported scheme gs://"),
        ("file://otherhost/srv/files", "not host 'otherhost'"),
        ("file://", "names no folder"),
    ],
)
def test_malformed_locations_are_refused_saying_why(location: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_storage(location)


def test_paths_and_file_urls_give_local_storage(tmp_path: Path) -> None:
    by_path = open_storage(str(tmp_path / "a"))
    by_url = open_storage(f"file://{tmp_path}/b%20c")
    assert isinstance(by_path, LocalStorage)
    assert isinstance(by_url, LocalStorage)
    assert by_path.root == tmp_path / "a"
    assert by_url.root == tmp_path / "b c"
    assert by_url.root.is_dir()


def test_empty_location_is_the_data_dirs_files_folder(tmp_path: Path) -> None:
    storage = open_storage("", data_dir=tmp_path)
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path / "files"
    with pytest.raises(ValueError, match="no storage location"):
        open_storage("")


def test_local_storage_and_the_api_never_import_boto3(tmp_path: Path) -> None:
    code = (
        "import sys, vidserve.api; from vidserve.storage import open_storage; "
        f"open_storage({str(tmp_path)!r}); "
        "print([m for m in ('boto3', 'botocore') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
