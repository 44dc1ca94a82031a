"""The JWKS route, through FastAPI's TestClient; its keys verify what a worker signs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vidserve.api import webhooks
from vidserve.api.routing import FalRoutingMiddleware
from vidserve.api.wire import ApiContext
from vidserve.client import WebhookVerificationError, verify_webhook
from vidserve.config import Settings
from vidserve.storage import LocalStorage
from vidserve.store.sqlite import SQLiteJobStore
from vidserve.webhooks import WebhookSigner


@pytest.fixture
def app_parts(tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    # The parts create_app takes, with just the webhooks router (and fal's host routing).
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    # The secret every process of the deployment shares, as create_app fills it in.
    settings = Settings(data_dir=tmp_path, secret=store.deployment_secret())
    app = FastAPI()
    app.state.ctx = ApiContext(settings, store, LocalStorage(tmp_path / "files"), routes={})
    app.add_middleware(FalRoutingMiddleware, run_owners={"fal-ai"})
    app.include_router(webhooks.router)
    with TestClient(app, base_url="http://testserver") as client:
        yield client, settings
    store.close()


def test_jwks_is_served_cacheable(app_parts: tuple[TestClient, Settings]) -> None:
    client, settings = app_parts
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.json() == WebhookSigner.from_secret(settings.secret).jwks()


def test_served_keys_verify_what_a_worker_signs(app_parts: tuple[TestClient, Settings]) -> None:
    client, settings = app_parts
    served = client.get("/.well-known/jwks.json").json()
    body = b'{"request_id":"r","status":"OK","payload":{}}'
    # A worker derives its own signer from the shared secret; no key is handed over.
    headers = WebhookSigner.from_secret(settings.secret).sign("r", "u", int(time.time()), body)
    verify_webhook(body, headers, jwks=served)
    other = WebhookSigner.from_secret("another deployment").sign("r", "u", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, other, jwks=served)


def test_fals_jwks_url_through_the_js_proxy_answers_the_same(
    app_parts: tuple[TestClient, Settings],
) -> None:
    client, _ = app_parts
    direct = client.get("/.well-known/jwks.json").json()
    proxied = client.get(
        "/api/fal/proxy",
        headers={"x-fal-target-url": "https://rest.fal.ai/.well-known/jwks.json"},
    )
    assert proxied.status_code == 200
    assert proxied.json() == direct


def test_signer_is_derived_once_per_secret(app_parts: tuple[TestClient, Settings]) -> None:
    client, settings = app_parts
    webhooks.signer_for.cache_clear()
    client.get("/.well-known/jwks.json")
    client.get("/.well-known/jwks.json")
    info = webhooks.signer_for.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert webhooks.signer_for(settings.secret) is webhooks.signer_for(settings.secret)
