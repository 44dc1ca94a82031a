"""Fixtures for the storage suite: every shared test runs against every backend.

To add a backend, write a fixture that gives a fresh, empty storage and name it in
``BACKENDS``. S3 runs against a real S3-compatible server (moto, started once per session).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from vidserve.storage import FileStorage, LocalStorage
from vidserve.storage.s3 import S3Storage

from s3server import DUMMY_AWS_ENV, s3_server_or_skip

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

#: The fixtures giving each backend, by test id.
BACKENDS = {"local": "local_storage", "s3": "s3_storage"}


def _use_dummy_aws_env(mp: pytest.MonkeyPatch, scratch: Path) -> None:
    """Dummy credentials only: no test may pick up a developer's real AWS identity."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "VIDSERVE_S3_ENDPOINT_URL",
    ):
        mp.delenv(name, raising=False)
    for name, value in DUMMY_AWS_ENV.items():
        mp.setenv(name, value)
    mp.setenv("AWS_CONFIG_FILE", str(scratch / "no-aws-config"))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(scratch / "no-aws-credentials"))


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _use_dummy_aws_env(monkeypatch, tmp_path)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL of a moto server shared by the session."""
    with s3_server_or_skip(tmp_path_factory.mktemp("s3") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> S3Client:
    """A client of the test server as S3Storage builds them, shared by the session (building
    one takes ~0.3 s); tests also use it to look behind the storage's back."""
    with pytest.MonkeyPatch.context() as mp:
        _use_dummy_aws_env(mp, tmp_path_factory.mktemp("aws"))
        return S3Storage("any", endpoint_url=s3_endpoint).client


@pytest.fixture
def bucket(s3_client: S3Client) -> str:
    """A fresh, empty bucket: tests share the server but never a bucket."""
    name = f"t-{uuid.uuid4().hex[:20]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_storage(s3_client: S3Client, bucket: str) -> S3Storage:
    """S3 storage under a prefix, so tests also show keys land beneath it."""
    return S3Storage(bucket, "vid/out", client=s3_client)


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    """A local folder storage."""
    return LocalStorage(tmp_path / "files")


@pytest.fixture(params=list(BACKENDS))
def storage(request: pytest.FixtureRequest) -> FileStorage:
    """Each backend in turn; S3 starts its server only when an S3 test runs."""
    backend: FileStorage = request.getfixturevalue(BACKENDS[request.param])
    return backend
