"""docs/diffusion.md's quick start, run as written: its shell blocks make a tiny folder and
an engines TOML, ``vidserve serve`` reads them, and its ``curl`` answers with an MP4 of the
endpoint's default duration (no engine option set anywhere)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from vidserve.media.video import probe

from helpers import REPO, ServerProcess

DOC = REPO / "docs" / "diffusion.md"
SECTION = "## Trying it without a GPU: `make-tiny`"


def quickstart_blocks() -> list[str]:
    """The ``sh`` blocks of the quick start section, in order."""
    text = DOC.read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def run_block(block: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_the_docs_quick_start_runs_as_written(tmp_path: Path) -> None:
    setup, serve, request = quickstart_blocks()
    demo = tmp_path / "demo"
    # The venv's vidserve first on PATH, as after `pip install 'vidserve[diffusers]'`.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "DEMO": str(demo), "PATH": path}
    run_block(setup, env)
    assert (demo / "wan" / "vidserve.json").is_file()
    # The serve line, on a free port (the doc's default port may be taken here).
    assert serve.strip() == (
        "VIDSERVE_ENGINES_CONFIG=$DEMO/engines.toml vidserve serve --data-dir $DEMO/data"
    )
    server = ServerProcess(
        demo / "data", env={"VIDSERVE_ENGINES_CONFIG": str(demo / "engines.toml")}
    ).start(timeout=60)
    try:
        answer = json.loads(run_block(request, {**env, "VIDSERVE": server.url}))
        video = answer["video"]
        assert video["content_type"] == "video/mp4", answer
        out = tmp_path / "out.mp4"
        out.write_bytes(httpx.get(video["url"], timeout=30).content)
    finally:
        server.stop()
    info = probe(out)
    assert info.codec == "h264" and info.num_frames / info.fps >= 5.0
    assert info.width * info.height <= 128 * 128  # the folder's own defaults


def test_the_readme_shows_the_quick_start_run_here() -> None:
    """The README's diffusion quick start is docs/diffusion.md's, block for block, so the
    run above covers it too."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Diffusion engines") :]
    section = section[: section.index("\n## ", 1)]
    assert re.findall(r"```sh\n(.*?)```", section, flags=re.S) == quickstart_blocks()
