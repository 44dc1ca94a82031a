"""Chores every vidserve process runs in the background, whatever its role: time out
requests that missed their start deadline, delete expired files, deliver due webhooks, and
now and then drop the parts of abandoned multipart uploads.

Each chore is safe to run in many processes at once: the store hands each piece of work to
one of them (leases for webhooks; idempotent deletes for files), so a fleet needs no
dedicated scheduler.
"""

from __future__ import annotations

import logging
import threading
import time

from vidserve.faults import fault_of
from vidserve.storage import FileStorage
from vidserve.storage.base import PARTS_LIFETIME
from vidserve.store import JobStore
from vidserve.webhooks.dispatcher import WebhookDispatcher

logger = logging.getLogger(__name__)

#: Files deleted per round; more wait for the next.
_SWEEP_BATCH = 100
#: How often a process looks for abandoned upload parts (a listing of the parts on S3).
PARTS_SWEEP_SECONDS = 600.0


class Housekeeper:
    """Runs the chores every ``interval`` seconds on a thread of its own."""

    def __init__(
        self,
        store: JobStore,
        storage: FileStorage,
        webhooks: WebhookDispatcher,
        interval: float = 1.0,
    ) -> None:
        self.store = store
        self.storage = storage
        self.webhooks = webhooks
        self.interval = interval
        self._next_parts_sweep = 0.0  # monotonic time
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vidserve-housekeeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop after the round in progress; deliveries in flight finish or time out."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.webhooks.close()

    def run_once(self) -> None:
        """One round of every chore (tests call this directly)."""
        timed_out = self.store.expire_overdue()
        if timed_out:
            logger.info("%d request(s) did not start within their start timeout", timed_out)
        self.sweep_files()
        if time.monotonic() >= self._next_parts_sweep:
            self._next_parts_sweep = time.monotonic() + PARTS_SWEEP_SECONDS
            self.sweep_parts()
        self.webhooks.run_once()

    def sweep_files(self) -> int:
        """Delete expired files from storage, then forget them. Returns how many."""
        keys = self.store.expired_files(_SWEEP_BATCH)
        for key in keys:
            self.storage.delete(key)
        if keys:
            self.store.forget_files(keys)
            logger.info("deleted %d expired file(s)", len(keys))
        return len(keys)

    def sweep_parts(self) -> int:
        """Delete the parts of uploads abandoned for :data:`PARTS_LIFETIME`. Returns how
        many uploads."""
        dropped = self.storage.drop_stale_parts(time.time() - PARTS_LIFETIME)
        if dropped:
            logger.info("dropped the parts of %d abandoned upload(s)", dropped)
        return dropped

    def _loop(self) -> None:
        failing = False
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception as exc:
                # A store or storage hiccup must not end the chores for good. An outage is
                # reported once, not at every round; anything else each time.
                if fault_of(exc, storage=True) is None:
                    logger.exception("housekeeping round failed; retrying")
                elif not failing:
                    logger.warning(
                        "housekeeping round failed (%s: %s); retrying", type(exc).__name__, exc
                    )
                failing = True
            else:
                if failing:
                    logger.info("housekeeping rounds work again")
                failing = False
