"""One webhook POST, and the schedule on which failed deliveries are tried again.

fal retries a failed webhook "10 times in the span of 2 hours" and counts any 2xx as
delivered; :class:`RetryPolicy` spreads 10 attempts over about 2 hours and :func:`deliver`
makes one attempt that never raises, so the dispatcher only records what happened.

Every attempt connects through :mod:`vidserve.media.netguard`: the receiver's host is
resolved at the attempt, each address is checked, and the connection is pinned to a
checked address, so a webhook never reaches an internal address, even when the name's DNS
changed after the URL was accepted at submit.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from vidserve import __version__
from vidserve.media.netguard import PUBLIC_ONLY, BlockedHostError, HostPolicy, guarded_client

USER_AGENT = f"vidserve-webhooks/{__version__}"
#: fal gives a receiver 15 seconds to answer.
DEFAULT_TIMEOUT = 15.0
#: How much of a failed answer's body is read, to quote in the error; the rest is dropped.
MAX_ERROR_BODY = 512
#: How refusals read: "... which vidserve does not deliver webhooks to; ...".
ACTION = "deliver webhooks to"


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed delivery again.

    The wait after attempt ``n`` is ``first_delay * factor ** (n - 1)``, capped at
    ``max_delay``, then scaled by up to ``± jitter``. The defaults wait 15 s, 30 s, 1 min,
    2 min, 4 min, 8 min, 16 min, 32 min and 1 h between the 10 attempts: 7425 s, about
    2 h 4 min in all (± 10 % with jitter), matching fal's 10 tries in 2 hours.

    Jitter comes from a hash of ``(key, attempt)``, not a random generator: deliveries that
    failed together (a receiver was down) spread out, every process computes the same wait
    for the same delivery, and tests are deterministic.
    """

    attempts: int = 10
    first_delay: float = 15.0
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.first_delay <= 0 or self.factor < 1 or self.max_delay < self.first_delay:
            raise ValueError("need first_delay > 0, factor >= 1 and max_delay >= first_delay")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")

    @classmethod
    def spanning(cls, span: float, attempts: int = 10, *, jitter: float = 0.1) -> RetryPolicy:
        """``attempts`` attempts whose waits double and add up to ``span`` seconds (before
        jitter): ``spanning(7200)`` waits 14.1 s, 28.2 s, ... 1 h, 2 hours in all."""
        if span <= 0:
            raise ValueError(f"span must be positive, got {span}")
        if attempts <= 1:
            return cls(attempts=attempts, jitter=jitter)
        first = span / (2 ** (attempts - 1) - 1)
        return cls(attempts, first_delay=first, factor=2.0, max_delay=span, jitter=jitter)

    def delay(self, attempt: int, key: str = "") -> float | None:
        """Seconds to wait after attempt ``attempt`` (1-based) failed; None when it was the
        last. ``key`` (the request id) picks the jitter."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, got {attempt}")
        if attempt >= self.attempts:
            return None
        base = min(self.first_delay * self.factor ** (attempt - 1), self.max_delay)
        digest = hashlib.sha256(f"{key}:{attempt}".encode()).digest()
        unit = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
        return base * (1 + self.jitter * (2 * unit - 1))

    def total(self, key: str = "") -> float:
        """Seconds from the first attempt to the last, when every attempt fails."""
        return sum(self.delay(n, key) or 0.0 for n in range(1, self.attempts))


@dataclass(frozen=True)
class DeliveryResult:
    """What one attempt got: ``ok`` on a 2xx; otherwise the status (if any) and why."""

    ok: bool
    status_code: int | None = None
    error: str | None = None


def deliver(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    policy: HostPolicy = PUBLIC_ONLY,
    client: httpx.Client | None = None,
) -> DeliveryResult:
    """POST ``body`` (JSON, already signed by ``headers``) to ``url`` once.

    Never raises for network errors, timeouts, refused hosts or non-2xx answers: they come
    back as a failed :class:`DeliveryResult`. Redirects are not followed (the signed request
    must reach the URL the user registered), so a 3xx is a failure. ``timeout`` bounds each
    network phase (connect, send, wait for the answer); at most :data:`MAX_ERROR_BODY`
    bytes of the answer are read.

    ``policy`` says which internal hosts may receive webhooks (``VIDSERVE_ALLOW_HOSTS``);
    the attempt runs on a guarded client built for it. A caller passing its own ``client``
    (a test's mock transport) has chosen its connections itself and ``policy`` is unused.
    """
    request_headers = httpx.Headers(dict(headers))
    request_headers["Content-Type"] = "application/json"
    request_headers.setdefault("User-Agent", USER_AGENT)
    try:
        if client is None:
            with guarded_client(policy, action=ACTION) as own:
                return _post(own, url, body, request_headers, timeout)
        return _post(client, url, body, request_headers, timeout)
    except BlockedHostError as exc:
        return DeliveryResult(False, None, f"refused: {exc}")
    except httpx.TimeoutException as exc:
        return DeliveryResult(False, None, f"timed out after {timeout:g} s ({type(exc).__name__})")
    except httpx.ConnectError as exc:
        return DeliveryResult(False, None, f"could not connect: {exc}")
    except httpx.HTTPError as exc:
        return DeliveryResult(False, None, f"{type(exc).__name__}: {exc}")
    except httpx.InvalidURL as exc:
        return DeliveryResult(False, None, f"invalid webhook URL: {exc}")


def _post(
    client: httpx.Client, url: str, body: bytes, headers: httpx.Headers, timeout: float
) -> DeliveryResult:
    with client.stream(
        "POST", url, content=body, headers=headers, timeout=timeout, follow_redirects=False
    ) as response:
        code = response.status_code
        if response.is_success:
            # The answer's body means nothing to us; closing unread drops the connection.
            return DeliveryResult(True, code)
        if 300 <= code < 400:
            where = response.headers.get("location", "(no Location)")
            return DeliveryResult(
                False,
                code,
                f"HTTP {code} redirect to {where} not followed: a webhook URL must answer "
                "with 2xx itself",
            )
        snippet = _read_some(response, time.monotonic() + timeout)
        return DeliveryResult(False, code, f"HTTP {code}" + (f": {snippet}" if snippet else ""))


def _read_some(response: httpx.Response, deadline: float) -> str:
    """Up to MAX_ERROR_BODY bytes of the answer, as one line of text."""
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= MAX_ERROR_BODY or time.monotonic() > deadline:
                break
    except httpx.HTTPError:
        pass  # the status code is what counts; a body cut short only shortens the quote
    return " ".join(data[:MAX_ERROR_BODY].decode("utf-8", "replace").split())
