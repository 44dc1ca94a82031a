"""What the playground's browser tests share: opening the page on an endpoint, uploading
through its file pickers, reading its history and its Code tab, running a request, playing
its video, and saving screenshots."""

from __future__ import annotations

import ast
import io
import json
import re
import shlex
from pathlib import Path
from typing import Any

from PIL import Image

from helpers import ServerProcess

#: Renders are a few seconds here, but the machine may be shared: generous upper bounds.
RENDER_TIMEOUT_MS = 90_000
#: The page once it has its endpoints and a form (``loading`` before, ``failed`` instead).
READY = 'body[data-state="ready"]'

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


def open_page(page: Any, server: ServerProcess) -> None:
    """The page, once it has loaded its endpoints and built a form."""
    page.goto(server.url + "/")
    page.wait_for_selector(READY, state="attached")


def open_endpoint(page: Any, server: ServerProcess, endpoint_id: str, ready: str) -> None:
    """The page on ``endpoint_id``, once its form shows ``ready`` (a selector)."""
    open_page(page, server)
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


def snap(page: Any, folder: Path, name: str) -> None:
    """A screenshot of the form (the input panel) as ``folder/name.png``; the path printed."""
    path = folder / f"{name}.png"
    save_screenshot(page.locator("section.input").screenshot(), path)
    print(f"\n{name} form screenshot: {path}")


def run_to_completion(page: Any) -> dict[str, Any]:
    """Run the form; the request as the history keeps it, once it completed."""
    page.click('[data-tab="result"]')
    page.click("#run")
    page.wait_for_selector('#status-badge[data-status="COMPLETED"]', timeout=RENDER_TIMEOUT_MS)
    [entry] = history(page)
    assert entry["status"] == "COMPLETED", entry
    return entry


def code_bodies(page: Any) -> dict[str, Any]:
    """The request body in each language of the Code tab, read back as each language
    would: the shell's quoting, Python's literals, JSON."""
    page.click('[data-tab="code"]')
    bodies: dict[str, Any] = {}
    for language in ("curl", "python", "vidserve", "js"):
        page.click(f'[data-language="{language}"]')
        page.wait_for_selector(f'[data-language="{language}"][aria-selected="true"]')
        code = page.text_content("#code")
        if language == "curl":
            quoted = re.search(r" -d ('(?:[^']|'\\'')*')", code)
            assert quoted, code
            bodies[language] = json.loads(shlex.split(quoted.group(1))[0])
        elif language == "js":
            found = re.search(r"input: (\{.*?\n  \}),\n  logs", code, re.S)
            assert found, code
            bodies[language] = json.loads(found.group(1))
        else:
            call = next(
                node
                for node in ast.walk(ast.parse(code))
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "subscribe"
            )
            literal = call.keywords[0].value if language == "python" else call.args[1]
            if language == "python":
                assert call.keywords[0].arg == "arguments"
            bodies[language] = ast.literal_eval(literal)
    page.click('[data-tab="result"]')
    return bodies
