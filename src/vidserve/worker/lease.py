"""Keeps a running request's lease alive and carries cancel and progress between the
store and the engine, on a thread of its own, so the engine never waits on the store."""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from vidserve.store import JobStore

logger = logging.getLogger(__name__)


class LeaseKeeper:
    """Heartbeats every ``interval`` seconds while the block runs.

    Sets ``cancel_requested`` when the request was cancelled and ``lost`` when another worker
    took the lease (ours expired); either way the engine should stop.
    """

    def __init__(
        self,
        store: JobStore,
        request_id: str,
        worker_id: str,
        lease_seconds: float,
        interval: float,
    ) -> None:
        self._store = store
        self._request_id = request_id
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{request_id}", daemon=True)
        self._written: float | None = None
        #: Set by the engine (through RunContext); written to the store at each beat.
        self.progress: float | None = None
        self.cancel_requested = False
        self.lost = False

    @property
    def stop_requested(self) -> bool:
        return self.cancel_requested or self.lost

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception:
                # A busy store must not kill the keeper; the lease outlives a few misses.
                logger.exception("heartbeat for %s failed", self._request_id)

    def beat(self) -> None:
        """One heartbeat: extend the lease, read the cancel flag, write new progress."""
        hb = self._store.heartbeat(self._request_id, self._worker_id, self._lease_seconds)
        self.lost = self.lost or not hb.owned
        self.cancel_requested = self.cancel_requested or hb.cancel_requested
        progress = self.progress
        if hb.owned and progress is not None and progress != self._written:
            self._store.set_progress(self._request_id, self._worker_id, progress)
            self._written = progress
