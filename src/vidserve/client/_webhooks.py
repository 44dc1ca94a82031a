"""``verify_webhook``: check that a webhook delivery was signed by the server, fal's way.

The signed message is ``"{request_id}\\n{user_id}\\n{timestamp}\\n{sha256(body).hexdigest()}"``
(UTF-8), the signature is hex Ed25519 in ``X-Fal-Webhook-Signature``, and any Ed25519 key of
the server's JWKS may have made it. Works for deliveries from fal too, given fal's JWKS URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vidserve.client._errors import FalClientError

#: fal suggests caching its JWKS for up to 24 hours.
JWKS_CACHE_SECONDS = 24 * 3600
#: A cached JWKS that verifies nothing is fetched again, but not more often than this, so
#: forged deliveries cannot make us hammer the key server.
_REFETCH_AFTER = 60.0
_FETCH_TIMEOUT = 10.0

_cache: dict[str, tuple[float, Mapping[str, Any]]] = {}
_cache_lock = threading.Lock()


class WebhookVerificationError(FalClientError):
    """A webhook delivery failed verification; the message says why. Reject the delivery."""


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    *,
    jwks: Mapping[str, Any] | None = None,
    jwks_url: str | None = None,
    tolerance: float = 300.0,
    now: float | None = None,
) -> None:
    """Return if ``body`` with ``headers`` (matched case-insensitively) carries a valid
    signature by a key of ``jwks`` (or of the JWKS at ``jwks_url``, fetched and cached for
    24 h) and a timestamp within ``tolerance`` seconds of ``now``; raise
    :class:`WebhookVerificationError` otherwise. Pass the raw body exactly as received."""
    if (jwks is None) == (jwks_url is None):
        raise ValueError("pass exactly one of jwks= or jwks_url=")
    lowered = {k.lower(): v for k, v in headers.items()}
    request_id, user_id, stamp, signature_hex = (
        _header(lowered, f"x-fal-webhook-{name}")
        for name in ("request-id", "user-id", "timestamp", "signature")
    )
    _check_timestamp(stamp, tolerance, time.time() if now is None else now)
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise WebhookVerificationError("X-Fal-Webhook-Signature is not hex") from None
    digest = hashlib.sha256(body).hexdigest()
    message = f"{request_id}\n{user_id}\n{stamp}\n{digest}".encode()

    if jwks is not None:
        _verify_with(jwks, message, signature)
    elif jwks_url is not None:
        _verify_from_url(jwks_url, message, signature)


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise WebhookVerificationError(f"missing header {name}")
    return value


def _check_timestamp(stamp: str, tolerance: float, now: float) -> None:
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError(
            f"X-Fal-Webhook-Timestamp {stamp!r} is not unix seconds"
        ) from None
    skew = timestamp - now
    if abs(skew) > tolerance:
        when = "in the future" if skew > 0 else "old"
        raise WebhookVerificationError(
            f"timestamp is {abs(skew):.0f} s {when}; the tolerance is {tolerance:g} s"
        )


def _ed25519_keys(jwks: Mapping[str, Any]) -> list[Ed25519PublicKey]:
    keys = []
    for jwk in jwks.get("keys") or []:
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        x = jwk.get("x")
        if not isinstance(x, str):
            continue
        try:
            raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
            keys.append(Ed25519PublicKey.from_public_bytes(raw))
        except (binascii.Error, ValueError):
            continue  # one malformed key must not hide the others
    return keys


def _verify_with(jwks: Mapping[str, Any], message: bytes, signature: bytes) -> None:
    keys = _ed25519_keys(jwks)
    if not keys:
        raise WebhookVerificationError("the JWKS has no Ed25519 key")
    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return
    raise WebhookVerificationError(
        f"the signature does not verify with any of the {len(keys)} Ed25519 key(s) in the JWKS"
    )


def _verify_from_url(url: str, message: bytes, signature: bytes) -> None:
    fetched_at, jwks = _cached_jwks(url)
    try:
        _verify_with(jwks, message, signature)
    except WebhookVerificationError:
        # The server may have a new key (a new secret) since we cached its JWKS.
        if time.monotonic() - fetched_at < _REFETCH_AFTER:
            raise
        _verify_with(_cached_jwks(url, refresh=True)[1], message, signature)


def _cached_jwks(url: str, *, refresh: bool = False) -> tuple[float, Mapping[str, Any]]:
    """``(monotonic fetch time, JWKS)``, from the cache when younger than 24 h."""
    with _cache_lock:
        hit = _cache.get(url)
    if hit is not None and not refresh and time.monotonic() - hit[0] < JWKS_CACHE_SECONDS:
        return hit
    try:
        response = httpx.get(url, timeout=_FETCH_TIMEOUT)
        response.raise_for_status()
        jwks = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise WebhookVerificationError(f"could not fetch the JWKS from {url}: {exc}") from None
    if not isinstance(jwks, Mapping):
        raise WebhookVerificationError(f"the JWKS at {url} is not a JSON object")
    entry = (time.monotonic(), jwks)
    with _cache_lock:
        _cache[url] = entry
    return entry
