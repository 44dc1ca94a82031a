"""The playground's routes, without a browser: ``/`` for browsers and for programs, the
assets with their types, no way out of the asset folder, and nothing fetched from elsewhere."""

from __future__ import annotations

import re
from importlib import resources

import httpx
import pytest

from vidserve.api.playground import prefers_html

from helpers import ServerProcess

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
WEB = resources.files("vidserve").joinpath("web")


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("application/json", False),
        ("application/json, text/event-stream", False),
        ("*/*", False),  # curl, httpx, fal_client
        (None, False),
        ("text/html;q=0.5, application/json", False),
        ("text/*, application/json;q=0.4", True),
    ],
)
def test_who_gets_the_page(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


def test_browsers_get_the_page_and_programs_the_json_index(server: ServerProcess) -> None:
    page = httpx.get(f"{server.url}/", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/playground/app.js">' in page.text
    for accept in ("application/json", "*/*"):
        index = httpx.get(f"{server.url}/", headers={"Accept": accept})
        assert index.headers["content-type"] == "application/json"
        body = index.json()
        assert body["name"] == "vidserve" and body["openapi"] == "/openapi.json"
        assert "fal-ai/kling-video/v1/standard/image-to-video" in body["endpoints"]


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [
        ("index.html", "text/html"),
        ("app.js", "text/javascript"),
        ("painter.js", "text/javascript"),
        ("style.css", "text/css"),
    ],
)
def test_assets_have_their_types(server: ServerProcess, asset: str, content_type: str) -> None:
    answer = httpx.get(f"{server.url}/playground/{asset}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == content_type
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "connect-src 'self'" in answer.headers["content-security-policy"]
    assert answer.content == WEB.joinpath(asset).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/playground/..%2Fapi%2Fplayground.py",
        "/playground/%2e%2e%2f__init__.py",
        "/playground/..%5c__init__.py",
        "/playground/.hidden.js",
        "/playground/app.js%00.css",
        "/playground/missing.js",
        "/playground/APP.JS",
    ],
)
def test_nothing_outside_the_assets(server: ServerProcess, path: str) -> None:
    answer = httpx.get(f"{server.url}{path}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"


def test_every_module_is_served_and_nothing_comes_from_the_network(
    server: ServerProcess,
) -> None:
    """The page works offline: its scripts import only their siblings, and no asset names
    another host (no CDN, no web fonts)."""
    seen: set[str] = set()
    todo = ["app.js"]
    while todo:
        name = todo.pop()
        seen.add(name)
        source = httpx.get(f"{server.url}/playground/{name}").raise_for_status().text
        for spec in re.findall(r"""^\s*import\b[^'"]*['"]([^'"]+)['"]""", source, re.M):
            assert spec.startswith("./"), f"{name} imports {spec}"
            if spec[2:] not in seen:
                todo.append(spec[2:])
    assert {"app.js", "api.js", "form.js", "painter.js", "codegen.js", "dom.js"} <= seen
    for asset in [*seen, "index.html", "style.css"]:
        text = WEB.joinpath(asset).read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), asset
        assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", text), asset
