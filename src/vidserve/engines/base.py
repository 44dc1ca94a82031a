"""The engine contract: ``Engine.generate(VideoRequest, RunContext) -> RenderedVideo``.

An engine sees decoded images and an engine-neutral request; it knows nothing of HTTP,
queues or storage. Endpoint adapters own every Kling rule (defaults, tiers, coordinate
origins); engines own none.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from vidserve.errors import CancelledError

if TYPE_CHECKING:
    from vidserve.media.audio import Audio


class Kind(StrEnum):
    """What an endpoint makes a video from; an engine serves some of these."""

    IMAGE_TO_VIDEO = "image-to-video"
    TEXT_TO_VIDEO = "text-to-video"
    #: Several images of one subject or scene (O1/O3 reference-to-video).
    REFERENCE_TO_VIDEO = "reference-to-video"
    #: Up to four images to combine (v1.6 elements).
    ELEMENTS = "elements"
    #: A named effect scene on one or two photos.
    EFFECTS = "effects"
    #: A video of a face made to speak given audio or text.
    LIPSYNC = "lipsync"
    #: A photo of a face made to speak given audio.
    AVATAR = "avatar"
    #: Speech from text: audio, no picture.
    TEXT_TO_SPEECH = "text-to-speech"


class Feature(StrEnum):
    """Things a request may ask for beyond its kind; an engine honours some of them."""

    END_IMAGE = "end_image"
    CAMERA = "camera"
    MOTION_BRUSH = "motion_brush"
    STORYBOARD = "storyboard"
    AUDIO = "audio"
    LORA = "lora"


@dataclass(frozen=True)
class Capabilities:
    """What an engine can honour. Declared by each engine class (and, for the registered
    engines, mirrored in the registry so the API can check a request without importing the
    engine). A request that asks for anything outside these is refused, never rendered
    without it."""

    kinds: frozenset[Kind]
    features: frozenset[Feature] = frozenset()
    #: Most reference images it uses (elements, reference-to-video, two-photo effects).
    max_reference_images: int = 0
    #: Effect scenes it can render (``Kind.EFFECTS``).
    effects: frozenset[str] = frozenset()

    def missing(self, kind: Kind, features: frozenset[Feature] = frozenset()) -> list[str]:
        """What of ``kind`` and ``features`` this engine cannot do, as phrases."""
        gaps = [] if kind in self.kinds else [f"{kind} video"]
        gaps += [FEATURE_PHRASES[f] for f in sorted(features - self.features)]
        return gaps


#: Each feature as the object of "cannot render ...".
FEATURE_PHRASES = {
    Feature.END_IMAGE: "an end frame",
    Feature.CAMERA: "a camera control",
    Feature.MOTION_BRUSH: "a motion brush",
    Feature.STORYBOARD: "a storyboard of shots (multi_prompt)",
    Feature.AUDIO: "audio",
    Feature.LORA: "LoRAs (loras)",
}

#: What an engine that declares nothing is taken to honour: image-to-video with every
#: control that kind had before capabilities existed.
IMAGE_TO_VIDEO_ONLY = Capabilities(
    frozenset({Kind.IMAGE_TO_VIDEO}),
    frozenset({Feature.END_IMAGE, Feature.CAMERA, Feature.MOTION_BRUSH}),
)


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
class Shot:
    """One shot of a storyboard: its own prompt, for ``duration`` seconds."""

    prompt: str
    duration: float


@dataclass(frozen=True)
class Utterance:
    """Text to say in one of Kling's voices (``voice_id``), in ``language`` (en or zh), at
    ``speed`` (1 is normal; 0.8 to 2)."""

    text: str
    voice_id: str
    language: str = "en"
    speed: float = 1.0


@dataclass(frozen=True)
class LoraWeight:
    """One LoRA a request picks: by the name an engine's configuration gives it, or by its
    file (inside the engine's configured folders), at ``scale`` (0 leaves it out; None: the
    configured scale, 1 for a file)."""

    name: str | None = None
    path: str | None = None
    scale: float | None = None


@dataclass(frozen=True)
class VideoRequest:
    """What to render, independent of any API: every field already validated and defaulted.

    ``kind`` says which inputs matter: image-to-video has a ``start_image``; text-to-video
    has none; elements and reference-to-video have ``reference_images`` (and maybe a start
    image); effects have an ``effect`` scene and its photos as ``reference_images``. A
    storyboard (``shots``) splits ``duration`` into shots whose durations add up to it.
    """

    prompt: str
    width: int
    height: int
    fps: int
    duration: float
    kind: Kind = Kind.IMAGE_TO_VIDEO
    start_image: Image | None = None
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
    #: Images in the order the request gave them (elements, references, effect photos).
    reference_images: tuple[Image, ...] = field(default_factory=tuple)
    #: An effect scene name (``Kind.EFFECTS``).
    effect: str | None = None
    shots: tuple[Shot, ...] = field(default_factory=tuple)
    #: The request wants sound; only set when the engine can make it (adapters drop a
    #: default wish the engine cannot honour, and say so).
    generate_audio: bool = False
    #: Speech to lip-sync to (lipsync from audio, avatars); the video lasts as long.
    audio: Audio | None = None
    #: Text to speak (lipsync from text, text-to-speech).
    utterance: Utterance | None = None
    #: A video input (lipsync): a file in the run's work directory, for the engine to stream.
    video_path: Path | None = None
    #: LoRAs the request picks (diffusion engines with LoRAs configured), in order.
    loras: tuple[LoraWeight, ...] = field(default_factory=tuple)

    @property
    def num_frames(self) -> int:
        return max(1, round(self.duration * self.fps))

    @property
    def features(self) -> frozenset[Feature]:
        """The features this request uses (what its engine must honour)."""
        used = {
            Feature.END_IMAGE: self.end_image is not None,
            Feature.CAMERA: self.camera is not None,
            Feature.MOTION_BRUSH: self.has_motion_brush,
            Feature.STORYBOARD: bool(self.shots),
            Feature.AUDIO: self.generate_audio,
            Feature.LORA: bool(self.loras),
        }
        return frozenset(f for f, on in used.items() if on)

    def shot_frames(self) -> list[int]:
        """Frames per shot, adding up to ``num_frames`` (one shot when there is no storyboard).

        Shot boundaries fall on the frames nearest each shot's end time, so rounding never
        makes the total drift."""
        if not self.shots:
            return [self.num_frames]
        ends, elapsed = [], 0.0
        for shot in self.shots:
            elapsed += shot.duration
            ends.append(round(elapsed / self.duration * self.num_frames))
        ends[-1] = self.num_frames
        return [end - start for start, end in zip([0, *ends[:-1]], ends, strict=True)]

    @property
    def has_motion_brush(self) -> bool:
        return self.static_mask is not None or bool(self.dynamic_masks)


@dataclass(frozen=True)
class RenderedAudio:
    """An encoded audio file an engine wrote into its run's work directory (text-to-speech)."""

    path: Path
    duration: float
    content_type: str = "audio/mpeg"


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
    #: What the result's ``warnings`` should say about this render (e.g. prompt actions the
    #: engine could not perform); the engine logs them too.
    notes: tuple[str, ...] = ()
    #: Figures the engine measured (e.g. ``peak_gpu_memory_mb``, ``seconds_per_step``); kept in
    #: the request's metrics beside ``inference_time``.
    metrics: Mapping[str, float] = field(default_factory=dict)


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
    #: What it honours; the worker refuses a request that asks for more.
    capabilities: Capabilities = IMAGE_TO_VIDEO_ONLY

    @abc.abstractmethod
    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo | RenderedAudio:
        """Render ``request`` into a file under ``ctx.workdir`` (audio for text-to-speech)."""

    def close(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing
        """Release what the engine holds (models, child processes)."""
