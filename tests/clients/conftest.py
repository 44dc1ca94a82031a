"""One live server for the client tests (module scope keeps the suite quick)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import ServerProcess


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("live") / "data"
    srv = ServerProcess(data_dir, workers=2).start()
    yield srv
    srv.stop()
