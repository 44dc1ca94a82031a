"""Schemathesis fuzzes every operation of ``/openapi.json`` on a live server: no 5xx.

The sync run route is left out: it waits for a worker by design (this server runs none, so
that generated requests pile up harmlessly instead of rendering), and so is the SSE stream,
which stays open until its request completes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("fuzz") / "data", workers=0).start()
    yield proc
    proc.stop()


def test_no_operation_answers_5xx(server: ServerProcess, tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [
            str(cli),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--phases",
            "examples,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "7",
            "--request-timeout",
            "10",
            "--exclude-path-regex",
            r"^/run/|/status/stream$",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # its report folder lands here
        env={**os.environ, "NO_COLOR": "1"},
    )
    summary = result.stdout[-4000:]
    assert result.returncode == 0, summary
    assert "generated" in summary and "Server error" not in summary
    assert " 500 " not in server.log()
