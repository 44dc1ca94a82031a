"""The playground in a real browser against a real server: pick an endpoint, upload an
image, paint a motion brush, submit through the queue, follow it, play the video; 422s next
to their fields; cancel; API keys."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playground_ui import (
    PLAY_VIDEO,
    READY,
    RENDER_TIMEOUT_MS,
    history,
    open_endpoint,
    save_screenshot,
)

from helpers import ServerProcess, data_uri, make_image

pytestmark = pytest.mark.slow

V1_STANDARD = "fal-ai/kling-video/v1/standard/image-to-video"
V21_MASTER = "fal-ai/kling-video/v2.1/master/image-to-video"
O1 = "fal-ai/kling-video/o1/standard/image-to-video"
WIDTH, HEIGHT = 640, 360

# Records every change of the status line, so a test sees each update the page showed.
WATCH_STATUS = """() => {
  window.seen = [];
  const line = document.querySelector('.status-line');
  new MutationObserver(() => window.seen.push({
    badge: document.getElementById('status-badge').textContent,
    text: document.getElementById('status-text').textContent,
  })).observe(line, {subtree: true, childList: true, characterData: true});
}"""

# Drops a file on a drop zone as a user dragging it from their desktop would.
DROP_FILE = """([selector, b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type: 'image/png'}));
  const zone = document.querySelector(selector);
  for (const type of ['dragenter', 'dragover', 'drop']) {
    const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("images") / "photo.png"
    path.write_bytes(make_image(WIDTH, HEIGHT, seed=5))
    return path


def open_playground(page: Any, server: ServerProcess, endpoint_id: str) -> None:
    open_endpoint(page, server, endpoint_id, "#field-prompt")


def upload_start_image(page: Any, field: str, path: Path) -> str:
    page.set_input_files(f'[data-field="{field}"] input[type=file]', str(path))
    page.wait_for_selector(f'[data-field="{field}"] .upload-state.done')
    url: str = page.input_value(f"#field-{field}")
    return url


def drop_image(page: Any, field: str, path: Path) -> None:
    encoded = base64.b64encode(path.read_bytes()).decode()
    page.evaluate(DROP_FILE, [f'[data-field="{field}"] .drop', encoded, path.name])


def paint(
    page: Any, box: dict[str, float], start: tuple[float, float], end: tuple[float, float]
) -> None:
    """Drag across the painter from ``start`` to ``end`` (fractions of the image)."""
    page.mouse.move(*stage_point(box, *start))
    page.mouse.down()
    page.mouse.move(*stage_point(box, *end), steps=6)
    page.mouse.up()


def stage_point(box: dict[str, float], fx: float, fy: float) -> tuple[float, float]:
    return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy


def submit_filler(client: httpx.Client, server: ServerProcess) -> None:
    """A short request ahead in the queue, so the page's request waits its turn."""
    body = {"prompt": "filler", "start_image_url": data_uri(make_image(480, 320)), "duration": "3"}
    client.post(f"{server.url}/queue/{O1}", json=body).raise_for_status()


def test_motion_brush_request_end_to_end(
    page: Any, server: ServerProcess, photo: Path, screenshot_path: Path
) -> None:
    sent_headers: list[dict[str, str]] = []
    page.on(
        "request",
        lambda r: sent_headers.append(r.headers) if "/queue/" in r.url else None,
    )
    open_playground(page, server, V1_STANDARD)
    page.fill("#field-prompt", "A paper boat drifts on the pond")
    image_url = upload_start_image(page, "image_url", photo)
    assert image_url.startswith(f"{server.url}/files/")

    # Paint the first dynamic mask: a stroke across the left third, 40 image pixels wide.
    stage = page.locator("#painter .stage")
    stage.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#painter .stage img').naturalWidth > 0")
    box = stage.bounding_box()
    page.click('[data-layer="dynamic-1"]')
    page.click('[data-tool="brush"]')
    paint(page, box, (0.2, 0.5), (0.3, 0.5))
    # The static layer keeps the top right still; a slip of the brush is erased again.
    page.click('[data-layer="static"]')
    paint(page, box, (0.8, 0.2), (0.9, 0.2))
    paint(page, box, (0.8, 0.8), (0.9, 0.8))
    page.click('[data-tool="eraser"]')
    page.eval_on_selector(
        'input[aria-label="brush size"]',
        "(el) => { el.value = 120; el.dispatchEvent(new Event('input')); }",
    )
    paint(page, box, (0.78, 0.8), (0.92, 0.8))
    page.click('[data-layer="dynamic-1"]')
    # Its trajectory: three clicks, rising to the right.
    page.click('[data-tool="path"]')
    clicks = [(0.25, 0.5), (0.45, 0.4), (0.65, 0.3)]
    for fx, fy in clicks:
        page.mouse.click(*stage_point(box, fx, fy))
    assert "3 of 2–77 points" in page.text_content(".painter-info")

    # The Code tab shows this request in every language before it is sent.
    page.click('[data-tab="code"]')
    for language, expected in [
        ("curl", f"{server.url}/queue/{V1_STANDARD}"),
        ("python", "fal_client.subscribe("),
        ("vidserve", "SyncClient(base_url="),
        ("js", "fal.subscribe("),
    ]:
        page.click(f'[data-language="{language}"]')
        page.wait_for_function(
            "([text]) => document.getElementById('code').textContent.includes(text)",
            arg=[expected],
        )
        assert '"trajectories"' in page.text_content("#code")
    page.click('[data-tab="result"]')

    # Two short requests ahead of it: the page shows its place in the queue move.
    with httpx.Client(timeout=30) as client:
        submit_filler(client, server)
        submit_filler(client, server)
    page.evaluate(WATCH_STATUS)
    page.click("#run")
    page.wait_for_selector('#status-badge[data-status="COMPLETED"]', timeout=RENDER_TIMEOUT_MS)

    seen = page.evaluate("() => window.seen")
    texts = [s["text"] for s in seen]
    assert any(re.search(r"Queued: [12] ahead", t) for t in texts), texts
    assert any("Queued: next in line" in t for t in texts), texts
    progress = [int(m.group(1)) for t in texts if (m := re.search(r"Rendering (\d+)%", t))]
    assert any(0 < p < 100 for p in progress), texts
    assert progress == sorted(progress), "progress went backwards"
    timeline = page.text_content("#timeline")
    assert "IN_QUEUE · position 0" in timeline and "IN_PROGRESS" in timeline
    assert "a motion brush (1 moving regions)" in page.text_content("#logs")

    # The clip plays in the page, as long as requested (5 s, the motion brush's duration).
    played = page.evaluate(PLAY_VIDEO)
    assert abs(played["duration"] - 5.0) <= 0.1, played
    assert played["t1"] > played["t0"] and not played["paused"], played
    assert (played["width"], played["height"]) == (1280, 720)
    assert page.get_attribute("#download", "href") == played["src"]
    assert page.get_attribute("#download", "download") == "output.mp4"

    # What was sent: one mask PNG at the image's size, and the trajectory in Kling's
    # coordinates (pixels, origin bottom-left).
    [entry] = history(page)
    assert entry["status"] == "COMPLETED" and entry["endpointId"] == V1_STANDARD
    body = entry["body"]
    [dynamic] = body["dynamic_masks"]
    expected = [(round(fx * WIDTH), round(HEIGHT - fy * HEIGHT)) for fx, fy in clicks]
    got = [(p["x"], p["y"]) for p in dynamic["trajectories"]]
    assert all(
        abs(gx - ex) <= 2 and abs(gy - ey) <= 2
        for (gx, gy), (ex, ey) in zip(got, expected, strict=True)
    ), got
    mask = Image.open(io.BytesIO(httpx.get(dynamic["mask_url"]).content))
    assert mask.size == (WIDTH, HEIGHT)
    gray = mask.convert("L")
    assert gray.getpixel((int(0.25 * WIDTH), HEIGHT // 2)) == 255  # on the stroke
    assert gray.getpixel((int(0.25 * WIDTH), HEIGHT // 2 + 30)) == 0  # beside it
    assert gray.getpixel((WIDTH - 10, 10)) == 0
    static = Image.open(io.BytesIO(httpx.get(body["static_mask_url"]).content)).convert("L")
    assert static.size == (WIDTH, HEIGHT)
    assert static.getpixel((int(0.85 * WIDTH), int(0.2 * HEIGHT))) == 255  # painted
    assert static.getpixel((int(0.85 * WIDTH), int(0.8 * HEIGHT))) == 0  # erased
    assert static.getpixel((int(0.25 * WIDTH), HEIGHT // 2)) == 0  # the dynamic layer's
    # Loopback mode: no key stored, none sent.
    assert sent_headers and not any("authorization" in h for h in sent_headers)

    page.click('[data-tab="history"]')
    assert "COMPLETED" in page.text_content("#history")
    page.click('[data-tab="result"]')
    page.evaluate("() => document.getElementById('video').pause()")
    page.evaluate("() => window.scrollTo(0, 0)")
    save_screenshot(page.screenshot(full_page=True), screenshot_path)
    print(f"\nplayground screenshot: {screenshot_path}")


def test_a_422_is_shown_next_to_each_field_it_names(page: Any, server: ServerProcess) -> None:
    open_playground(page, server, V1_STANDARD)
    page.fill("#field-prompt", "")  # required
    page.click("#more > summary")
    page.fill("#field-cfg_scale", "1.5")  # the slider stops at 1; typing does not
    page.click("#run")

    cfg = page.locator('[data-field="cfg_scale"] .field-error')
    cfg.wait_for()
    assert "less than or equal to 1" in cfg.text_content()
    assert "Field required" in page.text_content('[data-field="prompt"] .field-error')
    assert "Field required" in page.text_content('[data-field="image_url"] .field-error')
    assert page.locator('[data-field="duration"] .field-error').is_hidden()
    for name in ("cfg_scale", "prompt", "image_url"):
        assert "invalid" in page.get_attribute(f'[data-field="{name}"]', "class")
    assert history(page) == []  # nothing was queued

    # Filling a field clears its error at once; the next submit's 422 names only what is left.
    page.fill("#field-cfg_scale", "0.5")
    assert "invalid" not in page.get_attribute('[data-field="cfg_scale"]', "class")
    page.click("#run")
    page.wait_for_function(  # the submit clears every error, then the answer shows what is left
        "() => document.querySelector('[data-field=\"prompt\"]').classList.contains('invalid')"
    )
    assert page.locator('[data-field="prompt"] .field-error').is_visible()
    assert page.locator('[data-field="cfg_scale"] .field-error').is_hidden()


def test_cancel_a_running_request(page: Any, server: ServerProcess, photo: Path) -> None:
    open_playground(page, server, V21_MASTER)
    page.fill("#field-prompt", "Robins build a nest")
    drop_image(page, "image_url", photo)
    page.wait_for_selector('[data-field="image_url"] .upload-state.done')
    page.select_option("#field-duration", label="10")  # 240 frames at 1080p: seconds of work
    page.click("#run")
    page.wait_for_function(
        "() => /Rendering [1-9]/.test(document.getElementById('status-text').textContent)",
        timeout=RENDER_TIMEOUT_MS,
    )
    page.click("#cancel")
    page.wait_for_selector('#status-badge[data-status="CANCELLED"]', timeout=RENDER_TIMEOUT_MS)
    assert "request_cancelled" in page.text_content("#result-error")
    assert "cancel: CANCELLATION_REQUESTED" in page.text_content("#timeline")
    assert page.locator("#video-box").is_hidden() and page.locator("#cancel").is_hidden()
    [entry] = history(page)
    status = httpx.get(entry["statusUrl"]).json()
    assert (status["status"], status["error_type"]) == ("COMPLETED", "request_cancelled")


def test_with_an_api_key(page: Any, photo: Path, tmp_path: Path) -> None:
    from vidserve.config import Settings
    from vidserve.store.factory import open_store

    data_dir = tmp_path / "keyed"
    data_dir.mkdir()
    store = open_store(Settings(data_dir=data_dir).store_url, max_attempts=3)
    if not hasattr(store, "create_key"):
        store.close()
        pytest.skip("this server has no API keys")
    api_key, secret = store.create_key("playground")
    store.close()
    key = f"{api_key.id}:{secret}"
    keyed = ServerProcess(data_dir).start()
    try:
        sent: list[tuple[str, str | None]] = []
        page.on("request", lambda r: sent.append((r.url, r.headers.get("authorization"))))
        open_playground(page, keyed, O1)
        assert page.locator("#brush").is_hidden()  # O1 has no motion brush

        # Without the key the server refuses the upload, and the page says why.
        drop_image(page, "start_image_url", photo)
        refused = page.locator('[data-field="start_image_url"] .upload-state.failed')
        refused.wait_for()
        assert "API key" in refused.text_content()
        assert all(auth is None for _, auth in sent)  # no key stored: no header
        keyless = len(sent)

        # The key is kept in this browser: it is still there after a reload.
        page.fill("#api-key", key)
        page.press("#api-key", "Enter")
        assert page.text_content("#key-state") == "stored in this browser"
        page.reload()
        page.wait_for_selector(READY, state="attached")
        assert page.input_value("#api-key") == key
        assert page.input_value("#endpoint") == O1  # so is the endpoint

        # An image by URL this time; a camera move from the camera widget.
        with httpx.Client(headers={"Authorization": f"Key {key}"}, timeout=30) as client:
            grant = client.post(
                f"{keyed.url}/rest/storage/upload/initiate",
                json={"content_type": "image/png", "file_name": "photo.png"},
            ).json()
            client.put(grant["upload_url"], content=photo.read_bytes()).raise_for_status()
        page.fill("#field-prompt", "A quiet street")
        page.fill("#field-start_image_url", grant["file_url"])
        page.dispatch_event("#field-start_image_url", "change")
        page.select_option("#field-duration", "3")
        page.select_option("#field-camera_control", "simple")
        page.select_option('select[aria-label="camera axis"]', "zoom")
        page.eval_on_selector(
            'input[aria-label="camera amount"]',
            "(el) => { el.value = -5; el.dispatchEvent(new Event('input', {bubbles: true})); }",
        )
        page.click('[data-tab="code"]')
        page.wait_for_function(
            "() => document.getElementById('code').textContent.includes('camera_control')"
        )
        code = page.text_content("#code")
        assert "Authorization: Key $VIDSERVE_KEY" in code and secret not in code
        page.click('[data-tab="result"]')
        page.click("#run")
        page.wait_for_selector('#status-badge[data-status="COMPLETED"]', timeout=RENDER_TIMEOUT_MS)
        assert "zoom=-5" in page.text_content("#logs")
        played = page.evaluate(PLAY_VIDEO)
        assert abs(played["duration"] - 3.0) <= 0.1, played
        assert played["t1"] > played["t0"], played

        # Every API call carried the key; the signed upload PUT and the files need none.
        api_calls = [(u, a) for u, a in sent[keyless:] if re.search(r"/(queue|rest|models)", u)]
        assert len(api_calls) >= 3 and all(a == f"Key {key}" for _, a in api_calls), api_calls
    finally:
        keyed.stop()
