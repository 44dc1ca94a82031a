"""SSRF through a real ``vidserve serve``: input URLs and webhooks that point at internal
addresses, directly or through a redirect from an allowed host, are never reached.

Two real servers stand in for the network: an *internal* one on 127.0.0.1 (loopback, not
allowed) that must never see a request, and a *public-looking* one on 127.0.0.2 that the
operator allowed (``VIDSERVE_ALLOW_HOSTS=127.0.0.2``; all of 127/8 is loopback on Linux) and
that redirects to the internal one.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from vidserve.api import headers
from vidserve.api.headers import webhook_url
from vidserve.errors import InputError

from helpers import RecordingHandler, RecordingServer, ServerProcess, make_image, wait_status

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
PNG = make_image(640, 360)


class _Handler(RecordingHandler):
    """Serves ``/img.png``, redirects ``/to/<host:port/path>``, answers POSTs 200, and
    records every request."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.seen.append(f"GET {self.path}")
        if self.path.startswith("/to/"):
            self.answer(302, Location="http://" + self.path[4:])
        else:
            self.answer(200, PNG, Content_Type="image/png")

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.seen.append(f"POST {self.path}")
        self.answer(200)


@pytest.fixture(scope="module")
def internal() -> Iterator[RecordingServer]:
    site = RecordingServer(_Handler, "127.0.0.1")
    yield site
    site.close()


@pytest.fixture(scope="module")
def public() -> Iterator[RecordingServer]:
    site = RecordingServer(_Handler, "127.0.0.2")
    yield site
    site.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("ssrf") / "data"
    srv = ServerProcess(data, env={"VIDSERVE_ALLOW_HOSTS": "127.0.0.2"}).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def run_to_error(client: httpx.Client, image_url: str) -> dict[str, Any]:
    """Submit with ``image_url``, wait for the worker, and return the result's error body."""
    response = client.post(f"/queue/{V1}", json={"prompt": "a road", "image_url": image_url})
    assert response.status_code == 200, response.text
    job = response.json()
    wait_status(client, job["status_url"], "COMPLETED", timeout=60)
    result = client.get(job["response_url"])
    assert result.status_code == 422, result.text
    body: dict[str, Any] = result.json()
    assert body["error_type"] == "file_download_error"
    return body


def test_an_input_url_on_an_internal_address_is_never_fetched(
    client: httpx.Client, internal: RecordingServer
) -> None:
    body = run_to_error(client, f"{internal.url}/img.png")
    (detail,) = body["detail"]
    assert detail["loc"] == ["body", "image_url"]
    assert detail["type"] == "file_download_error"
    assert "loopback address 127.0.0.1, which vidserve does not fetch" in detail["msg"]
    assert "VIDSERVE_ALLOW_HOSTS" in detail["msg"]
    assert internal.seen == []


def test_an_input_url_redirecting_to_an_internal_address_is_not_followed(
    client: httpx.Client, internal: RecordingServer, public: RecordingServer
) -> None:
    body = run_to_error(client, f"{public.url}/to/{internal.address}/img.png")
    (detail,) = body["detail"]
    assert detail["loc"] == ["body", "image_url"]
    assert f"(redirected to {internal.url}/img.png) was refused" in detail["msg"]
    assert "loopback address 127.0.0.1" in detail["msg"]
    # The allowed first hop was asked; the internal second hop never was.
    assert public.seen == [f"GET /to/{internal.address}/img.png"]
    assert internal.seen == []


@pytest.mark.parametrize(
    "hook",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://user:secret@127.0.0.2:{port}/hook",
    ],
)
def test_a_webhook_to_an_internal_address_is_refused_at_submit(
    client: httpx.Client, internal: RecordingServer, hook: str
) -> None:
    url = hook.format(port=internal.address.rsplit(":", 1)[1])
    response = client.post(
        f"/queue/{V1}",
        params={"fal_webhook": url},
        json={"prompt": "a road", "image_url": f"{internal.url}/img.png"},
    )
    assert response.status_code == 422, response.text
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["query", "fal_webhook"]
    assert detail["msg"].startswith("the webhook URL is refused: ")
    assert internal.seen == []


def test_a_webhook_to_an_allowed_host_is_accepted_and_delivered(
    client: httpx.Client, public: RecordingServer
) -> None:
    response = client.post(
        f"/queue/{V1}",
        params={"fal_webhook": f"{public.url}/hook"},
        json={"prompt": "a road", "image_url": "data:image/png;base64,AAAA"},
    )
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 30
    while "POST /hook" not in public.seen:
        assert time.monotonic() < deadline, "the webhook never reached the allowed host"
        time.sleep(0.1)


# --- the submit-time check on its own -----------------------------------------------------


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Any], None]:
    """``dns(name, answer)``: ``name`` resolves to the address ``answer``, or raises it when
    it is an exception, or sleeps when it is a number of seconds."""
    real = socket.getaddrinfo
    answers: dict[str, Any] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        answer = answers[host]
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, float):
            time.sleep(answer)
            answer = "93.184.215.14"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers.__setitem__


def test_a_name_resolving_to_an_internal_address_is_refused(
    dns: Callable[[str, Any], None],
) -> None:
    dns("hooks.example.com", "10.0.0.5")
    with pytest.raises(InputError) as err:
        webhook_url("https://hooks.example.com/h")
    (detail,) = err.value.details
    assert detail["loc"] == ["query", "fal_webhook"] and detail["type"] == "url_not_allowed"
    assert detail["msg"] == (
        "the webhook URL is refused: hooks.example.com resolves to a private address "
        "10.0.0.5, which vidserve does not deliver webhooks to; an operator can allow it "
        "with VIDSERVE_ALLOW_HOSTS"
    )
    assert webhook_url("https://hooks.example.com/h", ["10.0.0.0/8"])
    assert webhook_url("https://hooks.example.com/h", ["hooks.example.com"])


def test_a_public_name_is_accepted(dns: Callable[[str, Any], None]) -> None:
    dns("hooks.example.com", "93.184.215.14")
    assert webhook_url("https://hooks.example.com/h?a=1") == "https://hooks.example.com/h?a=1"


def test_a_name_that_does_not_resolve_now_is_accepted_and_checked_at_delivery(
    dns: Callable[[str, Any], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    dns("gone.example.com", socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    dns("flaky.example.com", socket.gaierror(socket.EAI_AGAIN, "Temporary failure"))
    dns("slow.example.com", 1.0)
    monkeypatch.setattr(headers, "WEBHOOK_RESOLVE_TIMEOUT", 0.05)
    for host in ("gone", "flaky", "slow"):
        started = time.monotonic()
        assert webhook_url(f"https://{host}.example.com/h")
        assert time.monotonic() - started < 0.5


def test_an_invalid_allow_list_is_named() -> None:
    with pytest.raises(ValueError, match="VIDSERVE_ALLOW_HOSTS entry 'a:b:c:80x'"):
        webhook_url("https://x.example/h", ["a:b:c:80x"])
