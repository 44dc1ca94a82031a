"""fal's own JS client (``@fal-ai/client`` 1.10.1), unchanged, against a live vidserve: through
a request middleware that rewrites fal's hosts, and through vidserve's proxy route."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers import ServerProcess, make_image
from node import require_node_packages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(live: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    js_dir = require_node_packages()
    image: Path = tmp_path_factory.mktemp("js") / "photo.png"
    image.write_bytes(make_image(640, 360, seed=7))
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, "flows.mjs", live.url, str(image)],
        cwd=js_dir,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def _ok(report: dict[str, Any], flow: str) -> dict[str, Any]:
    outcome: dict[str, Any] = report[flow]
    assert outcome["ok"], outcome
    return outcome


def test_storage_upload_returns_a_url_of_this_server(
    report: dict[str, Any], live: ServerProcess
) -> None:
    assert _ok(report, "upload")["url"].startswith(f"{live.url}/files/")


def test_subscribe_with_logs(report: dict[str, Any]) -> None:
    outcome = _ok(report, "subscribe")
    assert outcome["video"]["content_type"] == "video/mp4"
    assert outcome["requestId"]
    assert "IN_PROGRESS" in outcome["statuses"] or "COMPLETED" in outcome["statuses"]
    assert any("Rendering" in m for m in outcome["messages"])


def test_submit_status_stream_and_result(report: dict[str, Any]) -> None:
    outcome = _ok(report, "queue")
    assert outcome["firstStatus"] in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
    assert outcome["lastStatus"] == "COMPLETED"
    assert outcome["streamed"][-1]["status"] == "COMPLETED"
    lines = [m for event in outcome["streamed"] for m in event["logs"]]
    assert len(lines) == len(set(lines)), "the SSE stream repeated a log line"
    assert outcome["video"]["file_name"] == "output.mp4"


def test_cancel_of_a_queued_request(report: dict[str, Any]) -> None:
    outcome = _ok(report, "cancel")
    assert (outcome["status"], outcome["error_type"]) == ("COMPLETED", "request_cancelled")


def test_run(report: dict[str, Any]) -> None:
    outcome = _ok(report, "run")
    assert outcome["video"]["content_type"] == "video/mp4" and outcome["requestId"]


def test_422_is_the_clients_validation_error_with_field_errors(report: dict[str, Any]) -> None:
    outcome = _ok(report, "validation")
    assert outcome["raised"] and outcome["isValidationError"] and outcome["status"] == 422
    assert outcome["fieldErrors"][0]["loc"] == ["body", "cfg_scale"]


def test_everything_through_the_proxy_route(report: dict[str, Any], live: ServerProcess) -> None:
    outcome = _ok(report, "proxy")
    assert outcome["uploaded"].startswith(f"{live.url}/files/")
    assert outcome["video"]["content_type"] == "video/mp4"
