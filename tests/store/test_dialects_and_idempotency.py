"""Idempotency keys, dialects, listing and deletion: the store contract, on every backend."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from test_store import Clock, get, new

from vidserve.store.base import (
    IDEMPOTENCY_SECONDS,
    Dialect,
    Idempotency,
    IdempotencyConflictError,
    JobStore,
    NewJob,
)


def keyed(request_id: str, key: str = "k1", body: str = "h1", owner: str | None = None) -> NewJob:
    return replace(new(request_id, owner=owner), idempotency=Idempotency(key, body))


def test_a_key_used_again_with_the_same_body_returns_the_first_request(store: JobStore) -> None:
    first = store.create(keyed("r1"))
    again = store.create(keyed("r2"))
    assert again.request_id == first.request_id == "r1"
    assert store.get("r2") is None
    found = store.idempotent(None, "k1")
    assert found is not None and found.request_id == "r1" and found.body_hash == "h1"


def test_a_key_used_again_with_another_body_is_a_conflict(store: JobStore) -> None:
    store.create(keyed("r1"))
    with pytest.raises(IdempotencyConflictError, match="r1"):
        store.create(keyed("r2", body="h2"))
    assert store.get("r2") is None


def test_keys_belong_to_their_owner(store: JobStore) -> None:
    store.create(keyed("r1", owner="alice"))
    assert store.create(keyed("r2", owner="bob")).request_id == "r2"
    assert store.create(keyed("r3")).request_id == "r3"  # no owner: a scope of its own
    assert store.idempotent("carol", "k1") is None


def test_a_key_names_its_request_for_a_day(store: JobStore, clock: Clock) -> None:
    store.create(keyed("r1"))
    clock.advance(IDEMPOTENCY_SECONDS - 1)
    assert store.create(keyed("r2")).request_id == "r1"
    clock.advance(2)
    assert store.idempotent(None, "k1") is None
    assert store.create(keyed("r3", body="h2")).request_id == "r3"


def test_concurrent_submits_with_one_key_make_one_request(store: JobStore) -> None:
    results: list[str] = []
    barrier = threading.Barrier(8)

    def submit(n: int) -> None:
        barrier.wait()
        results.append(store.create(keyed(f"r{n}")).request_id)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1


def _openai(request_id: str, owner: str | None = None) -> NewJob:
    return replace(
        new(request_id, owner=owner), dialect=Dialect.OPENAI, dialect_fields={"size": "1280x720"}
    )


def test_requests_keep_their_dialect_and_its_fields(store: JobStore) -> None:
    store.create(_openai("v1"))
    store.create(new("f1"))
    job = get(store, "v1")
    assert job.dialect is Dialect.OPENAI and job.dialect_fields == {"size": "1280x720"}
    assert get(store, "f1").dialect is Dialect.FAL and get(store, "f1").dialect_fields == {}
    (view,) = store.status_views([("v1", None)])
    assert view is not None and view.dialect is Dialect.OPENAI and not view.deleted


def test_listing_pages_through_one_owners_requests_of_one_dialect(store: JobStore) -> None:
    for n in range(5):
        store.create(_openai(f"v{n}", owner="alice"))
    store.create(_openai("other", owner="bob"))
    store.create(new("fal", owner="alice"))

    def ids(**kw: object) -> list[str]:
        return [j.request_id for j in store.list_requests("alice", Dialect.OPENAI, **kw)]  # type: ignore[arg-type]

    assert ids(limit=2) == ["v4", "v3"]
    assert ids(limit=2, after="v3") == ["v2", "v1"]
    assert ids(limit=2, after="v1") == ["v0"]
    assert ids(newest_first=False, limit=3) == ["v0", "v1", "v2"]
    assert ids(newest_first=False, after="v2") == ["v3", "v4"]
    assert [j.request_id for j in store.list_requests("alice", Dialect.FAL)] == ["fal"]
    assert store.list_requests(None, Dialect.OPENAI) == []


def test_a_deleted_request_is_listed_no_more_and_loses_its_logs(store: JobStore) -> None:
    store.create(_openai("v1"))
    store.create(_openai("v2"))
    store.add_log("v1", "hello")
    assert store.delete("v1") is True
    assert store.delete("v1") is False
    assert [j.request_id for j in store.list_requests(None, Dialect.OPENAI)] == ["v2"]
    assert get(store, "v1").deleted_at is not None
    assert store.logs("v1") == []
    (view,) = store.status_views([("v1", 0)])
    assert view is not None and view.deleted
    assert store.delete("unknown") is False
