"""Map fal's hosts onto vidserve's path prefixes, before routing.

Two ways in:

- The fal JS proxy route ``/api/fal/proxy``: ``@fal-ai/client`` with ``proxyUrl`` sends every
  call there with the original URL in ``x-fal-target-url``; the request is routed as if it
  had been sent to that URL (``queue.fal.run`` → ``/queue``, ``fal.run`` → ``/run``,
  ``rest.fal.ai`` → ``/rest``), in process, with its method, headers and body.
- Host-based routing, for clients that build URLs from host names (``fal_client``'s
  ``FAL_RUN_HOST``/``FAL_QUEUE_RUN_HOST``, behind a TLS proxy): ``queue.<host>/…`` →
  ``/queue/…``, ``rest.<host>/…`` → ``/rest/…``, and ``<host>/<owner>/…`` for a served
  endpoint's owner → ``/run/…``.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from vidserve.api.wire import scope_header

PROXY_PATH = "/api/fal/proxy"
TARGET_HEADER = b"x-fal-target-url"

#: fal's hosts and the prefix each maps to.
_FAL_HOSTS = {
    "queue.fal.run": "/queue",
    "fal.run": "/run",
    "rest.fal.ai": "/rest",
    "rest.alpha.fal.ai": "/rest",
}
#: Sub-domains that name a prefix in host-based routing.
_HOST_PREFIXES = {"queue": "/queue", "rest": "/rest"}


class FalRoutingMiddleware:
    """Rewrites the ASGI scope's path for the proxy route and for fal-style host names."""

    def __init__(self, app: ASGIApp, run_owners: Collection[str]) -> None:
        self.app = app
        self.run_owners = set(run_owners)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"] == PROXY_PATH:
                target = scope_header(scope, TARGET_HEADER)
                path_and_query = self._proxy_target(scope, target)
                if path_and_query is None:
                    await _reject(send, target)
                    return
                scope = _with_path(scope, *path_and_query)
            else:
                path = self._host_path(scope)
                if path is not None:
                    scope = _with_path(scope, path, scope.get("query_string", b"").decode())
        await self.app(scope, receive, send)

    def _proxy_target(self, scope: Scope, target: str | None) -> tuple[str, str] | None:
        if not target:
            return None
        parsed = urllib.parse.urlsplit(target)
        host = (parsed.hostname or "").lower()
        prefix = _FAL_HOSTS.get(host)
        if prefix is None:
            # A URL of this server itself (status_url, file URLs) is served as is.
            own = (scope_header(scope, b"host") or "").lower()
            if parsed.netloc.lower() != own:
                return None
            prefix = ""
        return prefix + (parsed.path or "/"), parsed.query

    def _host_path(self, scope: Scope) -> str | None:
        host = (scope_header(scope, b"host") or "").split(":")[0].lower()
        path: str = scope["path"]
        first = host.split(".", 1)[0]
        prefix = _HOST_PREFIXES.get(first) if "." in host else None
        if prefix is not None and not path.startswith(prefix + "/"):
            return prefix + path
        owner = path.lstrip("/").split("/", 1)[0]
        if owner in self.run_owners and prefix is None:
            return "/run" + path
        return None


def _with_path(scope: Scope, path: str, query: str) -> Scope:
    return {**scope, "path": path, "raw_path": path.encode(), "query_string": query.encode()}


async def _reject(send: Send, target: str | None) -> None:
    detail = (
        "missing x-fal-target-url header"
        if not target
        else f"x-fal-target-url {target!r} is not a fal or vidserve URL"
    )
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
