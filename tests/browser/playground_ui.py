"""What the playground's browser tests share: opening the page on an endpoint, uploading
through its file pickers, reading its history, playing its video, and saving screenshots."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from helpers import ServerProcess

#: Renders are a few seconds here, but the machine may be shared: generous upper bounds.
RENDER_TIMEOUT_MS = 90_000

# Waits for the video's metadata, plays it, and reports whether time advanced.
PLAY_VIDEO = """async () => {
  const v = document.getElementById('video');
  if (v.readyState < 1) {
    await new Promise((r) => v.addEventListener('loadedmetadata', r, {once: true}));
  }
  v.muted = true;
  await v.play();
  const t0 = v.currentTime;
  await new Promise((r) => setTimeout(r, 800));
  return {duration: v.duration, t0, t1: v.currentTime, paused: v.paused,
          width: v.videoWidth, height: v.videoHeight, src: v.currentSrc};
}"""


def open_endpoint(page: Any, server: ServerProcess, endpoint_id: str, ready: str) -> None:
    """The page on ``endpoint_id``, once its form shows ``ready`` (a selector)."""
    page.goto(server.url + "/")
    page.wait_for_selector(f'#endpoint option[value="{endpoint_id}"]', state="attached")
    page.select_option("#endpoint", endpoint_id)
    page.wait_for_selector(ready)


def upload(page: Any, scope: str, path: Path) -> str:
    """Pick ``path`` in the file input inside ``scope`` (a selector); the uploaded URL."""
    page.set_input_files(f"{scope} input[type=file]", str(path))
    page.wait_for_selector(f"{scope} .upload-state.done")
    url: str = page.input_value(f"{scope} input[type=url]")
    return url


def history(page: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(
        page.evaluate("() => localStorage.getItem('vidserve.history') || '[]'")
    )
    return entries


def save_screenshot(png: bytes, path: Path) -> None:
    """A 256-colour PNG: a quarter of the size, which the README's copy is glad of."""
    shot = Image.open(io.BytesIO(png)).convert("RGB")
    compact = shot.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    path.parent.mkdir(parents=True, exist_ok=True)
    compact.save(path, optimize=True)
