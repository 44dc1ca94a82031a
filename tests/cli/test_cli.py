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

from vidserve.media.audio import decode_audio
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
        "o1/standard/image-to-video",
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
    submitted = vidserve(
        "submit", "v1/standard/image-to-video", "--image", url, "--prompt", "p", url=live.url
    )
    assert submitted.returncode == 0, submitted.stderr
    rid = json.loads(submitted.stdout)["request_id"]
    app = "fal-ai/kling-video"
    status = vidserve("status", app, rid, "--logs", url=live.url)
    assert json.loads(status.stdout)["status"] in ("Queued", "InProgress", "Completed")
    out = tmp_path / "r.mp4"
    result = vidserve("result", app, rid, "-o", str(out), url=live.url)
    assert result.returncode == 0, result.stderr
    assert probe(out).num_frames == 150
    late = vidserve("cancel", app, rid, url=live.url)
    assert late.returncode == 2
    assert late.stderr == f"vidserve: {rid} already completed: nothing to cancel\n"
    long = vidserve(
        "submit",
        "v1/standard/image-to-video",
        "--image",
        url,
        "--prompt",
        "p",
        "--duration",
        "10",
        url=live.url,
    )
    cancelled = vidserve("cancel", app, json.loads(long.stdout)["request_id"], url=live.url)
    assert cancelled.returncode == 0, cancelled.stderr
    models = vidserve("models", url=live.url).stdout
    assert "fal-ai/kling-video/v1/standard/image-to-video" in models
    assert "--cfg-scale" in models and "one of 5, 10" in models


def test_exit_codes_say_what_happened(live: ServerProcess, photo: Path, tmp_path: Path) -> None:
    bad = vidserve(
        "run",
        "v1/standard/image-to-video",
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
    assert unknown.returncode == 2 and "'v9/ultra' matches no endpoint here" in unknown.stderr
    ambiguous = vidserve("run", "v1/standard", "--prompt", "p", url=live.url)
    assert ambiguous.returncode == 2
    assert "'v1/standard' matches 4 endpoints" in ambiguous.stderr
    assert "fal-ai/kling-video/v1/standard/effects" in ambiguous.stderr

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    failed = vidserve(
        "run",
        "v1/standard/image-to-video",
        "--image",
        str(not_an_image),
        "--prompt",
        "p",
        url=live.url,
    )
    assert failed.returncode == 1
    assert "not a readable image" in failed.stderr

    missing = vidserve(
        "run", "v1/standard/image-to-video", "--image", "nope.png", "--prompt", "p", url=live.url
    )
    assert missing.returncode == 2 and "neither a URL nor a file" in missing.stderr

    down = vidserve("models", url=f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 3 and "cannot reach" in down.stderr


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / f"person{i}.png" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_bytes(make_image(640, 480, seed=20 + i))
    return paths


def test_run_elements_with_three_local_images(
    live: ServerProcess, photos: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "elements.mp4"
    images = [flag for path in photos for flag in ("--image", str(path))]
    done = vidserve(
        "run",
        "v1.6/standard/elements",
        *images,
        "--prompt",
        "the three walk through the garden",
        "-o",
        str(out),
        url=live.url,
    )
    assert done.returncode == 0, done.stderr
    info = probe(out)
    assert (min(info.width, info.height), info.num_frames) == (720, 150)  # 5 s at 30 fps


def test_run_an_effect(live: ServerProcess, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "squish.mp4"
    done = vidserve(
        "run",
        "v1.6/standard/effects",
        "--effect",
        "squish",
        "--image",
        str(photo),
        "-o",
        str(out),
        url=live.url,
    )
    assert done.returncode == 0, done.stderr
    info = probe(out)
    assert (min(info.width, info.height), info.num_frames) == (720, 150)


def test_run_text_to_speech_saves_the_mp3(live: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "hello.mp3"
    args = ("--text", "Hello there.", "--voice-id", "uk_man2", "-o", str(out))
    done = vidserve("run", "v1/tts", *args, url=live.url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["audio"]["content_type"] == "audio/mpeg"
    audio = decode_audio(out.read_bytes(), ("body", "text"))
    assert audio.duration > 0.5


def test_run_a_v3_storyboard(live: ServerProcess, photo: Path, tmp_path: Path) -> None:
    board = tmp_path / "board.json"
    board.write_text(
        json.dumps(
            [
                {"prompt": "Wide shot of the road, snow falling.", "duration": "2"},
                {"prompt": "The camera pushes in on the car.", "duration": "2"},
            ]
        )
    )
    out = tmp_path / "board.mp4"
    done = vidserve(
        "run",
        "v3/standard/image-to-video",
        "--image",
        str(photo),
        "--storyboard",
        f"@{board}",
        "--generate-audio",
        "false",
        "-o",
        str(out),
        url=live.url,
    )
    assert done.returncode == 0, done.stderr
    info = probe(out)
    assert (min(info.width, info.height), info.num_frames) == (720, 96)  # 2 + 2 s at 24 fps


def test_an_endpoint_not_served_here_says_why(live: ServerProcess) -> None:
    for command in ("run", "submit"):
        done = vidserve(command, "v1.6/standard/text-to-video", "--prompt", "a corgi", url=live.url)
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert done.stderr.startswith(
            "vidserve: not served here: fal-ai/kling-video/v1.6/standard/text-to-video makes "
            "text-to-video video, which the motion engine (this server's default) cannot; "
            "engines that can: "
        ), done.stderr
        assert "Traceback" not in done.stderr


def test_models_marks_what_is_served_and_prints_no_none(live: ServerProcess) -> None:
    done = vidserve("models", url=live.url)
    assert done.returncode == 0, done.stderr
    assert "None" not in done.stdout
    lines = done.stdout.splitlines()
    headers = [line for line in lines if line.startswith("fal-ai/")]
    assert len(headers) == len(json.loads(httpx.get(f"{live.url}/models").text))
    assert (
        "fal-ai/kling-video/v1.6/pro/effects  effects, 1080p, 30 fps, 5/10 s, price not published"
    ) in lines
    t2v = lines.index(next(h for h in headers if h.startswith("fal-ai/kling-video/o3/pro/text")))
    assert lines[t2v + 1].startswith("    not served: makes text-to-video video, which the motion")
    one = vidserve("models", "v1.6/pro/effects", url=live.url).stdout
    assert one.count("fal-ai/") == 1 and "bullet_time_360" in one


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
