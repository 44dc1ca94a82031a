"""Ed25519 webhook signatures, as fal signs them, with a key derived from the deployment secret.

Every API server and worker of one deployment shares ``Settings.secret``; deriving the key
from it (HKDF-SHA256) means they all sign with the same key and any API server can publish it
at ``/.well-known/jwks.json``, with no key file to distribute.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: HKDF ``info``: versioned, so a future scheme derives a different key from the same secret.
KEY_INFO = b"vidserve/webhook-signing/ed25519/v1"

REQUEST_ID_HEADER = "X-Fal-Webhook-Request-Id"
USER_ID_HEADER = "X-Fal-Webhook-User-Id"
TIMESTAMP_HEADER = "X-Fal-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Fal-Webhook-Signature"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    """The bytes fal's scheme signs: ids, timestamp and the body's SHA-256, one per line."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{request_id}\n{user_id}\n{timestamp}\n{digest}".encode()


class WebhookSigner:
    """Signs webhook deliveries with one Ed25519 key and publishes its public half as JWKS."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._x = _b64url(raw)
        # RFC 7638 thumbprint: the kid is a pure function of the public key, so every
        # process names the key the same way and a new secret gives a new kid.
        canonical = json.dumps(
            {"crv": "Ed25519", "kty": "OKP", "x": self._x}, separators=(",", ":"), sort_keys=True
        )
        self._kid = _b64url(hashlib.sha256(canonical.encode()).digest())

    @classmethod
    def from_secret(cls, secret: str) -> WebhookSigner:
        """The deployment's signer: the same secret always gives the same key."""
        if not secret:
            raise ValueError("a webhook signing key needs a non-empty secret")
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(
            secret.encode()
        )
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def kid(self) -> str:
        """The key id published in the JWKS (RFC 7638 thumbprint of the public key)."""
        return self._kid

    def sign(self, request_id: str, user_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """fal's four webhook headers for ``body``, sent as is at unix time ``timestamp``."""
        stamp = str(int(timestamp))
        signature = self._key.sign(signed_message(request_id, user_id, stamp, body))
        return {
            REQUEST_ID_HEADER: request_id,
            USER_ID_HEADER: user_id,
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: signature.hex(),
        }

    def jwks(self) -> dict[str, Any]:
        """The public key as a JSON Web Key Set, the shape fal's verifiers fetch."""
        key = {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self._x,
            "kid": self._kid,
            "use": "sig",
            "alg": "EdDSA",
        }
        return {"keys": [key]}
