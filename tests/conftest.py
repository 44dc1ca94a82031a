"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import ServerProcess


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    """Start servers (stopped at the end); ``server_factory(workers=2)``."""
    started: list[ServerProcess] = []

    def start(
        workers: int = 1, data_dir: Path | None = None, port: int | None = None
    ) -> ServerProcess:
        srv = ServerProcess(data_dir or tmp_path / "data", workers, port).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
