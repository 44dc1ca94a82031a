"""``SyncClient`` and ``AsyncClient``: fal_client 1.0.3's surface, against a vidserve address.

URLs come from ``base_url`` (``VIDSERVE_URL``, default ``http://127.0.0.1:8000``): run at
``/run/``, the queue at ``/queue/``, uploads through ``/rest/storage/upload/initiate`` and a
streamed ``PUT``. The key is ``VIDSERVE_KEY``, else ``FAL_KEY``, sent as ``Authorization: Key``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import mimetypes
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, Any, Literal

import httpx

from vidserve import __version__
from vidserve.client._errors import FalClientError, FalClientTimeoutError, raise_for_status
from vidserve.client._status import Completed, Status, parse_status

AnyJSON = dict[str, Any]
Priority = Literal["normal", "low"]
DEFAULT_URL = "http://127.0.0.1:8000"
USER_AGENT = f"vidserve-client/{__version__} (python)"
QUEUE_POLL_TIMEOUT = 30.0
_NAMESPACES = ("workflows", "comfy")
#: Answers worth another try: busy (429) or a gateway that lost the server (502-504).
_RETRY_STATUS = {408, 429, 502, 503, 504}
_ATTEMPTS = 5


def app_path(application: str) -> str:
    """``owner/alias`` (with its namespace) of an endpoint id: where status, result and
    cancel live."""
    parts = application.strip("/").split("/")
    keep = 3 if parts[0] in _NAMESPACES else 2
    return "/".join(parts[:keep])


def _retry_delay(attempt: int) -> float:
    return float(min(0.25 * 2**attempt, 5.0) * (0.5 + random.random() / 2))  # noqa: S311


def _should_retry(response: httpx.Response) -> bool:
    # A 5xx from vidserve itself carries a request id and is final; a gateway's does not.
    return response.status_code in _RETRY_STATUS and (
        response.status_code < 500 or "x-fal-request-id" not in response.headers
    )


@dataclass(frozen=True)
class _Config:
    base_url: str
    key: str | None
    timeout: float

    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT}
        if self.key:
            headers["Authorization"] = f"Key {self.key}"
        return headers


def _config(base_url: str | None, key: str | None, timeout: float) -> _Config:
    url = (base_url or os.environ.get("VIDSERVE_URL") or DEFAULT_URL).rstrip("/")
    key = key or os.environ.get("VIDSERVE_KEY") or os.environ.get("FAL_KEY")
    return _Config(url, key, timeout)


def _submit_request(
    application: str,
    path: str,
    webhook_url: str | None,
    priority: Priority | None,
    start_timeout: float | None,
    hint: str | None,
    headers: dict[str, str],
) -> tuple[str, dict[str, str], dict[str, str]]:
    url = f"/queue/{application.strip('/')}" + (f"/{path.lstrip('/')}" if path else "")
    params = {"fal_webhook": webhook_url} if webhook_url else {}
    extra = dict(headers)
    if priority is not None:
        extra["X-Fal-Queue-Priority"] = priority
    if start_timeout is not None:
        extra["X-Fal-Request-Timeout"] = str(start_timeout)
    if hint is not None:
        extra["X-Fal-Runner-Hint"] = hint
    return url, params, extra


# --- sync ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncRequestHandle:
    """A submitted request; its URLs are the ones the server returned."""

    request_id: str
    response_url: str = field(repr=False)
    status_url: str = field(repr=False)
    cancel_url: str = field(repr=False)
    client: httpx.Client = field(repr=False)

    @classmethod
    def from_request_id(
        cls, client: httpx.Client, application: str, request_id: str
    ) -> SyncRequestHandle:
        root = f"{client.base_url}".rstrip("/")
        base = f"{root}/queue/{app_path(application)}/requests/{request_id}"
        return cls(request_id, base, f"{base}/status", f"{base}/cancel", client)

    def status(self, *, with_logs: bool = False) -> Status:
        response = _send(
            self.client,
            "GET",
            self.status_url,
            params={"logs": with_logs},
            timeout=QUEUE_POLL_TIMEOUT,
        )
        return parse_status(response.json())

    def iter_events(self, *, with_logs: bool = False, interval: float = 0.1) -> Iterator[Status]:
        """Poll until COMPLETED, yielding each status."""
        while True:
            status = self.status(with_logs=with_logs)
            yield status
            if isinstance(status, Completed):
                return
            time.sleep(interval)

    def get(self, *, interval: float = 0.1) -> AnyJSON:
        """Wait for completion; the output (or FalClientHTTPError with the failure)."""
        for _ in self.iter_events(interval=interval):
            pass
        result: AnyJSON = _send(
            self.client, "GET", self.response_url, timeout=QUEUE_POLL_TIMEOUT
        ).json()
        return result

    def cancel(self) -> None:
        _send(self.client, "PUT", self.cancel_url, timeout=QUEUE_POLL_TIMEOUT)


def _send(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    for attempt in range(_ATTEMPTS):
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TransportError:
            if attempt == _ATTEMPTS - 1:
                raise
        else:
            if not _should_retry(response) or attempt == _ATTEMPTS - 1:
                raise_for_status(response)
                return response
        time.sleep(_retry_delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class SyncClient:
    """A blocking client. ``base_url``: ``VIDSERVE_URL``; ``key``: ``VIDSERVE_KEY``/``FAL_KEY``."""

    key: str | None = field(default=None, repr=False)
    default_timeout: float = 120.0
    base_url: str | None = None

    @cached_property
    def _config(self) -> _Config:
        return _config(self.base_url, self.key, self.default_timeout)

    @cached_property
    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self._config.base_url,
            headers=self._config.headers(),
            timeout=self.default_timeout,
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        method: str = "POST",
        path: str = "",
        timeout: float | None = None,
        start_timeout: float | None = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> AnyJSON:
        """Run and wait for the output (no client read timeout unless ``timeout``)."""
        url, _, extra = _submit_request(
            application, path, None, None, start_timeout, hint, headers or {}
        )
        response = _send(
            self._client,
            method,
            "/run" + url[len("/queue") :],
            json=arguments if method.upper() != "GET" else None,
            headers=extra,
            timeout=timeout,
        )
        result: AnyJSON = response.json()
        return result

    def submit(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "",
        hint: str | None = None,
        webhook_url: str | None = None,
        priority: Priority | None = None,
        headers: dict[str, str] | None = None,
        start_timeout: float | None = None,
    ) -> SyncRequestHandle:
        """Queue a request; returns its handle."""
        url, params, extra = _submit_request(
            application, path, webhook_url, priority, start_timeout, hint, headers or {}
        )
        data = _send(self._client, "POST", url, json=arguments, params=params, headers=extra).json()
        return SyncRequestHandle(
            data["request_id"],
            data["response_url"],
            data["status_url"],
            data["cancel_url"],
            self._client,
        )

    def subscribe(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "",
        hint: str | None = None,
        with_logs: bool = False,
        interval: float = 0.1,
        on_enqueue: Callable[[str], None] | None = None,
        on_queue_update: Callable[[Status], None] | None = None,
        priority: Priority | None = None,
        headers: dict[str, str] | None = None,
        start_timeout: float | None = None,
        client_timeout: float | None = None,
    ) -> AnyJSON:
        """Submit, report each status to ``on_queue_update``, and return the output."""
        handle = self.submit(
            application,
            arguments,
            path=path,
            hint=hint,
            priority=priority,
            headers=headers,
            start_timeout=start_timeout or client_timeout,
        )
        if on_enqueue is not None:
            on_enqueue(handle.request_id)
        deadline = None if client_timeout is None else time.monotonic() + client_timeout
        for status in handle.iter_events(with_logs=with_logs, interval=interval):
            if on_queue_update is not None:
                on_queue_update(status)
            if deadline is not None and time.monotonic() > deadline:
                with contextlib.suppress(FalClientError, httpx.HTTPError):
                    handle.cancel()
                raise FalClientTimeoutError(client_timeout or 0.0, handle.request_id)
        return handle.get(interval=interval)

    def get_handle(self, application: str, request_id: str) -> SyncRequestHandle:
        return SyncRequestHandle.from_request_id(self._client, application, request_id)

    def status(self, application: str, request_id: str, *, with_logs: bool = False) -> Status:
        return self.get_handle(application, request_id).status(with_logs=with_logs)

    def result(self, application: str, request_id: str) -> AnyJSON:
        return self.get_handle(application, request_id).get()

    def cancel(self, application: str, request_id: str) -> None:
        self.get_handle(application, request_id).cancel()

    def upload(
        self,
        data: str | bytes | IO[bytes],
        content_type: str,
        file_name: str | None = None,
        **_: Any,
    ) -> str:
        """Store ``data`` on the server; returns its URL, usable as any ``*_url`` input."""
        body = data.encode() if isinstance(data, str) else data
        grant = _send(
            self._client,
            "POST",
            "/rest/storage/upload/initiate",
            json={"content_type": content_type, "file_name": file_name},
        ).json()
        _send(
            self._client,
            "PUT",
            grant["upload_url"],
            content=body,
            headers={"Content-Type": content_type},
            timeout=None,
        )
        url: str = grant["file_url"]
        return url

    def upload_file(self, path: str | os.PathLike[str], **kwargs: Any) -> str:
        """Upload a local file (streamed, never read whole), typed by its name."""
        mime = mimetypes.guess_type(os.fspath(path))[0] or "application/octet-stream"
        with open(path, "rb") as f:
            return self.upload(f, mime, os.path.basename(path), **kwargs)

    def upload_image(self, image: Any, format: str = "jpeg", **kwargs: Any) -> str:  # noqa: A002
        """Upload a Pillow image."""
        with io.BytesIO() as buffer:
            image.save(buffer, format=format)
            return self.upload(buffer.getvalue(), f"image/{format}", **kwargs)


# --- async -----------------------------------------------------------------------------------


async def _asend(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    for attempt in range(_ATTEMPTS):
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError:
            if attempt == _ATTEMPTS - 1:
                raise
        else:
            if not _should_retry(response) or attempt == _ATTEMPTS - 1:
                raise_for_status(response)
                return response
        await asyncio.sleep(_retry_delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class AsyncRequestHandle:
    """A submitted request, for ``AsyncClient``."""

    request_id: str
    response_url: str = field(repr=False)
    status_url: str = field(repr=False)
    cancel_url: str = field(repr=False)
    client: httpx.AsyncClient = field(repr=False)

    @classmethod
    def from_request_id(
        cls, client: httpx.AsyncClient, application: str, request_id: str
    ) -> AsyncRequestHandle:
        root = f"{client.base_url}".rstrip("/")
        base = f"{root}/queue/{app_path(application)}/requests/{request_id}"
        return cls(request_id, base, f"{base}/status", f"{base}/cancel", client)

    async def status(self, *, with_logs: bool = False) -> Status:
        response = await _asend(
            self.client,
            "GET",
            self.status_url,
            params={"logs": with_logs},
            timeout=QUEUE_POLL_TIMEOUT,
        )
        return parse_status(response.json())

    async def iter_events(
        self, *, with_logs: bool = False, interval: float = 0.1
    ) -> AsyncIterator[Status]:
        while True:
            status = await self.status(with_logs=with_logs)
            yield status
            if isinstance(status, Completed):
                return
            await asyncio.sleep(interval)

    async def get(self, *, interval: float = 0.1) -> AnyJSON:
        async for _ in self.iter_events(interval=interval):
            pass
        response = await _asend(self.client, "GET", self.response_url, timeout=QUEUE_POLL_TIMEOUT)
        result: AnyJSON = response.json()
        return result

    async def cancel(self) -> None:
        await _asend(self.client, "PUT", self.cancel_url, timeout=QUEUE_POLL_TIMEOUT)


async def _maybe_await(value: object) -> None:
    if inspect.isawaitable(value):
        await value


@dataclass(frozen=True)
class AsyncClient:
    """The asyncio client; the same methods as :class:`SyncClient`, awaitable."""

    key: str | None = field(default=None, repr=False)
    default_timeout: float = 120.0
    base_url: str | None = None

    @cached_property
    def _config(self) -> _Config:
        return _config(self.base_url, self.key, self.default_timeout)

    @cached_property
    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self._config.base_url,
            headers=self._config.headers(),
            timeout=self.default_timeout,
            follow_redirects=True,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def run(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        method: str = "POST",
        path: str = "",
        timeout: float | None = None,
        start_timeout: float | None = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> AnyJSON:
        url, _, extra = _submit_request(
            application, path, None, None, start_timeout, hint, headers or {}
        )
        response = await _asend(
            self._client,
            method,
            "/run" + url[len("/queue") :],
            json=arguments if method.upper() != "GET" else None,
            headers=extra,
            timeout=timeout,
        )
        result: AnyJSON = response.json()
        return result

    async def submit(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "",
        hint: str | None = None,
        webhook_url: str | None = None,
        priority: Priority | None = None,
        headers: dict[str, str] | None = None,
        start_timeout: float | None = None,
    ) -> AsyncRequestHandle:
        url, params, extra = _submit_request(
            application, path, webhook_url, priority, start_timeout, hint, headers or {}
        )
        data = (
            await _asend(self._client, "POST", url, json=arguments, params=params, headers=extra)
        ).json()
        return AsyncRequestHandle(
            data["request_id"],
            data["response_url"],
            data["status_url"],
            data["cancel_url"],
            self._client,
        )

    async def subscribe(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "",
        hint: str | None = None,
        with_logs: bool = False,
        interval: float = 0.1,
        on_enqueue: Callable[[str], object] | None = None,
        on_queue_update: Callable[[Status], object] | None = None,
        priority: Priority | None = None,
        headers: dict[str, str] | None = None,
        start_timeout: float | None = None,
        client_timeout: float | None = None,
    ) -> AnyJSON:
        """Callbacks may be plain functions or coroutines."""
        handle = await self.submit(
            application,
            arguments,
            path=path,
            hint=hint,
            priority=priority,
            headers=headers,
            start_timeout=start_timeout or client_timeout,
        )
        if on_enqueue is not None:
            await _maybe_await(on_enqueue(handle.request_id))

        async def wait() -> AnyJSON:
            async for status in handle.iter_events(with_logs=with_logs, interval=interval):
                if on_queue_update is not None:
                    await _maybe_await(on_queue_update(status))
            return await handle.get(interval=interval)

        if client_timeout is None:
            return await wait()
        try:
            return await asyncio.wait_for(wait(), client_timeout)
        except TimeoutError:
            await handle.cancel()
            raise FalClientTimeoutError(client_timeout, handle.request_id) from None

    async def get_handle(self, application: str, request_id: str) -> AsyncRequestHandle:
        return AsyncRequestHandle.from_request_id(self._client, application, request_id)

    async def status(self, application: str, request_id: str, *, with_logs: bool = False) -> Status:
        return await (await self.get_handle(application, request_id)).status(with_logs=with_logs)

    async def result(self, application: str, request_id: str) -> AnyJSON:
        return await (await self.get_handle(application, request_id)).get()

    async def cancel(self, application: str, request_id: str) -> None:
        await (await self.get_handle(application, request_id)).cancel()

    async def upload(
        self, data: str | bytes, content_type: str, file_name: str | None = None, **_: Any
    ) -> str:
        body = data.encode() if isinstance(data, str) else data
        grant = (
            await _asend(
                self._client,
                "POST",
                "/rest/storage/upload/initiate",
                json={"content_type": content_type, "file_name": file_name},
            )
        ).json()
        await _asend(
            self._client,
            "PUT",
            grant["upload_url"],
            content=body,
            headers={"Content-Type": content_type},
            timeout=None,
        )
        url: str = grant["file_url"]
        return url

    async def upload_file(self, path: str | os.PathLike[str], **kwargs: Any) -> str:
        mime = mimetypes.guess_type(os.fspath(path))[0] or "application/octet-stream"
        data = await asyncio.to_thread(_read, path)
        return await self.upload(data, mime, os.path.basename(path), **kwargs)

    async def upload_image(
        self,
        image: Any,
        format: str = "jpeg",  # noqa: A002
        **kwargs: Any,
    ) -> str:
        with io.BytesIO() as buffer:
            image.save(buffer, format=format)
            return await self.upload(buffer.getvalue(), f"image/{format}", **kwargs)


def _read(path: str | os.PathLike[str]) -> bytes:
    with open(path, "rb") as f:
        return f.read()
