"""``vidserve serve``: the whole service in one process: the HTTP API, in-process workers,
SQLite under the data directory and files in a folder beside it."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidserve import __version__
from vidserve.config import Settings
from vidserve.errors import ConfigError

logger = logging.getLogger("vidserve")


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data directory for this process alone. With the lock held, any request the
    store shows as running belonged to a process that died, so its lease can be expired."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another vidserve process is using {data_dir}") from None
        yield
    finally:
        os.close(fd)


def serve(settings: Settings) -> None:
    """Run API and workers until interrupted."""
    import uvicorn

    from vidserve.api import create_app
    from vidserve.storage import LocalStorage
    from vidserve.store.sqlite import SQLiteJobStore
    from vidserve.worker import WorkerPool

    with data_dir_lock(settings.data_dir):
        store = SQLiteJobStore(settings.store_path, max_attempts=settings.max_attempts)
        recovered = store.expire_leases()
        if recovered:
            logger.warning(
                "%d request(s) were running when the last process stopped; they run again",
                recovered,
            )
        storage = LocalStorage(settings.files_dir)
        pool = WorkerPool(store, storage, settings, settings.workers)
        pool.start()
        try:
            app = create_app(settings.with_secret(), store, storage)
            logger.info(
                "vidserve %s on http://%s:%d (data: %s, %d worker(s))",
                __version__,
                settings.host,
                settings.port,
                settings.data_dir.resolve(),
                settings.workers,
            )
            uvicorn.run(
                app,
                host=settings.host,
                port=settings.port,
                log_level="info",
                timeout_graceful_shutdown=5,
            )
        finally:
            pool.stop()
            store.close()
