"""The engine contract: ``Engine.generate(VideoRequest, RunContext) -> RenderedVideo``.

An engine sees decoded images and an engine-neutral request; it knows nothing of HTTP,
queues or storage. Endpoint adapters own every Kling rule (defaults, tiers, coordinate
origins); engines own none.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vidserve.errors import CancelledError

#: An RGB image, ``uint8`` of shape ``(height, width, 3)``.
Image = npt.NDArray[np.uint8]
#: A single-channel mask, ``uint8`` of shape ``(height, width)``; 255 = inside.
Mask = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class CameraMotion:
    """One camera move over the whole clip, in Kling's units: each axis in [-10, 10].

    ``horizontal``/``vertical`` move the camera (+right/+up); ``pan`` turns it about the x
    axis (+up) and ``tilt`` about the y axis (+right), as Kling's English docs define them
    (its Chinese docs swap the two); ``roll`` turns it about the optical axis (+clockwise);
    ``zoom`` changes the field of view (+ wider, i.e. out; - narrower, i.e. in). Several axes
    may be set at once (Kling's presets combine moves). All zero: a still camera.
    """

    horizontal: float = 0.0
    vertical: float = 0.0
    pan: float = 0.0
    tilt: float = 0.0
    roll: float = 0.0
    zoom: float = 0.0

    def __post_init__(self) -> None:
        for name in ("horizontal", "vertical", "pan", "tilt", "roll", "zoom"):
            if not -10.0 <= getattr(self, name) <= 10.0:
                raise ValueError(f"camera {name} must be in [-10, 10]; got {getattr(self, name)}")

    @property
    def is_still(self) -> bool:
        """True when no axis moves."""
        return not any((self.horizontal, self.vertical, self.pan, self.tilt, self.roll, self.zoom))


#: The move used when a request asks for none: a gentle push-in.
GENTLE_PUSH_IN = CameraMotion(zoom=-3.0)


@dataclass(frozen=True)
class DynamicMask:
    """A region of the start image and the path it travels.

    ``trajectory`` holds ``(x, y)`` points in pixels of the start image with the origin at the
    top-left (adapters convert Kling's bottom-left origin); at least two points.
    """

    mask: Mask
    trajectory: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class VideoRequest:
    """What to render, independent of any API: every field already validated and defaulted."""

    start_image: Image
    prompt: str
    width: int
    height: int
    fps: int
    duration: float
    negative_prompt: str = ""
    #: Prompt adherence in [0, 1] (Kling's ``cfg_scale``); engines map it to their guidance.
    guidance: float = 0.5
    #: Adapters always set one (the caller's, or one chosen at random) and echo it.
    seed: int | None = None
    end_image: Image | None = None
    #: None: no explicit camera control (the engine may read the prompt or use a default).
    camera: CameraMotion | None = None
    static_mask: Mask | None = None
    dynamic_masks: tuple[DynamicMask, ...] = field(default_factory=tuple)

    @property
    def num_frames(self) -> int:
        return max(1, round(self.duration * self.fps))

    @property
    def has_motion_brush(self) -> bool:
        return self.static_mask is not None or bool(self.dynamic_masks)


@dataclass(frozen=True)
class RenderedVideo:
    """An encoded video an engine wrote into its run's work directory."""

    path: Path
    width: int
    height: int
    fps: int
    num_frames: int
    content_type: str = "video/mp4"
    seed: int | None = None


class RunContext(abc.ABC):
    """What a running engine may tell or ask the service: progress, logs and cancellation."""

    #: A private, empty directory for this run's files; removed after the run.
    workdir: Path

    @abc.abstractmethod
    def progress(self, fraction: float) -> None:
        """Report progress in [0, 1]. Cheap to call every frame or step."""

    @abc.abstractmethod
    def log(self, message: str, level: str = "INFO") -> None:
        """Add a log line the client sees in ``status?logs=1``."""

    @property
    @abc.abstractmethod
    def cancelled(self) -> bool:
        """True once the request has been cancelled; engines should stop promptly."""

    def check_cancelled(self) -> None:
        """Raise :class:`CancelledError` if the request was cancelled. Call it every frame/step."""
        if self.cancelled:
            raise CancelledError("request cancelled")


class Engine(abc.ABC):
    """Makes videos. One instance serves many requests, one at a time per worker."""

    name: str

    @abc.abstractmethod
    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        """Render ``request`` into a file under ``ctx.workdir``."""

    def close(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing
        """Release what the engine holds (models, child processes)."""
