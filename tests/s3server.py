"""A real S3-compatible server for tests: moto's server mode in a child process.

Tests that need it skip when it cannot start, except under ``CI=true`` where they fail: CI
must run them. Typical use, as a session fixture::

    @pytest.fixture(scope="session")
    def s3_endpoint(tmp_path_factory) -> Iterator[str]:
        with s3_server_or_skip(tmp_path_factory.mktemp("s3") / "moto.log") as endpoint:
            yield endpoint

The server keeps everything in memory and checks no credentials: any key pair works, so
tests use :data:`DUMMY_AWS_ENV` and never real ones.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from helpers import free_port

__all__ = ["DUMMY_AWS_ENV", "MotoServer", "S3ServerError", "s3_server_or_skip"]

#: Credentials and region for boto3 that can only ever reach a test server.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto accepts any secret
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3ServerError(RuntimeError):
    """The S3 server could not be started."""


class MotoServer:
    """``python -m moto.server`` on 127.0.0.1 and a free port; logs to ``log_path``."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> MotoServer:
        """Start it and wait until it answers; S3ServerError if it does not."""
        if importlib.util.find_spec("moto.server") is None:
            raise S3ServerError("moto's server mode is not installed (pip install 'moto[server]')")
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        env = {**os.environ, **DUMMY_AWS_ENV}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise S3ServerError(f"moto exited early:\n{self.log_path.read_text()[-2000:]}")
            try:
                # Any answer from the S3 API (a bucket list) means it is serving.
                if httpx.get(self.endpoint, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise S3ServerError(f"moto did not answer in {timeout} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """Kill it (its state lives in memory only, so nothing is lost that tests need)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextmanager
def s3_server_or_skip(log_path: Path, attempts: int = 3) -> Iterator[str]:
    """A running server's endpoint URL, for the block. If none starts, the test skips, or
    fails when the environment says ``CI=true``."""
    reason = ""
    server: MotoServer | None = None
    # A few tries: another process may grab the free port before moto binds it.
    for _ in range(attempts):
        try:
            server = MotoServer(log_path).start()
            break
        except S3ServerError as exc:
            server, reason = None, str(exc)
    if server is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the S3 test server did not start: {reason}")
        pytest.skip(f"S3 test server did not start: {reason}")
    try:
        yield server.endpoint
    finally:
        server.stop()
