"""Riding out infrastructure trouble: backoff, and a call retried while it is worth it.

:func:`retry` calls a function again after a growing pause while it fails for the
infrastructure's sake (see :mod:`vidserve.faults`) and the caller's ``keep_going``
says so; then it raises :class:`InfraError`. Any other exception passes through at once:
retrying an engine's bug or a bad input would change nothing.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from vidserve.faults import Fault, fault_of

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Pauses from ``first`` seconds, growing by ``factor`` up to ``most``, each jittered
    by ±25 % so that workers hit by the same outage do not retry in step."""

    first: float
    most: float
    factor: float = 2.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay * random.uniform(0.75, 1.25)  # noqa: S311 - jitter, not a secret
            delay = min(delay * self.factor, self.most)


@dataclass(frozen=True)
class RetryPolicy:
    """How a worker rides out infrastructure trouble (tests shorten it)."""

    #: Between tries of one store or storage call.
    backoff: Backoff = field(default_factory=lambda: Backoff(0.1, 5.0))
    #: How long a storage write is retried before its request is handed back...
    storage_patience: float = 30.0
    #: ...and when storage is full: briefly (expired files may be being deleted).
    full_patience: float = 2.0
    #: After a shutdown, how long a store call is still retried (then the lease decides).
    shutdown_grace: float = 3.0
    #: How long a worker stops claiming after handing a request back for storage's sake.
    claim_pause: Backoff = field(default_factory=lambda: Backoff(5.0, 120.0))


class InfraError(Exception):
    """``what`` kept failing with ``fault`` until retrying was no longer worth it."""

    def __init__(self, fault: Fault, what: str) -> None:
        super().__init__(f"{what}: {fault.what}")
        self.fault = fault
        self.what = what


def retry(
    call: Callable[[], T],
    *,
    what: str,
    keep_going: Callable[[Fault, float], bool],
    backoff: Backoff,
    sleep: Callable[[float], object] = time.sleep,
    storage: bool = False,
) -> T:
    """``call()``, again after each infrastructure fault while ``keep_going(fault, seconds
    failing so far)`` is true; InfraError once it is not. ``storage``: ``call`` is a file
    storage call (every OS or S3 error of it is the storage's). One warning when the trouble
    starts and a note when it ends go to the log, not one per try."""
    delays = backoff.delays()
    since: float | None = None
    while True:
        try:
            result = call()
        except Exception as exc:
            fault = fault_of(exc, storage=storage)
            if fault is None:
                raise
            if since is None:
                since = time.monotonic()
                logger.warning("%s failed (%s: %s); retrying", what, type(exc).__name__, exc)
            if not keep_going(fault, time.monotonic() - since):
                raise InfraError(fault, what) from exc
            sleep(next(delays))
        else:
            if since is not None:
                logger.info("%s succeeded after %.1f s of retries", what, time.monotonic() - since)
            return result
