"""In-process workers: N threads, each a :class:`Worker` with its own engines."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection

from vidserve.config import Settings
from vidserve.endpoints import ENDPOINTS
from vidserve.engines.base import Engine
from vidserve.engines.registry import DEFAULT_ENGINE, create_engine
from vidserve.storage import FileStorage
from vidserve.store import JobStore
from vidserve.worker.runner import Worker

logger = logging.getLogger(__name__)


def create_engines(
    endpoint_ids: Collection[str] | None = None, engine_name: str = DEFAULT_ENGINE
) -> dict[str, Engine]:
    """One engine instance serving ``endpoint_ids`` (default: every endpoint)."""
    engine = create_engine(engine_name)
    return dict.fromkeys(ENDPOINTS if endpoint_ids is None else endpoint_ids, engine)


class WorkerPool:
    """Starts ``count`` worker threads; ``stop`` hands running requests back to the queue.

    ``endpoint_ids`` limits what the workers claim (default: every endpoint)."""

    def __init__(
        self,
        store: JobStore,
        storage: FileStorage,
        settings: Settings,
        count: int,
        endpoint_ids: Collection[str] | None = None,
    ) -> None:
        self.shutdown = threading.Event()
        self.workers = [
            Worker(store, storage, settings, create_engines(endpoint_ids), shutdown=self.shutdown)
            for _ in range(count)
        ]
        self._threads = [
            threading.Thread(target=w.run, name=w.worker_id, daemon=True) for w in self.workers
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        logger.info("started %d worker(s)", len(self._threads))

    def stop(self, timeout: float = 10.0) -> None:
        self.shutdown.set()
        for thread in self._threads:
            thread.join(timeout)
        for worker in self.workers:
            for engine in set(worker.engines.values()):
                engine.close()
