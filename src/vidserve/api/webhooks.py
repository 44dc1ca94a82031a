"""The public half of the webhook signing key, as a JWKS (``/.well-known/jwks.json``)."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from vidserve.api.wire import ApiContext, get_ctx
from vidserve.webhooks import WebhookSigner

router = APIRouter()

Ctx = Annotated[ApiContext, Depends(get_ctx)]

#: The key changes only with the deployment secret; verifiers may cache it (fal says 24 h).
_CACHE_CONTROL = "public, max-age=3600"


@functools.lru_cache(maxsize=4)
def signer_for(secret: str) -> WebhookSigner:
    """The deployment's webhook signer, derived once per secret (HKDF and key setup are not
    worth repeating per request)."""
    return WebhookSigner.from_secret(secret)


@router.get("/.well-known/jwks.json", tags=["webhooks"])
# fal's verifiers fetch https://rest.fal.ai/.well-known/jwks.json; the routing middleware maps
# that host to /rest, so the same keys answer there too.
@router.get("/rest/.well-known/jwks.json", include_in_schema=False)
def jwks(ctx: Ctx) -> JSONResponse:
    """The Ed25519 key that signs this deployment's webhooks."""
    body: dict[str, Any] = signer_for(ctx.settings.secret).jwks()
    return JSONResponse(body, headers={"Cache-Control": _CACHE_CONTROL})
