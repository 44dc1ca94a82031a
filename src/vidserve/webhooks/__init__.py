"""Webhooks as fal sends them: the body, the Ed25519 signature, one delivery, the retry schedule.

The scheme: a completed request's body (:func:`webhook_body`, bytes from :func:`encode_body`)
is POSTed to the ``fal_webhook`` URL with four headers, ``X-Fal-Webhook-Request-Id``,
``-User-Id``, ``-Timestamp`` (unix seconds) and ``-Signature``: the hex Ed25519 signature of
``"{request_id}\\n{user_id}\\n{timestamp}\\n{sha256(body).hexdigest()}"``. The key is derived
from the deployment's shared secret (:meth:`WebhookSigner.from_secret`), so every process signs
alike; its public half is served at ``/.well-known/jwks.json`` and
``vidserve.client.verify_webhook`` checks a delivery against it. A delivery counts when the
receiver answers 2xx; failures are tried again on :class:`RetryPolicy`'s schedule.
"""

from vidserve.webhooks.body import encode_body, failure_payload, failure_status_code, webhook_body
from vidserve.webhooks.delivery import DeliveryResult, RetryPolicy, deliver
from vidserve.webhooks.signing import WebhookSigner, signed_message

__all__ = [
    "DeliveryResult",
    "RetryPolicy",
    "WebhookSigner",
    "deliver",
    "encode_body",
    "failure_payload",
    "failure_status_code",
    "signed_message",
    "webhook_body",
]
