"""Keeps a running request's lease alive and carries cancel, progress and log lines between
the store and the engine, on a thread of its own, so the engine never waits on the store nor
fails because of it: what the store cannot take now waits here for the next beat."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from types import TracebackType

from vidserve.schema import LogLevel
from vidserve.store import JobStore

logger = logging.getLogger(__name__)

#: Log lines a request may have waiting for the store; later ones are counted, not kept.
MAX_BUFFERED_LINES = 10_000
#: How long leaving the keeper's block waits for a beat in flight.
STOP_WAIT_SECONDS = 5.0


class LogBuffer:
    """A request's log lines on their way to the store, in order, each with the time it was
    written. :meth:`flush` writes them; a line leaves the buffer only once stored, so a
    failed flush loses nothing and the next one resumes where it stopped."""

    def __init__(self, store: JobStore, request_id: str, limit: int = MAX_BUFFERED_LINES) -> None:
        self._store = store
        self._request_id = request_id
        self._limit = limit
        self._lines: deque[tuple[float, str, str]] = deque()
        self._lock = threading.Lock()  # guards _lines and dropped
        self._flushing = threading.Lock()  # one flush at a time keeps the order
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._lines)

    def add(self, message: str, level: str = "INFO") -> None:
        with self._lock:
            if len(self._lines) < self._limit:
                self._lines.append((time.time(), level, message))
            else:
                self.dropped += 1

    def flush(self) -> None:
        """Write every buffered line in one batch (numbered together, or not at all); a
        store error propagates, leaving them buffered."""
        with self._flushing:
            with self._lock:
                lines, dropped = list(self._lines), self.dropped
            buffered = len(lines)
            if dropped:
                note = f"{dropped} log line(s) dropped while the job store did not answer"
                lines.append((time.time(), LogLevel.WARN.value, note))
            if not lines:
                return
            self._store.add_logs(self._request_id, lines)
            with self._lock:
                # A clear() while the lines were written may have emptied the buffer.
                for _ in range(min(buffered, len(self._lines))):
                    self._lines.popleft()
                self.dropped = max(0, self.dropped - dropped)

    def clear(self) -> None:
        """Forget what is buffered (the request is no longer ours to log to)."""
        with self._lock:
            self._lines.clear()
            self.dropped = 0


class LeaseKeeper:
    """Heartbeats every ``interval`` seconds while the block runs, then writes new progress
    and flushes buffered log lines.

    Sets ``cancel_requested`` when the request was cancelled and ``lost`` when another worker
    took the lease (ours expired); either way the engine should stop. While the store does
    not answer, beats fail quietly (one warning per outage) and the lease runs down:
    ``lease_held`` says whether it can still be ours.
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
        #: Monotonic time the lease runs out unless a beat extends it (claimed just now).
        self._lease_until = time.monotonic() + lease_seconds
        self._failing_since: float | None = None
        #: Set by the engine (through RunContext); written to the store at each beat.
        self.progress: float | None = None
        self.logs = LogBuffer(store, request_id)
        self.cancel_requested = False
        self.lost = False

    @property
    def stop_requested(self) -> bool:
        return self.cancel_requested or self.lost

    @property
    def lease_held(self) -> bool:
        """Whether the lease is still ours: not taken, and not run out while beats failed."""
        return not self.lost and time.monotonic() < self._lease_until

    def log(self, message: str, level: str = "INFO") -> None:
        """Buffer a log line; the next beat (or :meth:`flush_logs`) stores it."""
        self.logs.add(message, level)

    def flush_logs(self) -> None:
        """Store the buffered log lines now (store errors propagate, lines stay buffered);
        dropped instead when the lease was lost: the request is someone else's."""
        if self.lost:
            self.logs.clear()
        else:
            self.logs.flush()

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
        # A beat stuck on a store that does not answer finishes on its own (the thread is a
        # daemon and beats no more); the worker need not wait for it.
        self._thread.join(STOP_WAIT_SECONDS)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception as exc:
                # A store that does not answer must not kill the keeper; the lease outlives
                # a few misses, and what was not written is written at a later beat.
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                    logger.warning(
                        "request %s: the job store did not answer (%s: %s); its lease, progress"
                        " and log lines wait for the next beats",
                        self._request_id,
                        type(exc).__name__,
                        exc,
                    )
            else:
                if self._failing_since is not None:
                    logger.info(
                        "request %s: the job store answers again after %.1f s",
                        self._request_id,
                        time.monotonic() - self._failing_since,
                    )
                    self._failing_since = None

    def beat(self) -> None:
        """One heartbeat: extend the lease, read the cancel flag, write new progress and the
        buffered log lines."""
        started = time.monotonic()
        hb = self._store.heartbeat(self._request_id, self._worker_id, self._lease_seconds)
        self.lost = self.lost or not hb.owned
        self.cancel_requested = self.cancel_requested or hb.cancel_requested
        if not hb.owned:
            return
        self._lease_until = started + self._lease_seconds
        # Each write is tried whatever became of the other; the first error is raised.
        failed: Exception | None = None
        for write in (self._write_progress, self.flush_logs):
            try:
                write()
            except Exception as exc:
                failed = failed or exc
        if failed is not None:
            raise failed

    def _write_progress(self) -> None:
        progress = self.progress
        if progress is not None and progress != self._written:
            self._store.set_progress(self._request_id, self._worker_id, progress)
            self._written = progress
