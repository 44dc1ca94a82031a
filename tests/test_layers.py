"""The API process stays small: it plans routes from the engines' declared capabilities,
never by importing an engine."""

from __future__ import annotations

import subprocess
import sys


def test_the_api_imports_no_engine_and_no_torch() -> None:
    code = (
        "import sys, vidserve.api, vidserve.serving\n"
        "app = vidserve.api.create_app\n"
        "bad = [m for m in sys.modules if m.startswith(('vidserve.engines.motion',"
        " 'vidserve.engines.diffusers', 'vidserve.engines.talk', 'vidserve.engines.faces',"
        " 'vidserve.worker', 'torch', 'diffusers', 'cv2', 'av.', 'ai_edge_litert'))]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
