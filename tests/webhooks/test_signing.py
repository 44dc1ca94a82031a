"""Signing with the deployment's key, and verifying with the client's verify_webhook."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vidserve.client import FalClientError, WebhookVerificationError, _webhooks, verify_webhook
from vidserve.webhooks import WebhookSigner

from webhook_receiver import Receiver

NOW = 1_700_000_000
DEPLOYMENT_KEY_SEED = "deployment-secret"
BODY = json.dumps({"request_id": "req-1", "status": "OK", "payload": {"video": None}}).encode()


def signed(secret: str = DEPLOYMENT_KEY_SEED, body: bytes = BODY, ts: int = NOW) -> dict[str, str]:
    return WebhookSigner.from_secret(secret).sign("req-1", "user-7", ts, body)


def jwks(secret: str = DEPLOYMENT_KEY_SEED) -> dict[str, Any]:
    return WebhookSigner.from_secret(secret).jwks()


def fal_docs_verify(body: bytes, headers: dict[str, str], keys: dict[str, Any]) -> bool:
    """fal's documented receiver check, written out with plain ``cryptography``."""
    message = "\n".join(
        [
            headers["X-Fal-Webhook-Request-Id"],
            headers["X-Fal-Webhook-User-Id"],
            headers["X-Fal-Webhook-Timestamp"],
            hashlib.sha256(body).hexdigest(),
        ]
    ).encode("utf-8")
    signature = bytes.fromhex(headers["X-Fal-Webhook-Signature"])
    for key in keys["keys"]:
        x = key["x"]
        raw = base64.urlsafe_b64decode(x + "=" * ((4 - len(x) % 4) % 4))
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


def test_sign_gives_fals_four_headers() -> None:
    headers = signed()
    assert set(headers) == {
        "X-Fal-Webhook-Request-Id",
        "X-Fal-Webhook-User-Id",
        "X-Fal-Webhook-Timestamp",
        "X-Fal-Webhook-Signature",
    }
    assert headers["X-Fal-Webhook-Request-Id"] == "req-1"
    assert headers["X-Fal-Webhook-User-Id"] == "user-7"
    assert headers["X-Fal-Webhook-Timestamp"] == str(NOW)
    assert len(bytes.fromhex(headers["X-Fal-Webhook-Signature"])) == 64


def test_signature_verifies_with_fals_documented_scheme() -> None:
    assert fal_docs_verify(BODY, signed(), jwks())
    assert not fal_docs_verify(BODY + b" ", signed(), jwks())


def test_round_trip_verifies() -> None:
    verify_webhook(BODY, signed(), jwks=jwks(), now=NOW + 10)


def test_headers_match_case_insensitively() -> None:
    lowered = {k.lower(): v for k, v in signed().items()}
    verify_webhook(BODY, lowered, jwks=jwks(), now=NOW)


def test_jwks_shape_and_stable_kid() -> None:
    (key,) = jwks()["keys"]
    assert key.keys() == {"kty", "crv", "x", "kid", "use", "alg"}
    assert (key["kty"], key["crv"], key["use"], key["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
    assert "=" not in key["x"] and len(base64.urlsafe_b64decode(key["x"] + "=")) == 32
    # RFC 7638 thumbprint of the public key.
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": key["x"]}, separators=(",", ":"))
    thumb = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=")
    assert key["kid"] == thumb.decode()


def test_same_secret_same_key_other_secret_other_key() -> None:
    assert jwks("a") == jwks("a")
    assert jwks("a")["keys"][0]["x"] != jwks("b")["keys"][0]["x"]
    assert jwks("a")["keys"][0]["kid"] != jwks("b")["keys"][0]["kid"]
    assert signed("a") == signed("a")  # Ed25519 signatures are deterministic


def test_key_derivation_is_pinned() -> None:
    # Changing the derivation would rotate every deployment's key: it must be deliberate.
    assert jwks("test-secret")["keys"][0]["x"] == "Sd3boxsSYsR269u3_2nRBLF7qKj0Sy3h_kRvp-zdAAs"


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty secret"):
        WebhookSigner.from_secret("")


def test_tampered_body_fails() -> None:
    with pytest.raises(WebhookVerificationError, match="does not verify with any of the 1"):
        verify_webhook(BODY.replace(b"OK", b"KO"), signed(), jwks=jwks(), now=NOW)


def test_wrong_request_id_fails() -> None:
    headers = {**signed(), "X-Fal-Webhook-Request-Id": "req-2"}
    with pytest.raises(WebhookVerificationError, match="does not verify"):
        verify_webhook(BODY, headers, jwks=jwks(), now=NOW)


def test_rewritten_timestamp_fails() -> None:
    headers = {**signed(), "X-Fal-Webhook-Timestamp": str(NOW + 1)}
    with pytest.raises(WebhookVerificationError, match="does not verify"):
        verify_webhook(BODY, headers, jwks=jwks(), now=NOW)


@pytest.mark.parametrize(("skew", "word"), [(-301, "old"), (301, "in the future")])
def test_timestamp_outside_tolerance_fails(skew: int, word: str) -> None:
    with pytest.raises(WebhookVerificationError, match=f"301 s {word}; the tolerance is 300 s"):
        verify_webhook(BODY, signed(ts=NOW + skew), jwks=jwks(), now=NOW)


def test_timestamp_inside_tolerance_passes() -> None:
    verify_webhook(BODY, signed(ts=NOW - 299), jwks=jwks(), now=NOW)
    verify_webhook(BODY, signed(ts=NOW + 299), jwks=jwks(), now=NOW)


def test_non_numeric_timestamp_fails() -> None:
    headers = {**signed(), "X-Fal-Webhook-Timestamp": "yesterday"}
    with pytest.raises(WebhookVerificationError, match="not unix seconds"):
        verify_webhook(BODY, headers, jwks=jwks(), now=NOW)


@pytest.mark.parametrize(
    "name",
    [
        "X-Fal-Webhook-Request-Id",
        "X-Fal-Webhook-User-Id",
        "X-Fal-Webhook-Timestamp",
        "X-Fal-Webhook-Signature",
    ],
)
def test_missing_header_fails(name: str) -> None:
    headers = signed()
    del headers[name]
    with pytest.raises(WebhookVerificationError, match=f"missing header {name.lower()}"):
        verify_webhook(BODY, headers, jwks=jwks(), now=NOW)


def test_signature_not_hex_fails() -> None:
    headers = {**signed(), "X-Fal-Webhook-Signature": "zz"}
    with pytest.raises(WebhookVerificationError, match="not hex"):
        verify_webhook(BODY, headers, jwks=jwks(), now=NOW)


def test_jwks_with_only_a_foreign_key_fails() -> None:
    with pytest.raises(WebhookVerificationError, match="does not verify with any of the 1"):
        verify_webhook(BODY, signed(), jwks=jwks("someone-else"), now=NOW)


def test_every_key_of_the_jwks_is_tried() -> None:
    both = {"keys": jwks("someone-else")["keys"] + jwks()["keys"]}
    verify_webhook(BODY, signed(), jwks=both, now=NOW)


def test_non_ed25519_and_malformed_keys_are_skipped() -> None:
    rsa = {"kty": "RSA", "n": "abc", "e": "AQAB"}
    broken = {"kty": "OKP", "crv": "Ed25519", "x": "!!"}
    with pytest.raises(WebhookVerificationError, match="no Ed25519 key"):
        verify_webhook(BODY, signed(), jwks={"keys": [rsa, broken]}, now=NOW)
    verify_webhook(BODY, signed(), jwks={"keys": [rsa, broken, *jwks()["keys"]]}, now=NOW)


def test_is_a_client_error() -> None:
    assert issubclass(WebhookVerificationError, FalClientError)


def test_needs_exactly_one_key_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        verify_webhook(BODY, signed(), now=NOW)
    with pytest.raises(ValueError, match="exactly one"):
        verify_webhook(BODY, signed(), jwks=jwks(), jwks_url="http://x", now=NOW)


def test_jwks_url_is_fetched_once_and_cached(receiver: Receiver) -> None:
    receiver.jwks = jwks()
    url = f"{receiver.url}/jwks?cached"
    verify_webhook(BODY, signed(), jwks_url=url, now=NOW)
    verify_webhook(BODY, signed(), jwks_url=url, now=NOW)
    assert receiver.jwks_fetches == 1


def test_a_new_key_is_fetched_when_the_cached_one_fails(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{receiver.url}/jwks?rotated"
    receiver.jwks = jwks("old-secret")
    verify_webhook(BODY, signed("old-secret"), jwks_url=url, now=NOW)
    receiver.jwks = jwks("new-secret")
    # A cache younger than the refetch floor is trusted: forgeries cannot force fetches.
    with pytest.raises(WebhookVerificationError, match="does not verify"):
        verify_webhook(BODY, signed("new-secret"), jwks_url=url, now=NOW)
    assert receiver.jwks_fetches == 1
    monkeypatch.setattr(_webhooks, "_REFETCH_AFTER", 0.0)
    verify_webhook(BODY, signed("new-secret"), jwks_url=url, now=NOW)
    assert receiver.jwks_fetches == 2


def test_unreachable_jwks_url_fails_with_a_reason(receiver: Receiver) -> None:
    with pytest.raises(WebhookVerificationError, match="could not fetch the JWKS"):
        verify_webhook(BODY, signed(), jwks_url="http://127.0.0.1:1/jwks", now=NOW)
