"""The README's "Try it" block, exactly as written there, run with bash in the repository root
as a new user pastes it: ``make run`` in the background, a submit, polling, and a video.mp4
that is a real MP4 at the end."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from vidserve.media.video import probe

from helpers import REPO, unavailable

pytestmark = pytest.mark.slow

#: The block talks to this port: it is written into the README.
PORT = 8000
VIDEO = REPO / "video.mp4"


def try_it_block() -> str:
    """The first ```sh block under ``## Try it`` in README.md, verbatim."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Try it\n", 1)
    assert len(section) == 2, "README.md has no '## Try it' section"
    body = section[1].split("\n## ", 1)[0]
    found = re.search(r"^```sh\n(.*?)^```$", body, re.DOTALL | re.MULTILINE)
    assert found, "the '## Try it' section has no ```sh block"
    return found.group(1)


def test_the_block_is_found_and_is_the_whole_walk() -> None:
    block = try_it_block()
    assert block.startswith("make run &")
    assert "/health" in block and "video.mp4" in block


def check_ready_to_run() -> None:
    """``make run`` must only start the server here: no install, no download."""
    if shutil.which("make") is None or shutil.which("curl") is None:
        unavailable("make and curl are needed to run the README's block")
    venv = REPO / ".venv"
    if not (venv / "bin" / "vidserve").exists():
        unavailable(".venv is not built (make test builds it)")
    stale = subprocess.run(
        ["make", "-q", ".venv/.server-installed"], cwd=REPO, capture_output=True
    ).returncode
    if stale != 0:
        unavailable(".venv is older than pyproject.toml: make run would install first")
    faces = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "vidserve.engines.faces.install", "--check"],
        capture_output=True,
    ).returncode
    if faces != 0:
        unavailable("the face models are not installed (make faces): make run would fetch them")
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", PORT))
        except OSError:
            unavailable(f"port {PORT} is taken, and the README's block talks to port {PORT}")


def running(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies, which nothing may reap once
    their parent shell has gone, do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_group(pgid: int) -> None:
    """SIGTERM to everything the block started (make, the server, its workers), SIGKILL to
    whatever is still there after 20 s."""
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while running(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not running(pgid):
            return


@pytest.mark.timeout(420)
def test_the_try_it_block_runs_as_pasted_and_ends_with_an_mp4(tmp_path: Path) -> None:
    check_ready_to_run()
    block = try_it_block()
    # The block writes video.mp4 in the repository root: keep any that is there already.
    kept = tmp_path / "kept-video.mp4"
    if VIDEO.exists():
        shutil.move(VIDEO, kept)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("VIDSERVE_") or k == "VIDSERVE_FACE_MODELS"
    }
    env["VIDSERVE_DATA_DIR"] = str(tmp_path / "data")
    log = tmp_path / "try-it.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", block],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the block ran over 300 s:\n{log.read_text()}")
        output = log.read_text()
        assert proc.returncode == 0, output
        assert '"status":"IN_QUEUE"' in output, output
        assert '"status":"COMPLETED"' in output, output
        assert "Traceback" not in output, output
        assert VIDEO.is_file(), f"no video.mp4 was written:\n{output}"
        info = probe(VIDEO)
        assert info.num_frames > 0 and info.width > 0 and info.height > 0, info
        assert info.codec == "h264"
    finally:
        stop_group(proc.pid)
        VIDEO.unlink(missing_ok=True)
        if kept.exists():
            shutil.move(kept, VIDEO)
