"""Short signed tokens (HMAC-SHA256) for upload URLs and CDN upload tokens.

Tokens carry their own payload and expiry, so any API process sharing the secret can check
them: no upload state lives in one process's memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and checks ``{payload, exp}`` tokens for one purpose each."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, purpose: str, body: str) -> str:
        digest = hmac.new(self._secret, f"{purpose}.{body}".encode(), hashlib.sha256).digest()
        return _b64(digest[:24])

    def sign(self, purpose: str, payload: dict[str, Any], ttl: float) -> str:
        body = _b64(json.dumps({**payload, "exp": time.time() + ttl}).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def verify(self, purpose: str, token: str) -> dict[str, Any] | None:
        """The payload, or None when the token is forged, for another purpose, or expired."""
        body, _, mac = token.partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            payload: dict[str, Any] = json.loads(_unb64(body))
        except ValueError:
            return None
        return payload if payload.get("exp", 0) > time.time() else None
