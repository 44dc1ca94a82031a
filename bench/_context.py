"""The run context the benchmark scripts hand the engines: it keeps the log lines (to print
what an engine chose) and is never cancelled."""

from __future__ import annotations

from pathlib import Path

from vidserve.engines.base import RunContext


class BenchContext(RunContext):
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.logs: list[str] = []

    def progress(self, fraction: float) -> None:
        pass

    def log(self, message: str, level: str = "INFO") -> None:
        self.logs.append(message)

    @property
    def cancelled(self) -> bool:
        return False
