"""Who is calling: API keys, per-key isolation and rate limits.

A server on whose store no key was ever created is open (loopback mode): every caller is the
same anonymous owner, whatever key it sends. Once a key exists, every route that submits, reads a
request or uploads needs ``Authorization: Key <key>`` (fal's scheme) or ``Authorization: Bearer
<key>`` (OpenAI's), where the key is ``<id>:<secret>`` as ``vidserve keys create`` prints it
(the secret alone works too). Requests belong to the key
that submitted them; another key gets 404 for them, as for a request that does not exist.

Key lookups are cached for a few seconds per process, so a revoked key stops working within
:data:`CACHE_SECONDS` on every API server.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from vidserve.api.wire import ApiContext
from vidserve.errors import VidserveError
from vidserve.store import ApiKey, JobStore
from vidserve.store.base import secret_hash

CACHE_SECONDS = 5.0
#: The window of the per-minute limit.
WINDOW_SECONDS = 60.0
#: What a client is told to wait when too many of its requests are in flight.
BUSY_RETRY_SECONDS = 5


class AuthError(VidserveError):
    """No key, or one that is unknown or revoked (401)."""


class RateLimitError(VidserveError):
    """Over a limit (429); ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: a key, or None on a server without keys."""

    key: ApiKey | None

    @property
    def owner(self) -> str | None:
        return None if self.key is None else self.key.id


class _CacheMiss(Exception):  # noqa: N818 - a signal between two functions, not an error
    """The cache cannot answer without asking the store."""


class KeyCache:
    """The store's answers to "are there keys?" and "whose secret is this?", kept for
    :data:`CACHE_SECONDS`: one lookup per key and process every few seconds, not per call.
    With ``lookup=False`` a method answers from the cache alone or raises ``_CacheMiss``."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._has_keys: tuple[float, bool] | None = None
        self._found: dict[str, tuple[float, ApiKey | None]] = {}

    def has_keys(self, lookup: bool = True) -> bool:
        now = time.monotonic()
        cached = self._has_keys
        if cached is None or now - cached[0] >= CACHE_SECONDS:
            if not lookup:
                raise _CacheMiss
            cached = self._has_keys = (now, self._store.has_keys())
        return cached[1]

    def find(self, secret: str, lookup: bool = True) -> ApiKey | None:
        now = time.monotonic()
        digest = secret_hash(secret)  # the secret itself is not kept, even in memory
        with self._lock:
            hit = self._found.get(digest)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        if not lookup:
            raise _CacheMiss
        key = self._store.find_key(secret)
        with self._lock:
            if len(self._found) > 10_000:  # made-up secrets must not grow it without end
                self._found.clear()
            self._found[digest] = (now, key)
        return key


def identify(keys: KeyCache, header: str | None, lookup: bool = True) -> Caller:
    """The caller an ``Authorization`` header names; AuthError when it names none."""
    if not keys.has_keys(lookup):
        # Open mode: fal's clients always send their FAL_KEY; it means nothing here.
        return Caller(None)
    scheme, _, credentials = (header or "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() not in ("key", "bearer") or not credentials:
        raise AuthError(
            "This server needs an API key: send 'Authorization: Key <key>' (or 'Bearer <key>')"
        )
    key_id, colon, secret = credentials.rpartition(":")
    found = keys.find(secret, lookup)
    if found is None or (colon and found.id != key_id):
        raise AuthError("Invalid API key (unknown, revoked or mistyped)")
    return Caller(found)


async def authenticate(request: Request) -> Caller:
    """FastAPI dependency: the caller, or 401. ``create_app`` keeps the app's KeyCache."""
    return await caller_for(request.app.state.keys, request.headers.get("authorization"))


async def caller_for(keys: KeyCache, header: str | None) -> Caller:
    """The caller an ``Authorization`` header names, or AuthError (401). Answered on the
    event loop when the cache can (nearly every call); the store is asked on the threadpool
    only when it cannot."""
    try:
        return identify(keys, header, lookup=False)
    except _CacheMiss:
        return await run_in_threadpool(identify, keys, header)


CallerDep = Annotated[Caller, Depends(authenticate)]


def check_limits(ctx: ApiContext, caller: Caller) -> None:
    """Raise RateLimitError when ``caller`` may not submit now: too many submissions in the
    last minute, or too many requests queued and running."""
    key = caller.key
    per_minute = (key and key.rate_per_minute) or ctx.settings.rate_per_minute
    concurrent = (key and key.max_concurrent) or ctx.settings.max_concurrent
    who = "this key" if key else "this server"
    if per_minute is not None:
        now = time.time()
        count, oldest = ctx.store.submissions_since(caller.owner, now - WINDOW_SECONDS)
        if count >= per_minute:
            wait = (oldest or now) + WINDOW_SECONDS - now
            raise RateLimitError(
                f"Rate limit: {per_minute} requests per minute for {who}",
                max(1, math.ceil(wait)),
            )
    if concurrent is not None and ctx.store.active_count(caller.owner) >= concurrent:
        raise RateLimitError(
            f"Too many requests in flight: {concurrent} queued or running at once for {who}",
            BUSY_RETRY_SECONDS,
        )
