"""StatusReader: concurrent status reads gathered into few store calls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from vidserve.api.reads import StatusReader
from vidserve.schema import Status
from vidserve.store import StatusRead, StatusView
from vidserve.store.sqlite import SQLiteJobStore


def view(request_id: str, logs_after: int | None) -> StatusView:
    return StatusView(
        request_id=request_id,
        endpoint_id="fal-ai/kling-video/v1/standard/image-to-video",
        owner=None,
        status=Status.IN_QUEUE,
        progress=None,
        inference_time=None,
        error=None,
        error_type=None,
        position=0,
        logs=None if logs_after is None else [],
    )


class GatedStore(SQLiteJobStore):
    """A store whose event-loop reads wait for the test to open a gate, and record each
    call's reads; unknown ids read as None, and "fail" fails the call."""

    quick_reads = False

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[list[StatusRead]] = []
        self.gate = asyncio.Event()

    async def read_status(self, reads: Sequence[StatusRead]) -> list[StatusView | None]:
        self.calls.append(list(reads))
        await self.gate.wait()
        if any(rid == "fail" for rid, _ in reads):
            raise ConnectionError("database went away")
        return [None if rid == "nope" else view(rid, after) for rid, after in reads]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GatedStore]:
    gated = GatedStore(tmp_path / "db.sqlite3")
    yield gated
    gated.close()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_polls_arriving_during_a_read_share_the_next_one(store: GatedStore) -> None:
    async def scenario() -> None:
        reader = StatusReader(store)
        store.gate.clear()
        first = asyncio.create_task(reader.read("a", None))
        await settle()
        later = [asyncio.create_task(reader.read(rid, 0)) for rid in ("b", "nope", "c")]
        await settle()
        assert store.calls == [[("a", None)]]  # the later ones wait for the next call
        store.gate.set()
        found = await asyncio.gather(first, *later)
        assert store.calls == [[("a", None)], [("b", 0), ("nope", 0), ("c", 0)]]
        assert [None if v is None else (v.request_id, v.logs) for v in found] == [
            ("a", None),
            ("b", []),
            None,
            ("c", []),
        ]

    asyncio.run(scenario())


def test_a_failed_read_fails_its_batch_only(store: GatedStore) -> None:
    async def scenario() -> None:
        reader = StatusReader(store)
        store.gate.clear()
        first = asyncio.create_task(reader.read("a", None))
        await settle()
        batch = [asyncio.create_task(reader.read(rid, None)) for rid in ("fail", "b")]
        await settle()
        store.gate.set()
        assert (await first) is not None
        for task in batch:
            with pytest.raises(ConnectionError, match="went away"):
                await task
        assert await reader.read("b", None) is not None

    asyncio.run(scenario())


def test_a_poll_that_leaves_does_not_disturb_the_others(store: GatedStore) -> None:
    async def scenario() -> None:
        reader = StatusReader(store)
        store.gate.clear()
        first = asyncio.create_task(reader.read("a", None))
        await settle()
        gone, staying = (asyncio.create_task(reader.read(rid, None)) for rid in ("x", "y"))
        await settle()
        gone.cancel()
        store.gate.set()
        assert (await first) is not None
        found = await staying
        assert found is not None and found.request_id == "y"
        assert gone.cancelled()

    asyncio.run(scenario())


def test_the_reader_follows_the_app_to_a_new_event_loop(store: GatedStore) -> None:
    reader = StatusReader(store)
    store.gate.set()

    async def one(rid: str) -> str | None:
        store.gate.set()
        found = await reader.read(rid, None)
        return None if found is None else found.request_id

    assert asyncio.run(one("a")) == "a"
    assert asyncio.run(one("b")) == "b"


class QuickStore(SQLiteJobStore):
    """SQLite, counting its plain status calls; its event-loop form must go unused."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[list[StatusRead]] = []

    def status_views(self, reads: Sequence[StatusRead]) -> list[StatusView | None]:
        self.calls.append(list(reads))
        return super().status_views(reads)

    async def read_status(self, reads: Sequence[StatusRead]) -> list[StatusView | None]:
        raise AssertionError("quick reads are made inline")


def test_quick_stores_are_read_inline_one_by_one(tmp_path: Path) -> None:
    quick = QuickStore(tmp_path / "db.sqlite3")
    reader = StatusReader(quick)

    async def scenario() -> list[StatusView | None]:
        return list(await asyncio.gather(reader.read("a", None), reader.read("b", 0)))

    assert asyncio.run(scenario()) == [None, None]
    assert quick.calls == [[("a", None)], [("b", 0)]]
    quick.close()
