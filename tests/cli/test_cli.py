"""The ``vidserve`` CLI against a live server: a playable MP4, progress, logs, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from vidserve.media.video import probe

from helpers import ServerProcess, free_port, make_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("cli") / "data", workers=2).start()
    yield srv
    srv.stop()


def vidserve(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if url is not None:
        env["VIDSERVE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "vidserve", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(make_image(640, 480, seed=11))
    return path


def test_run_uploads_follows_and_saves_a_playable_mp4(
    live: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "clip.mp4"
    done = vidserve(
        "run",
        "o1/standard",
        "--image",
        str(photo),
        "--prompt",
        "push in slowly",
        "--duration",
        "3",
        "-o",
        str(out),
        "-v",
        url=live.url,
    )
    assert done.returncode == 0, done.stderr
    info = probe(out)
    assert (info.width, info.height, info.num_frames) == (960, 720, 72)
    assert info.fps == 24
    result = json.loads(done.stdout)
    assert result["saved_to"] == str(out)
    lines = done.stderr.splitlines()
    # queue position, then progress, then the download; -v streams the logs between.
    phases = [
        line.split()[0]
        for line in lines
        if line.split() and line.split()[0] in ("queued,", "rendering", "downloading")
    ]
    assert phases and phases[-1] == "downloading"
    assert "rendering" in phases
    assert any(line.startswith("[INFO] Rendering 960x720") for line in lines)


def test_any_field_as_a_flag_and_json_input(
    live: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    done = vidserve(
        "run",
        "fal-ai/kling-video/v1/pro/image-to-video",
        "--json",
        json.dumps({"prompt": "p", "aspect_ratio": "1:1"}),
        "--image",
        str(photo),
        "--cfg-scale",
        "0.7",
        "--no-download",
        url=live.url,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["video"]["content_type"] == "video/mp4"


def test_submit_status_result_cancel_upload_models(
    live: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    url = vidserve("upload", str(photo), url=live.url).stdout.strip()
    assert url.startswith(f"{live.url}/files/")
    submitted = vidserve("submit", "v1/standard", "--image", url, "--prompt", "p", url=live.url)
    assert submitted.returncode == 0, submitted.stderr
    rid = json.loads(submitted.stdout)["request_id"]
    app = "fal-ai/kling-video"
    status = vidserve("status", app, rid, "--logs", url=live.url)
    assert json.loads(status.stdout)["status"] in ("Queued", "InProgress", "Completed")
    out = tmp_path / "r.mp4"
    result = vidserve("result", app, rid, "-o", str(out), url=live.url)
    assert result.returncode == 0, result.stderr
    assert probe(out).num_frames == 150
    long = vidserve(
        "submit", "v1/standard", "--image", url, "--prompt", "p", "--duration", "10", url=live.url
    )
    cancelled = vidserve("cancel", app, json.loads(long.stdout)["request_id"], url=live.url)
    assert cancelled.returncode == 0, cancelled.stderr
    models = vidserve("models", url=live.url).stdout
    assert "fal-ai/kling-video/v1/standard/image-to-video" in models
    assert "--cfg-scale" in models and "one of 5, 10" in models


def test_exit_codes_say_what_happened(live: ServerProcess, photo: Path, tmp_path: Path) -> None:
    bad = vidserve(
        "run",
        "v1/standard",
        "--image",
        str(photo),
        "--prompt",
        "p",
        "--cfg-scale",
        "2",
        url=live.url,
    )
    assert bad.returncode == 2
    assert "cfg_scale: Input should be less than or equal to 1" in bad.stderr

    unknown = vidserve("run", "v9/ultra", "--prompt", "p", url=live.url)
    assert unknown.returncode == 2 and "is not served" in unknown.stderr

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    failed = vidserve(
        "run", "v1/standard", "--image", str(not_an_image), "--prompt", "p", url=live.url
    )
    assert failed.returncode == 1
    assert "not a readable image" in failed.stderr

    missing = vidserve("run", "v1/standard", "--image", "nope.png", "--prompt", "p", url=live.url)
    assert missing.returncode == 2 and "neither a URL nor a file" in missing.stderr

    down = vidserve("models", url=f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 3 and "cannot reach" in down.stderr


def test_the_access_log_can_be_turned_off(tmp_path: Path) -> None:
    """A busy server answers thousands of status polls a second: one line each is optional."""
    quiet = ServerProcess(tmp_path / "quiet", workers=0, args=["--no-access-log"]).start()
    chatty = ServerProcess(tmp_path / "chatty", workers=0).start()
    try:
        for srv in (quiet, chatty):
            assert httpx.get(f"{srv.url}/health").status_code == 200
    finally:
        quiet.stop()
        chatty.stop()
    assert '"GET /health HTTP/1.1" 200' not in quiet.log()
    assert '"GET /health HTTP/1.1" 200' in chatty.log()
