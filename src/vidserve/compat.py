"""Point fal's official Python client at a vidserve server.

``fal_client`` builds its URLs from module constants computed **once, at import**
(``RUN_URL_FORMAT``, ``QUEUE_URL_FORMAT``, ``REST_URL``, ``CDN_URL``), and always speaks
https. :func:`use_vidserve` rewrites those constants on the imported module, so every later
call (``subscribe``, ``submit``, ``upload_file``, ...) goes to vidserve. Call it once, before
the first upload (fal_client caches its upload-token URL on first use).

Without code changes, behind a TLS proxy: ``FAL_RUN_HOST=vidserve.example.com`` makes
fal_client call ``https://vidserve.example.com/<endpoint>`` and
``https://queue.vidserve.example.com/<endpoint>``; vidserve routes both by host name.
Uploads still go to fal's own hosts in that mode.

For ``@fal-ai/client`` (JS), either of::

    fal.config({ proxyUrl: { url: "http://HOST:PORT/api/fal/proxy", when: "always" } })
    fal.config({ requestMiddleware: async (r) => ({ ...r, url: r.url
        .replace("https://queue.fal.run/", "http://HOST:PORT/queue/")
        .replace("https://fal.run/", "http://HOST:PORT/run/")
        .replace("https://rest.fal.ai/", "http://HOST:PORT/rest/") }) })
"""

from __future__ import annotations

import importlib
import os
import urllib.parse
from types import ModuleType


def use_vidserve(base_url: str | None = None, key: str | None = None) -> ModuleType:
    """Make the installed ``fal_client`` talk to vidserve at ``base_url`` (default
    ``VIDSERVE_URL`` or ``http://127.0.0.1:8000``); returns the ``fal_client`` module.

    ``key`` (else ``VIDSERVE_KEY``) becomes ``FAL_KEY`` when that is unset, since fal_client
    refuses to run without credentials.
    """
    base = (base_url or os.environ.get("VIDSERVE_URL") or "http://127.0.0.1:8000").rstrip("/")
    key = key or os.environ.get("VIDSERVE_KEY")
    if key:
        os.environ.setdefault("FAL_KEY", key)
    else:
        # Loopback servers need no key, but fal_client insists on having one.
        os.environ.setdefault("FAL_KEY", "vidserve")
    fal_client = importlib.import_module("fal_client")
    module = importlib.import_module("fal_client.client")
    parsed = urllib.parse.urlsplit(base)
    ws_scheme = "wss" if parsed.scheme == "https" else "ws"
    module.RUN_URL_FORMAT = f"{base}/run/"  # type: ignore[attr-defined]
    module.QUEUE_URL_FORMAT = f"{base}/queue/"  # type: ignore[attr-defined]
    module.REST_URL = f"{base}/rest"  # type: ignore[attr-defined]
    module.CDN_URL = f"{base}/cdn"  # type: ignore[attr-defined]
    module.REALTIME_URL_FORMAT = f"{ws_scheme}://{parsed.netloc}/run/"  # type: ignore[attr-defined]
    return fal_client
