"""Process roles: ``serve`` runs the HTTP API and workers in one process, ``api`` the HTTP
API alone, ``worker`` workers alone. Each opens the store and file storage its settings
name (SQLite and a folder under the data directory by default; PostgreSQL and an S3 bucket
for a fleet), and each runs the housekeeper (start timeouts, expired files, webhooks)."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import ipaddress
import logging
import os
import signal
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

from vidserve import __version__
from vidserve.config import Settings
from vidserve.errors import ConfigError
from vidserve.storage import FileStorage
from vidserve.store import JobStore

if TYPE_CHECKING:
    from vidserve.serving import Route

logger = logging.getLogger("vidserve")


@contextmanager
def data_dir_lock(data_dir: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the data directory: ``serve`` alone (exclusive), or shared by ``api`` and
    ``worker`` processes. With the exclusive lock held, any request the data directory's
    store shows as running belonged to a process that died, so its lease can be expired."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another vidserve process is using {data_dir}") from None
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Parts:
    """What a process runs on: its settings (with the deployment secret), store, storage."""

    settings: Settings
    store: JobStore
    storage: FileStorage


@contextmanager
def open_parts(settings: Settings, *, exclusive: bool) -> Iterator[Parts]:
    """Open the store and storage, start the housekeeper; undo it all on the way out."""
    from vidserve.media.netguard import HostPolicy
    from vidserve.storage import open_storage
    from vidserve.store.factory import open_store
    from vidserve.webhooks.dispatcher import WebhookDispatcher
    from vidserve.worker.housekeeping import Housekeeper

    try:
        HostPolicy.from_allow(settings.allow_hosts)
    except ValueError as exc:
        raise ConfigError(f"VIDSERVE_ALLOW_HOSTS: {exc}") from None
    with data_dir_lock(settings.data_dir, exclusive=exclusive):
        try:
            store = open_store(settings.store_url, max_attempts=settings.max_attempts)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        try:
            settings = replace(settings, secret=settings.secret or store.deployment_secret())
            try:
                storage = open_storage(settings.storage_url)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            housekeeper = Housekeeper(store, storage, WebhookDispatcher.create(store, settings))
            housekeeper.start()
            try:
                yield Parts(settings, store, storage)
            finally:
                housekeeper.stop()
        finally:
            store.close()


def _serve_http(parts: Parts, role: str, routes: Mapping[str, Route] | None = None) -> None:
    from vidserve.api import create_app

    settings = parts.settings
    if not is_loopback(settings.host) and not settings.insecure and not parts.store.has_keys():
        raise ConfigError(
            f"refusing to serve {settings.host} without API keys: anyone who can reach it "
            "could use it. Create a key (vidserve keys create NAME) or pass --insecure"
        )
    app = create_app(settings, parts.store, parts.storage, routes)
    logger.info(
        "vidserve %s %s on http://%s:%d (store: %s, files: %s)",
        __version__,
        role,
        settings.host,
        settings.port,
        _redacted(settings.store_url),
        settings.storage_url,
    )
    run_http(
        app,
        settings.host,
        settings.port,
        access_log=settings.access_log,
        header_timeout=settings.header_timeout,
    )


def run_http(
    app: Any, host: str, port: int, *, header_timeout: float = 0.0, **options: Any
) -> None:
    """Serve ``app`` with uvicorn (``options`` go to ``uvicorn.run``); with a
    ``header_timeout`` (seconds; 0: none), a connection must send each request's head
    within that long (see :func:`header_deadline_protocol`).

    What was built before serving (the app, its schemas, the imported libraries) lives as
    long as the process. ``gc.freeze()`` takes it out of the collector's sight: a full
    collection then scans only what requests leave behind, instead of ~80,000 objects for
    ~60 ms during which no connection is served (a status poll's p99 showed them)."""
    import uvicorn

    gc.freeze()
    if header_timeout > 0 and "http" not in options:
        options["http"] = header_deadline_protocol(header_timeout)
    options = {"log_level": "info", "timeout_graceful_shutdown": 5, **options}
    uvicorn.run(app, host=host, port=port, **options)


#: What a connection that did not send a request head in time is answered, if it sent some
#: of one (one that sent nothing is just closed, as a browser's spare connection may be).
_HEAD_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)


def header_deadline_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol (httptools where installed, else h11: what its "auto"
    picks) with a deadline on request heads (:class:`HeadDeadline`), which uvicorn does
    not have: its only timer, ``timeout_keep_alive``, runs between requests and stops at a
    connection's first byte, so a client that opens a connection and sends a header line
    now and then (slowloris) holds it, and a file descriptor, for ever."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    return type("HeadDeadlineProtocol", (HeadDeadline, AutoHTTPProtocol), {"head_timeout": seconds})


class HeadDeadline:
    """Mixed into a uvicorn HTTP protocol: each request's head must arrive within
    ``head_timeout`` seconds. The deadline starts when a connection opens, and again when
    the first bytes of a request after a completed response arrive; it ends when the
    request's head has been parsed (the request's body and the response are not bound by
    it). Bytes arriving slowly do not extend it. A connection past it is closed, with a 408
    if it sent part of a head; one upgraded to another protocol is left alone."""

    head_timeout: float
    # The protocol's own (uvicorn's H11Protocol and HttpToolsProtocol have them).
    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    client: tuple[str, int] | None
    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if self._head_timer is None and (cycle is None or cycle.response_complete):
            self._arm_head_timer()  # the next request is on its way
        if self._head_timer is not None:
            self._head_bytes += len(data)
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not cycle:  # a request's head arrived
            self._disarm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_head_timer(self) -> None:
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not cast(Any, self):
            return
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        logger.info(
            "closing the connection of %s: no request head in %g s", peer, self.head_timeout
        )
        if self._head_bytes:
            transport.write(_HEAD_TIMEOUT_RESPONSE)
        transport.close()


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _redacted(url: str) -> str:
    """A store URL without its password, for logs."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    return f"{scheme}://{credentials.split(':', 1)[0]}@{tail}"


def serve(settings: Settings) -> None:
    """The API and ``settings.workers`` workers in one process, until interrupted."""
    from vidserve.worker import WorkerPool

    with open_parts(settings, exclusive=True) as parts:
        if settings.embedded_store:
            # The exclusive lock says no other process runs on this store: what shows as
            # running was left by a process that died.
            recovered = parts.store.expire_leases()
            if recovered:
                logger.warning(
                    "%d request(s) were running when the last process stopped; they run again",
                    recovered,
                )
        pool = WorkerPool(parts.store, parts.storage, parts.settings, settings.workers)
        pool.start()
        try:
            _serve_http(parts, "serve", pool.routes)
        finally:
            pool.stop()


def api(settings: Settings) -> None:
    """The HTTP API alone, until interrupted: requests wait for ``vidserve worker``s."""
    with open_parts(settings, exclusive=False) as parts:
        _serve_http(parts, "api")


def worker(settings: Settings, endpoint_ids: Collection[str] | None) -> None:
    """``settings.workers`` workers, until SIGTERM or SIGINT; a request in progress then
    is handed back to the queue, for another worker to run."""
    from vidserve.endpoints import ENDPOINTS
    from vidserve.worker import WorkerPool

    unknown = sorted(set(endpoint_ids or ()) - set(ENDPOINTS))
    if unknown:
        known = ", ".join(sorted(ENDPOINTS))
        raise ConfigError(f"unknown endpoint(s) {', '.join(unknown)}; served: {known}")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with open_parts(settings, exclusive=False) as parts:
        pool = WorkerPool(
            parts.store, parts.storage, parts.settings, settings.workers, endpoint_ids
        )
        names = sorted({engine.name for w in pool.workers for engine in w.engines.values()})
        served = sorted(pool.workers[0].engines) if pool.workers else []
        logger.info(
            "vidserve %s worker: %d thread(s), engine(s) %s, endpoints %s (store: %s, files: %s)",
            __version__,
            settings.workers,
            ", ".join(names),
            ", ".join(served),
            _redacted(settings.store_url),
            settings.storage_url,
        )
        pool.start()
        try:
            # Wake now and then: Python runs signal handlers only in the main thread, and a
            # SIGTERM the kernel hands to another thread (an encoder's, a render's) does not
            # end a plain wait; the handler would wait as long as the wait does.
            while not stop.wait(0.5):
                pass
        finally:
            pool.stop()
