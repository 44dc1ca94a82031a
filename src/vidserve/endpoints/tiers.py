"""What an endpoint's model renders: its tier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class OutputSettings:
    """What the endpoint's model renders: tier, frame rate and allowed durations."""

    model: str
    #: The short side, in pixels; None: the input video's (lipsync), or no picture (speech).
    resolution: Literal[720, 1080, 2160] | None
    #: None: the input video's (lipsync), or no picture (speech).
    fps: int | None
    #: Whole seconds it renders; for lipsync and avatars the span the input may last.
    durations: tuple[int, ...]
    #: The picture is the input video's (lipsync); else, without a resolution, audio only.
    follows_input: bool = False

    def describe(self) -> str:
        """``720p, 24 fps, 3-15 s`` and the like, for people."""
        if self.resolution is None:
            picture = "as the input video" if self.follows_input else "audio only"
        else:
            size = "4K" if self.resolution == 2160 else f"{self.resolution}p"
            picture = f"{size}, {self.fps} fps"
        if not self.durations:
            return picture
        low, high = self.durations[0], self.durations[-1]
        span = f"{low}/{high} s" if self.durations == (5, 10) else f"{low}-{high} s"
        return f"{picture}, {span}"
