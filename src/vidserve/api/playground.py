"""The playground: one page at ``/`` that tries every endpoint in a browser.

The page is static (``vidserve/web/``: HTML, CSS and plain ES modules, no build step, no
network resources) and talks to the public API like any client: ``/models`` for the forms,
the storage upload routes, the queue and its SSE stream. One route is the page's own:
``/playground/serving.json``, what each endpoint's engine here renders (effect scenes,
features), which file each result carries (a video, or TTS's audio), who Kling's voices are,
and the Kling rules the forms hint at, so the page marks what would be refused.
Programs asking ``/`` for JSON (``Accept: application/json``, or no preference such as
curl's ``*/*``) still get the service's JSON index; only a client that prefers HTML (a
browser) gets the page.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from vidserve import __version__
from vidserve.api.wire import ApiContext, get_ctx
from vidserve.endpoints import ENDPOINTS
from vidserve.endpoints.base import EndpointSpec
from vidserve.endpoints.effect_scenes import EFFECT_SCENES, TWO_PHOTO_SCENES
from vidserve.endpoints.rules import MAX_STORYBOARD, MIN_STORYBOARD
from vidserve.engines.speech.voices import VOICES
from vidserve.errors import NotFoundError
from vidserve.schema import File
from vidserve.serving import Route

router = APIRouter(include_in_schema=False)

#: Asset names: one plain file name, no directories, no dots but the extension's.
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|svg|png|ico)$")
_CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
}
#: The page reaches nothing outside this server: scripts, styles and images are its own;
#: images and videos may come from anywhere a request names (``*_url`` inputs).
_CSP = (
    "default-src 'self'; img-src 'self' data: blob: http: https:; "
    "media-src 'self' blob: http: https:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _asset(name: str) -> bytes:
    """The bytes of one asset of ``vidserve/web``; NotFoundError for any other name."""
    if not _ASSET_NAME.match(name):
        raise NotFoundError(f"No playground asset {name!r}")
    path = resources.files("vidserve").joinpath("web", name)
    if not path.is_file():
        raise NotFoundError(f"No playground asset {name!r}")
    return path.read_bytes()


def _quality(accept: str, media_type: str) -> float:
    """The q-value ``accept`` gives ``media_type``: the most specific match wins."""
    major = media_type.split("/", 1)[0]
    best, specificity = 0.0, -1
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        rank = {media_type: 2, f"{major}/*": 1, "*/*": 0}.get(kind.lower(), -1)
        if rank > specificity:
            best, specificity = q, rank
    return best


def prefers_html(accept: str | None) -> bool:
    """True when the client ranks HTML above JSON (browsers do; curl and fal's clients
    do not)."""
    if not accept:
        return False
    return _quality(accept, "text/html") > _quality(accept, "application/json")


def _headers(content_type: str) -> dict[str, str]:
    # Assets change with the package; the browser revalidates rather than guessing.
    return {
        "Content-Type": content_type,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": _CSP,
    }


@router.get("/")
def index(request: Request) -> Response:
    """The playground for browsers; the service's JSON index for programs."""
    if prefers_html(request.headers.get("accept")):
        headers = {**_headers(_CONTENT_TYPES["html"]), "Vary": "Accept"}
        return Response(_asset("index.html"), headers=headers)
    body: dict[str, Any] = {
        "name": "vidserve",
        "version": __version__,
        "endpoints": sorted(ENDPOINTS),
        "docs": "/docs",
        "openapi": "/openapi.json",
        "playground": "/",
    }
    return JSONResponse(body, headers={"Vary": "Accept"})


def _engine_view(route: Route) -> dict[str, Any] | None:
    """What the engine serving ``route`` renders; None where it is not served or declares
    nothing (an operator's engine: its worker judges each request)."""
    caps = route.capabilities
    if not route.served or caps is None:
        return None
    return {
        "engine": route.engine,
        "features": sorted(caps.features),
        # In the catalog's order, which is the order fal's picker shows them in.
        "effects": [scene for scene in EFFECT_SCENES if scene in caps.effects],
        "max_reference_images": caps.max_reference_images,
    }


def _result_file(spec: EndpointSpec) -> str:
    """The output field holding the endpoint's file: ``video``, or ``audio`` for TTS."""
    return next(
        name for name, field in spec.output_model.model_fields.items() if field.annotation is File
    )


@router.get("/playground/serving.json")
def serving(ctx: Annotated[ApiContext, Depends(get_ctx)]) -> dict[str, Any]:
    """The page's data beyond ``/models``: per endpoint, what its engine here renders and
    which field of its result holds the file; who each Kling voice is (the voice picker's
    groups and search); and the rules the forms hint at before the server judges
    (two-photo effect scenes, a storyboard's length)."""
    return {
        "endpoints": {eid: _engine_view(ctx.routes[eid]) for eid in ENDPOINTS},
        "result_files": {eid: _result_file(spec) for eid, spec in ENDPOINTS.items()},
        # Who each id names, as the speech engine reads it: the id, not the engine, says who.
        "voices": {
            v.voice_id: {"persona": v.persona, "gender": v.gender, "age": v.age}
            for v in VOICES.values()
        },
        "two_photo_scenes": sorted(TWO_PHOTO_SCENES),
        "storyboard_seconds": {"min": MIN_STORYBOARD, "max": MAX_STORYBOARD},
    }


@router.get("/playground/{asset}")
def asset(asset: str) -> Response:
    """A static asset of the playground (``index.html``, ``app.js``, ``style.css``, ...)."""
    data = _asset(asset)
    return Response(data, headers=_headers(_CONTENT_TYPES[asset.rsplit(".", 1)[1]]))
