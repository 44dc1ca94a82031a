"""A progress bar on stderr: queue position, then rendering progress, then the download.

On a terminal it redraws one line; elsewhere (logs, CI) it prints a line per change of
phase or each tenth of progress, so piped output stays readable.
"""

from __future__ import annotations

import shutil
import sys
from typing import TextIO


class ProgressBar:
    """Draws ``label [#####.....] 50%`` for the current phase."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last: tuple[str, int] | None = None
        self._drawn = False

    def queued(self, position: int) -> None:
        self._show(f"queued, {position} ahead" if position else "queued, next in line", None)

    def rendering(self, fraction: float | None) -> None:
        self._show("rendering", fraction or 0.0)

    def downloading(self, done: int, total: int | None) -> None:
        self._show("downloading", done / total if total else None)

    def message(self, text: str) -> None:
        """A line above the bar (a log line)."""
        self._clear()
        print(text, file=self.stream, flush=True)

    def finish(self) -> None:
        self._clear()

    def _show(self, label: str, fraction: float | None) -> None:
        tenth = -1 if fraction is None else int(fraction * 10)
        if not self.tty:
            if self._last != (label, tenth):
                suffix = "" if fraction is None else f" {fraction:4.0%}"
                print(f"{label}{suffix}", file=self.stream, flush=True)
            self._last = (label, tenth)
            return
        width = max(10, min(40, shutil.get_terminal_size().columns - 30))
        if fraction is None:
            line = label
        else:
            filled = int(width * min(max(fraction, 0.0), 1.0))
            line = f"{label:<12} [{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}"
        self.stream.write("\r\033[K" + line)
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False
