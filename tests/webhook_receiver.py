"""A real local HTTP receiver for webhook deliveries, and a job builder."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from vidserve.schema import Status
from vidserve.store import Job, Priority

from helpers import RecordingHandler, RecordingServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the receiver saw, and what it serves at ``/jwks``."""

    url: str
    requests: list[Received] = field(default_factory=list)
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    jwks_fetches: int = 0
    release: threading.Event = field(default_factory=threading.Event)


def _handler(receiver: Receiver) -> type[RecordingHandler]:
    class Handler(RecordingHandler):
        def do_GET(self) -> None:
            receiver.jwks_fetches += 1
            self.answer(200, json.dumps(receiver.jwks).encode(), Content_Type="application/json")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
            if self.path == "/ok":
                self.answer(200, b"thanks")
            elif self.path == "/fail":
                self.answer(500, b"receiver  broke\n" + b"x" * 5000)
            elif self.path == "/redirect":
                self.answer(302, Location=f"{receiver.url}/ok")
            elif self.path == "/hang":
                receiver.release.wait(10)  # far longer than the delivery timeout
                self.answer(200)
            else:
                self.answer(404)

    return Handler


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A ThreadingHTTPServer on 127.0.0.1: POST /ok 200, /fail 500, /redirect 302, /hang
    (until the test ends); GET anything answers ``Receiver.jwks``."""
    recv = Receiver("")
    server = RecordingServer(_handler(recv))
    recv.url = server.url
    try:
        yield recv
    finally:
        recv.release.set()
        server.close()


def make_job(**changes: Any) -> Job:
    """A completed request; ``changes`` override any field."""
    fields: dict[str, Any] = {
        "request_id": "req-1",
        "endpoint_id": "fal-ai/kling-video/v1/standard/image-to-video",
        "input": {"prompt": "a cat"},
        "base_url": "http://testserver",
        "status": Status.COMPLETED,
        "priority": Priority.NORMAL,
        "created_at": time.time(),
        "webhook_url": "http://127.0.0.1:9/hook",
    }
    return Job(**{**fields, **changes})
