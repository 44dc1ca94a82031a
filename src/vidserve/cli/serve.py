"""Process roles: ``serve`` runs the HTTP API and workers in one process, ``api`` the HTTP
API alone, ``worker`` workers alone. Each opens the store and file storage its settings
name (SQLite and a folder under the data directory by default; PostgreSQL and an S3 bucket
for a fleet), and each runs the housekeeper (start timeouts, expired files, webhooks)."""

from __future__ import annotations

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
from typing import TYPE_CHECKING, Any

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
    run_http(app, settings.host, settings.port, access_log=settings.access_log)


def run_http(app: Any, host: str, port: int, **options: Any) -> None:
    """Serve ``app`` with uvicorn (``options`` go to ``uvicorn.run``).

    What was built before serving (the app, its schemas, the imported libraries) lives as
    long as the process. ``gc.freeze()`` takes it out of the collector's sight: a full
    collection then scans only what requests leave behind, instead of ~80,000 objects for
    ~60 ms during which no connection is served (a status poll's p99 showed them)."""
    import uvicorn

    gc.freeze()
    options = {"log_level": "info", "timeout_graceful_shutdown": 5, **options}
    uvicorn.run(app, host=host, port=port, **options)


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
