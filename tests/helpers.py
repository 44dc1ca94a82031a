"""Test helpers: synthetic images, data URIs, and a real ``vidserve serve`` process."""

from __future__ import annotations

import base64
import http.server
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def make_image(width: int = 640, height: int = 360, seed: int = 0, fmt: str = "PNG") -> bytes:
    """A textured test picture (gradients, blobs and a grid) that optical flow can track."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], -1)
    for _ in range(12):
        cx, cy, r = rng.integers(0, width), rng.integers(0, height), rng.integers(10, 60)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.integers(0, 255, 3)
    img[::40, :] = 255
    img[:, ::40] = 255
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def make_mask(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    """A PNG mask: white inside ``box`` (x0, y0, x1, y1), black elsewhere."""
    mask = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 255
    buf = io.BytesIO()
    Image.fromarray(mask).save(buf, format="PNG")
    return buf.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """``python -m vidserve ROLE`` in a child process, on a free port and its own data dir.

    ``role`` is ``serve`` (API and workers), ``api`` or ``worker`` (no port; ready once it
    logs that it started); ``args`` and ``env`` add options and environment variables.
    """

    def __init__(
        self,
        data_dir: Path,
        workers: int = 1,
        port: int | None = None,
        *,
        role: str = "serve",
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.role = role
        self.args = list(args)
        self.env = dict(env or {})
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"{role}-{data_dir.name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        cmd = [sys.executable, "-m", "vidserve", self.role, "--data-dir", str(self.data_dir)]
        if self.role != "worker":
            cmd += ["--port", str(self.port)]
        if self.role != "api":
            cmd += ["--workers", str(self.workers)]
        with open(self.log_path, "ab") as log:
            start = log.tell()
            self.proc = subprocess.Popen(
                [*cmd, *self.args], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} exited early:\n{self.log()}")
            if self._ready(start):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.role} did not become ready:\n{self.log()}")

    def _ready(self, log_start: int) -> bool:
        if self.role == "worker":
            with open(self.log_path, "rb") as log:
                log.seek(log_start)
                return b" worker: " in log.read()
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, as in a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text()


def wait_status(
    client: httpx.Client, status_url: str, want: str, timeout: float = 60.0, **params: Any
) -> dict[str, Any]:
    """Poll ``status_url`` until its status is ``want``."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(status_url, params=params).json()
        if body["status"] == want:
            return body
        if body["status"] == "COMPLETED":
            raise AssertionError(f"completed while waiting for {want}: {body}")
        time.sleep(0.05)
    raise AssertionError(f"still {body.get('status')} after {timeout} s (wanted {want})")


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Base of the small HTTP servers tests stand up: ``answer`` sends a whole response,
    nothing is logged, and each :class:`RecordingServer` gives its handler a fresh ``seen``
    list for the handler to record requests in."""

    seen: list[str]

    def answer(self, code: int, body: bytes = b"", **fields: str) -> None:
        """Status, header fields (``Content_Type`` for ``Content-Type``), length and body."""
        self.send_response(code)
        for name, value in fields.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class RecordingServer:
    """A threaded HTTP server with ``handler`` on ``host``: its address, URL, and what its
    handler recorded in ``seen``."""

    def __init__(self, handler: type[RecordingHandler], host: str = "127.0.0.1") -> None:
        own = type(handler.__name__, (handler,), {"seen": []})
        self.seen: list[str] = own.seen
        self.httpd = http.server.ThreadingHTTPServer((host, 0), own)
        self.address = f"{host}:{self.httpd.server_address[1]}"
        self.url = f"http://{self.address}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


def unavailable(message: str) -> None:
    """Skip a test whose component is missing; in CI, where everything must run, fail."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Check ``condition`` every 10 ms until it holds; fail naming ``what`` after ``timeout``
    seconds. Tests wait on what they need, never on a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.01)
