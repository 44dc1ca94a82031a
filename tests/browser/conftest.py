"""The playground's browser tests: Playwright drives Debian's chromium (installed by
``tests/browser/setup.sh``, never downloaded) against a real ``vidserve serve``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import ServerProcess

CHROMIUM = Path(os.environ.get("VIDSERVE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One open (keyless, loopback) server with one worker for the whole folder."""
    srv = ServerProcess(tmp_path_factory.mktemp("playground") / "data", workers=1).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium. Missing: skipped locally, a failure in CI (where it must run)."""
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is missing: run tests/browser/setup.sh (Debian's chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (its own storage: no key, no history); fails the test on a script error."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The browser logs every non-2xx answer ("Failed to load resource"): the 422 and 401
    # tests cause those on purpose; any other console error is a bug of the page.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    yield page
    context.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture(scope="session")
def screenshot_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the finished page's screenshot goes: ``VIDSERVE_SCREENSHOT`` (e.g.
    ``docs/playground.png`` to refresh the README's), else the session's temp folder."""
    chosen = os.environ.get("VIDSERVE_SCREENSHOT")
    return Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "playground.png"


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each new form's screenshot goes: ``VIDSERVE_SCREENSHOTS`` (a folder), else the
    session's temp folder; the paths are printed."""
    chosen = os.environ.get("VIDSERVE_SCREENSHOTS")
    return Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "forms"
