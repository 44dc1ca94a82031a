"""Who is calling: API keys, per-key isolation and rate limits.

A server on whose store no key was ever created is open (loopback mode): every caller is the
same anonymous owner, whatever key it sends. Once a key exists, every route that submits, reads a
request or uploads needs ``Authorization: Key <key>`` (fal's scheme) or ``Authorization: Bearer
<key>`` (OpenAI's), where the key is ``<id>:<secret>`` as ``vidserve keys create`` prints it
(the secret alone works too). Requests belong to the key that submitted them; another key
gets 404 for them, as for a request that does not exist.

Revocation: on a SQLite store (one machine) every call looks its key up, so a key is refused
from the moment ``vidserve keys revoke`` commits. On PostgreSQL (a fleet), lookups are cached
per API process for :data:`FLEET_CACHE_SECONDS`, and ``keys revoke`` returns only after that
long: from then on every API server refuses the key. Upload URLs and CDN tokens carry the key
that asked for them and stop working with it (:func:`grant_valid`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from vidserve.errors import VidserveError
from vidserve.store import ApiKey, JobStore
from vidserve.store.base import secret_hash

#: How long an API process on a shared (PostgreSQL) store trusts a key lookup: the bound on
#: how late a revocation reaches every server of a fleet.
FLEET_CACHE_SECONDS = 1.0


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


def cache_seconds(store: JobStore) -> float:
    """How long key lookups on ``store`` are kept: not at all where reads are local and take
    microseconds (SQLite), :data:`FLEET_CACHE_SECONDS` where they cross a network."""
    return 0.0 if store.quick_reads else FLEET_CACHE_SECONDS


class KeyCache:
    """The store's answers to "are there keys?" and "whose secret is this?", kept for
    :func:`cache_seconds`: on a fleet, one lookup per key and process a second, not per call.
    With ``lookup=False`` a method answers from the cache alone or raises ``_CacheMiss``."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.seconds = cache_seconds(store)
        self._lock = threading.Lock()
        self._has_keys: tuple[float, bool] | None = None
        self._found: dict[str, tuple[float, ApiKey | None]] = {}

    def has_keys(self, lookup: bool = True) -> bool:
        now = time.monotonic()
        cached = self._has_keys
        if cached is None or now - cached[0] >= self.seconds:
            if not lookup:
                raise _CacheMiss
            cached = self._has_keys = (now, self.store.has_keys())
        return cached[1]

    def find(self, secret: str, lookup: bool = True) -> ApiKey | None:
        now = time.monotonic()
        digest = secret_hash(secret)  # the secret itself is not kept, even in memory
        with self._lock:
            hit = self._found.get(digest)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        if not lookup:
            raise _CacheMiss
        key = self.store.find_key(secret)
        with self._lock:
            if len(self._found) > 10_000:  # made-up secrets must not grow it without end
                self._found.clear()
            self._found[digest] = (now, key)
        return key


def grant_valid(keys: KeyCache, owner: str | None) -> bool:
    """Whether an upload grant made for ``owner`` (a key id; None on an open server) still
    holds: its key is active, or the server is still open. Asked of the store (on a thread)."""
    if owner is None:
        return not keys.has_keys()
    key = keys.store.get_key(owner)
    return key is not None and key.active


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
    event loop when the cache can (nearly every call on a fleet) or the store's reads take
    microseconds (SQLite: a thread hand-off would cost more than the read); the store is
    asked on the threadpool only otherwise."""
    try:
        return identify(keys, header, lookup=keys.store.quick_reads)
    except _CacheMiss:
        return await run_in_threadpool(identify, keys, header)


CallerDep = Annotated[Caller, Depends(authenticate)]
