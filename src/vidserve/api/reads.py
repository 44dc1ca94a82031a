"""Status reads for many concurrent polls, gathered into few store calls.

Clients poll status several times a second per request, and SSE streams look every 0.2 s.
A store whose reads cross the network (PostgreSQL) costs a round trip per read;
:class:`StatusReader` shares them. While one batch is being read, the polls that arrive
wait for the next batch, which reads them all in one call. An idle server reads a poll at
once; a busy one pays one round trip per batch, not per poll, and the batches grow with the
load. Stores with quick local reads (SQLite) are read inline, one by one.
"""

from __future__ import annotations

import asyncio

from vidserve.store import JobStore, StatusRead, StatusView

#: The most reads in one store call.
MAX_BATCH = 256

_Waiting = tuple[StatusRead, "asyncio.Future[StatusView | None]"]


class StatusReader:
    """One per app: ``await reader.read(request_id, logs_after)``."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._waiting: list[_Waiting] = []
        self._task: asyncio.Task[None] | None = None

    async def read(self, request_id: str, logs_after: int | None) -> StatusView | None:
        """The request's :class:`StatusView`, with its log lines after ``logs_after``
        (None: without logs); None if the request is unknown."""
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
        return await future

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
