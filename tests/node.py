"""Node.js for the tests that drive fal's JS client: installed packages or a loud failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).resolve().parent / "js"


def require_node_packages() -> Path:
    """``tests/js`` with its pinned packages installed (``npm ci``, once). Without node or
    npm the tests are skipped locally and fail in CI, where they must run."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "node and npm are needed for the @fal-ai/client tests"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    if not (JS_DIR / "node_modules" / "@fal-ai" / "client").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return JS_DIR
