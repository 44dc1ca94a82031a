"""A new user's first minutes with the playground, in a real browser against a real server:
the page says it is loading until its endpoints are in (and why, when they do not come);
a field a 422 named loses its error as soon as it is edited; and the Code tab wraps long
lines instead of widening the page."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playground_ui import READY, code_bodies, open_endpoint, save_screenshot, upload

from helpers import ServerProcess, make_image

pytestmark = pytest.mark.slow

V1_STANDARD = "fal-ai/kling-video/v1/standard/image-to-video"
FAILED = 'body[data-state="failed"]'

# The widths that matter for sideways scrolling: the code box, its panel, the page.
MEASURE = """() => {
  const size = (node) => ({scroll: node.scrollWidth, client: node.clientWidth});
  return {
    code: size(document.getElementById('code')),
    panel: size(document.querySelector('section.output')),
    page: size(document.documentElement),
  };
}"""


def is_catalog(url: str) -> bool:
    """GET /models: the endpoints and their schemas, which the page loads first."""
    return urlsplit(url).path == "/models"


def screenshot(page: Any, folder: Path, name: str) -> None:
    """What the user sees (the viewport) as ``folder/name.png``; the path printed."""
    path = folder / f"{name}.png"
    save_screenshot(page.screenshot(), path)
    print(f"\n{name} screenshot: {path}")


def error_of(page: Any, field: str) -> Any:
    return page.locator(f'[data-field="{field}"] .field-error')


def invalid(page: Any, field: str) -> bool:
    return "invalid" in (page.get_attribute(f'[data-field="{field}"]', "class") or "")


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("first-minutes") / "photo.png"
    path.write_bytes(make_image(640, 360, seed=7))
    return path


def test_the_page_says_it_is_loading_until_its_endpoints_are_in(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    held: list[Any] = []
    page.route(is_catalog, lambda route: held.append(route))
    page.goto(server.url + "/")
    for _ in range(400):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page never asked for /models"

    # Still loading: a spinner where the form goes, and the marker says so.
    assert page.get_attribute("body", "data-state") == "loading"
    assert page.get_attribute("main", "aria-busy") == "true"
    assert page.locator("#loading .spinner").is_visible()
    assert page.text_content("#loading-text").startswith("Asking the server for its endpoints")
    assert page.get_attribute("#loading", "role") == "status"
    assert page.locator("#form").is_hidden() and page.locator("#run").is_hidden()
    assert page.locator("#loading-retry").is_hidden()
    assert page.locator("#endpoint").is_disabled()
    screenshot(page, shots, "playground-loading")

    held[0].continue_()
    page.wait_for_selector(READY, state="attached")
    assert page.get_attribute("main", "aria-busy") == "false"
    assert page.locator("#loading").is_hidden()
    assert page.locator("#form").is_visible() and page.locator("#run").is_visible()
    assert page.locator("#fields .field").count() > 0
    assert page.locator("#endpoint").is_enabled()
    assert page.text_content("#endpoint-title") != "Loading endpoints…"


def test_a_catalog_that_does_not_come_is_said_not_spun(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    # The server unreachable: no answer at all.
    page.route(is_catalog, lambda route: route.abort())
    page.goto(server.url + "/")
    page.wait_for_selector(FAILED, state="attached")
    assert page.get_attribute("main", "aria-busy") == "false"
    assert page.get_attribute("#loading", "role") == "alert"
    assert page.locator("#loading .spinner").is_hidden()
    assert "The server could not be reached" in page.text_content("#loading-text")
    assert page.text_content("#endpoint-title") == "Could not load the endpoints"
    assert page.locator("#form").is_hidden()
    assert page.locator("#loading-retry").is_visible()
    screenshot(page, shots, "playground-load-failed")

    # An error answer: its status and what the server said; a proxy's HTML page, its status.
    answers: list[tuple[int, str, str, str]] = [
        (503, "application/json", json.dumps({"detail": "Starting up"}), "HTTP 503: Starting up."),
        (502, "text/html", "<html><h1>502 Bad Gateway</h1></html>", "HTTP 502."),
        (401, "application/json", json.dumps({"detail": "Missing API key"}), "enter it above"),
        (200, "application/json", "[]", "The server listed no endpoints."),
    ]
    for status, content_type, body, said in answers:
        page.unroute(is_catalog)
        page.route(is_catalog, answer_with(status, content_type, body))
        page.click("#loading-retry")
        page.wait_for_function(
            "([said]) => document.body.dataset.state === 'failed'"
            " && document.getElementById('loading-text').textContent.includes(said)",
            arg=[said],
        )
        assert page.locator("#form").is_hidden()

    # The server is back: Try again gives the page.
    page.unroute(is_catalog)
    page.click("#loading-retry")
    page.wait_for_selector(READY, state="attached")
    assert page.locator("#form").is_visible() and page.locator("#loading").is_hidden()
    assert page.text_content("#endpoint-title") != "Could not load the endpoints"


def answer_with(status: int, content_type: str, body: str) -> Callable[[Any], None]:
    return lambda route: route.fulfill(status=status, content_type=content_type, body=body)


def test_a_field_error_goes_once_the_field_is_edited(
    page: Any, server: ServerProcess, photo: Path, shots: Path
) -> None:
    submits: list[str] = []
    page.on(
        "request",
        lambda r: submits.append(r.url) if r.method == "POST" and "/queue/" in r.url else None,
    )
    open_endpoint(page, server, V1_STANDARD, "#field-prompt")
    page.fill("#field-prompt", "")  # required
    page.click("#more > summary")
    page.fill("#field-cfg_scale", "1.5")  # past the slider's 1: the server answers 422
    page.click("#run")
    error_of(page, "cfg_scale").wait_for()
    assert "Field required" in error_of(page, "prompt").text_content()
    assert "Field required" in error_of(page, "image_url").text_content()
    assert all(invalid(page, f) for f in ("prompt", "image_url", "cfg_scale"))
    assert len(submits) == 1
    page.locator('[data-field="prompt"]').scroll_into_view_if_needed()
    screenshot(page, shots, "playground-field-error")

    # Typing in the prompt clears its error at once; the others stay.
    page.type("#field-prompt", "A")
    assert error_of(page, "prompt").is_hidden() and not invalid(page, "prompt")
    assert error_of(page, "prompt").text_content() == ""
    assert error_of(page, "image_url").is_visible() and invalid(page, "image_url")
    assert error_of(page, "cfg_scale").is_visible() and invalid(page, "cfg_scale")

    # A value put right; an image picked (a change, not typing).
    page.fill("#field-cfg_scale", "0.5")
    assert error_of(page, "cfg_scale").is_hidden() and not invalid(page, "cfg_scale")
    assert error_of(page, "image_url").is_visible()
    upload(page, '[data-field="image_url"]', photo)
    assert error_of(page, "image_url").is_hidden() and not invalid(page, "image_url")
    assert page.locator(".field-error:visible").count() == 0
    assert page.locator(".invalid").count() == 0
    assert len(submits) == 1  # all without a new submit


def test_the_brush_error_goes_once_the_brush_is_used(
    page: Any, server: ServerProcess, photo: Path
) -> None:
    open_endpoint(page, server, V1_STANDARD, "#field-prompt")
    page.fill("#field-prompt", "A paper boat")
    upload(page, '[data-field="image_url"]', photo)
    stage = page.locator("#painter .stage")
    stage.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#painter .stage img').naturalWidth > 0")
    box = stage.bounding_box()

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy

    # A painted dynamic area without its trajectory: refused before it is sent.
    page.click('[data-layer="dynamic-1"]')
    page.mouse.move(*at(0.2, 0.5))
    page.mouse.down()
    page.mouse.move(*at(0.3, 0.5), steps=4)
    page.mouse.up()
    page.click("#run")
    brush_error = page.locator("#brush .field-error")
    brush_error.wait_for()
    assert "needs a trajectory" in brush_error.text_content()

    page.click('[data-tool="path"]')
    page.mouse.click(*at(0.25, 0.5))
    assert brush_error.is_hidden()
    assert "invalid" not in (page.get_attribute("#brush", "class") or "")


@pytest.mark.parametrize("width", [1400, 760])
def test_the_code_panel_wraps_long_lines(page: Any, server: ServerProcess, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 1000})
    open_endpoint(page, server, V1_STANDARD, "#field-prompt")
    long_word = "x" * 600  # no space to break at: a data URI's kind of line
    prompt = "A paper boat drifts down a rain-soaked street, " * 12 + long_word
    page.fill("#field-prompt", prompt)
    page.click('[data-tab="code"]')
    for language in ("curl", "python", "vidserve", "js"):
        page.click(f'[data-language="{language}"]')
        page.wait_for_function(
            "([word]) => document.getElementById('code').textContent.includes(word)",
            arg=[long_word],
        )
        sizes = page.evaluate(MEASURE)
        for part in ("code", "panel", "page"):
            assert sizes[part]["scroll"] <= sizes[part]["client"] + 1, (language, part, sizes)
    # Wrapped only on screen: the text (what Copy copies) is the request, unchanged.
    for language, body in code_bodies(page).items():
        assert body["prompt"] == prompt, language
