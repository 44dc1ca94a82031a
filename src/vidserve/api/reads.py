"""Status reads for many concurrent polls, gathered into few store calls; and the store's
health as this API process sees it.

Clients poll status several times a second per request, and SSE streams look every 0.2 s.
A store whose reads cross the network (PostgreSQL) costs a round trip per read;
:class:`StatusReader` shares them. While one batch is being read, the polls that arrive
wait for the next batch, which reads them all in one call. An idle server reads a poll at
once; a busy one pays one round trip per batch, not per poll, and the batches grow with the
load. Stores with quick local reads (SQLite) are read inline, one by one.

:class:`StoreHealth` is a breaker: the first store call that fails for want of the store
(a refused or dropped connection, the pool's timeout, a status read that does not answer
within :data:`READ_DEADLINE`) opens it, and from then on every route that needs the store
answers 503 with ``Retry-After`` at once, without waiting on the store, while one probe asks
the store every :data:`PROBE_INTERVAL` seconds; the first probe that gets answers on both of
the store's paths (its connection pool, and the status reads' own connection) closes it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass

from vidserve.faults import Fault, fault_of
from vidserve.store import JobStore, StatusRead, StatusView

logger = logging.getLogger(__name__)

#: The most reads in one store call.
MAX_BATCH = 256
#: How long a status poll waits for the store before it is answered 503 (and the breaker
#: opens): a store that has not answered a status read by then is down for a poll's purpose.
READ_DEADLINE = 3.0
#: How often the breaker's probe asks a store that is down, and how long it waits for an
#: answer before it counts the round as failed (the call goes on and is waited for again).
PROBE_INTERVAL = 0.1
PROBE_WAIT = 0.25
#: What ``/health`` waits for the store before it says it is down.
HEALTH_WAIT = 2.0
#: ``Retry-After`` of a 503 while the store is down, in seconds.
RETRY_AFTER = 1
#: The request id the probes read: no such request exists.
PROBE_ID = "health-check"


_Waiting = tuple[StatusRead, "asyncio.Future[StatusView | None]"]


class StoreUnavailableError(Exception):
    """The job store did not answer in time (503)."""


def fault_in(exc: BaseException) -> Fault | None:
    """The infrastructure fault a store or storage call's ``exc`` is (see
    :mod:`vidserve.faults`), a status read past its deadline counting as the store's."""
    if isinstance(exc, StoreUnavailableError):
        return Fault.STORE
    return fault_of(exc)


@dataclass(frozen=True)
class Outage:
    """Since when the store is down, and why (words for clients: no host, no path)."""

    since: float
    reason: str


def _reason(exc: BaseException) -> str:
    if isinstance(exc, StoreUnavailableError):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        return "the SQLite database cannot be used"
    if type(exc).__name__ == "PoolTimeout":
        return "no database connection could be had in time"
    return "the database does not answer"


class StoreHealth:
    """One per app: ``health.down`` (an :class:`Outage` or None), ``health.trip(exc)`` when a
    store call failed for want of the store, ``await health.check(wait)`` to ask the store
    now. See the module's docstring."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self.down: Outage | None = None
        self._probe: asyncio.Task[None] | None = None
        self._check: asyncio.Task[None] | None = None

    def note(self, exc: BaseException) -> Fault | None:
        """What a store call's ``exc`` says (see :func:`fault_in`), the breaker opened if it
        says the store is down."""
        fault = fault_in(exc)
        if fault is Fault.STORE:
            self.trip(exc)
        return fault

    def trip(self, exc: BaseException) -> None:
        """Open the breaker (on the event loop) and start probing, if it is not open yet."""
        if self.down is None:
            self.down = Outage(time.monotonic(), _reason(exc))
            logger.warning(
                "job store unavailable (%s: %s); answering 503 until it is back",
                type(exc).__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "",
            )
        self.watch()

    def watch(self) -> None:
        """Make sure a probe runs on this event loop while the breaker is open (an app that
        moved to another loop, as test clients do, leaves the old loop's probe behind)."""
        if self.down is None:
            return
        loop = asyncio.get_running_loop()
        probe = self._probe
        if probe is None or probe.done() or probe.get_loop() is not loop:
            self._probe = loop.create_task(self._probing())

    async def _probing(self) -> None:
        while self.down is not None:
            if await self.check(PROBE_WAIT):
                return
            await asyncio.sleep(PROBE_INTERVAL)

    async def check(self, wait: float) -> bool:
        """Ask the store now (both paths, see the module's docstring) and wait up to ``wait``
        seconds for its answers: True if it answered, and the breaker is closed; False if
        not, and it is open. Concurrent checks share one call into the store, and a call
        that outlives ``wait`` is waited for by the next check instead of being repeated."""
        loop = asyncio.get_running_loop()
        check = self._check
        if check is None or check.get_loop() is not loop:
            check = self._check = loop.create_task(self._ask())
            check.add_done_callback(_retrieved)
        done, _ = await asyncio.wait({check}, timeout=wait)
        if not done:
            self.trip(StoreUnavailableError(f"the job store did not answer within {wait:g} s"))
            return False
        if self._check is check:
            self._check = None
        exc: BaseException | None = (
            StoreUnavailableError("the store check was cancelled")
            if check.cancelled()
            else check.exception()
        )
        if exc is not None:
            self.trip(exc)
            return False
        if self.down is not None:
            logger.info(
                "job store reachable again after %.1f s", time.monotonic() - self.down.since
            )
            self.down = None
        return True

    async def _ask(self) -> None:
        if self._store.quick_reads and self.down is None:
            # Local reads of microseconds (SQLite), made inline as status polls make them:
            # a thread per check would cost more than the check.
            self._store.get(PROBE_ID)
            self._store.status_views([(PROBE_ID, None)])
            return
        calls: list[asyncio.Future[object]] = [self._ask_blocking()]
        if not self._store.quick_reads:
            calls.append(asyncio.ensure_future(self._store.read_status([(PROBE_ID, None)])))
        for outcome in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    def _ask_blocking(self) -> asyncio.Future[object]:
        """The store's blocking reads (its connection pool), on a thread of their own: a
        call that waits on a dead pool holds none of the threads requests run on, and keeps
        no process from exiting."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        store = self._store

        def settle(exc: BaseException | None) -> None:
            if future.done():
                return
            if exc is None:
                future.set_result(None)
            else:
                future.set_exception(exc)

        def ask() -> None:
            exc: BaseException | None = None
            try:
                store.get(PROBE_ID)
                if store.quick_reads:
                    store.status_views([(PROBE_ID, None)])
            except Exception as error:
                exc = error
            try:
                loop.call_soon_threadsafe(settle, exc)
            except RuntimeError:  # the event loop is gone
                pass

        threading.Thread(target=ask, name="vidserve-store-probe", daemon=True).start()
        return future


def _retrieved(task: asyncio.Task[None]) -> None:
    """Mark a check's failure as seen (its waiter may have gone)."""
    if not task.cancelled():
        task.exception()


class StatusReader:
    """One per app: ``await reader.read(request_id, logs_after)``."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._waiting: list[_Waiting] = []
        self._task: asyncio.Task[None] | None = None

    async def read(self, request_id: str, logs_after: int | None) -> StatusView | None:
        """The request's :class:`StatusView`, with its log lines after ``logs_after``
        (None: without logs); None if the request is unknown. StoreUnavailableError when
        the store has not answered within :data:`READ_DEADLINE`."""
        if self._store.quick_reads:
            return self._store.status_views([(request_id, logs_after)])[0]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StatusView | None] = loop.create_future()
        task = self._task
        if task is not None and task.get_loop() is not loop:
            # The app moved to another event loop (test clients do): what waited on the
            # old one is gone with it.
            self._waiting, task = [], None
        self._waiting.append(((request_id, logs_after), future))
        if task is None or task.done():
            self._task = loop.create_task(self._drain())
        try:
            async with asyncio.timeout(READ_DEADLINE):
                return await future  # cancelled on the deadline: its batch goes on without it
        except TimeoutError:
            raise StoreUnavailableError(
                f"the job store did not answer within {READ_DEADLINE:g} s"
            ) from None

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                views = await self._store.read_status([r for r, _ in batch])
            except Exception as exc:  # every poll in the batch fails as a lone read would
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), view in zip(batch, views, strict=True):
                if not future.done():  # a poll whose client left is cancelled
                    future.set_result(view)
