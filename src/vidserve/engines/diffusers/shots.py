"""What the diffusion families share about a request's shape, without importing torch: the
check that refuses what a weights folder cannot do, the storyboard's split into generations,
and the loop that renders them into one MP4 (it imports :mod:`.runtime` only when it runs).

A request is one generation; a storyboard is one per shot, in order, with the shot's prompt.
Every shot after the first starts from the last frame of the one before (an image-to-video
generation) when the folder can take a start image, and drops that first frame, which only
repeats the frame it started from. A folder that cannot take an image (text-to-video only)
starts each shot afresh: a cut, said in the request's log. Either way the video has exactly
the frames the shots contribute, as many as one generation of the whole duration would have.

A shot longer than the model renders at once becomes parts, consecutive generations of the
same prompt each continuing from the last frame of the one before; a folder that cannot
continue from a frame renders at a lower fps instead (:func:`fit_duration`). The video is
never shorter than the request's duration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vidserve.engines.base import (
    Capabilities,
    Image,
    Kind,
    RenderedVideo,
    RunContext,
    VideoRequest,
)
from vidserve.engines.diffusers.common import frame_count
from vidserve.errors import EngineError

if TYPE_CHECKING:
    from vidserve.engines.diffusers.runtime import StepReporter


def refuse_unsupported(
    family: str, label: str, capabilities: Capabilities, request: VideoRequest
) -> None:
    """Raise an ``unsupported_input`` EngineError naming everything in ``request`` that the
    model ``label`` cannot honour (or that its kind lacks), so nothing is silently dropped.

    The API refuses these before they are queued; this is the engine's own guard."""
    gaps = capabilities.missing(request.kind, request.features)
    kind = request.kind
    if request.start_image is not None and kind is Kind.TEXT_TO_VIDEO:
        gaps.append("a start image with text-to-video")
    if request.reference_images and kind is not Kind.REFERENCE_TO_VIDEO:
        gaps.append(f"reference images with {kind} video")
    most = capabilities.max_reference_images
    if kind is Kind.REFERENCE_TO_VIDEO and len(request.reference_images) > most:
        gaps.append(f"{len(request.reference_images)} reference images (it uses at most {most})")
    if request.effect is not None:
        gaps.append(f"the effect scene {request.effect!r}")
    if gaps:
        raise EngineError(
            f"{family}: this engine runs {label}, which cannot make {'; '.join(gaps)}",
            "unsupported_input",
        )
    if kind is Kind.IMAGE_TO_VIDEO and request.start_image is None:
        raise EngineError(f"{family}: image-to-video needs a start image", "unsupported_input")
    if kind is Kind.REFERENCE_TO_VIDEO and not request.reference_images:
        raise EngineError(
            f"{family}: reference-to-video needs at least one reference image",
            "unsupported_input",
        )


def inputs_of(request: VideoRequest) -> str:
    """What ``request`` renders from, for the log: "a start frame", "text"..."""
    parts = []
    if request.reference_images:
        count = len(request.reference_images)
        parts.append(f"{count} reference image{'s' if count > 1 else ''}")
    if request.start_image is not None and request.end_image is not None:
        parts.append("start and end frames")
    elif request.start_image is not None:
        parts.append("a start frame")
    elif request.end_image is not None:
        parts.append("an end frame")
    return " and ".join(parts) or "text"


def shot_frames(request: VideoRequest, fps: int, multiple: int) -> tuple[int, ...]:
    """The frames each shot of ``request`` has (each ``multiple * k + 1``), however many
    generations the model needs for it (see :func:`fit_duration`).

    A plain request is one shot of :func:`frame_count` frames. A storyboard splits the ``k``
    steps of its whole duration among its shots, in proportion to their durations (each
    shot at least one step). Raises EngineError when the duration has fewer steps than the
    storyboard has shots.
    """
    if not request.shots:
        return (frame_count(request.duration, fps, multiple),)
    steps = (frame_count(request.duration, fps, multiple) - 1) // multiple
    count = len(request.shots)
    if steps < count:
        raise EngineError(
            f"a storyboard of {count} shots in {request.duration:g} s needs at least "
            f"{count * multiple + 1} frames at {fps} fps; this model renders "
            f"{steps * multiple + 1}",
            "unsupported_input",
        )
    total = sum(shot.duration for shot in request.shots)
    ends: list[int] = []
    elapsed = 0.0
    for index, shot in enumerate(request.shots):
        elapsed += shot.duration
        # The step nearest the shot's end, leaving every shot at least one.
        lowest = (ends[-1] if ends else 0) + 1
        highest = steps - (count - 1 - index)
        ends.append(min(max(round(elapsed / total * steps), lowest), highest))
    ends[-1] = steps
    return tuple(
        multiple * (end - start) + 1 for start, end in zip([0, *ends[:-1]], ends, strict=True)
    )


def video_frames(frames: tuple[int, ...]) -> int:
    """The frames a video of these generations has: each after the first drops one."""
    return frames[0] + sum(n - 1 for n in frames[1:])


@dataclass(frozen=True)
class Generation:
    """One call of the pipeline: ``frames`` frames of shot ``shot`` (part ``part`` of
    ``parts`` when the shot is longer than the model renders at once)."""

    shot: int
    frames: int
    part: int = 0
    parts: int = 1


@dataclass(frozen=True)
class Timing:
    """How a request's duration is rendered: at ``fps``, in these generations."""

    fps: int
    generations: tuple[Generation, ...]
    #: What differs from one generation at the family's fps, for the log and the result's
    #: warnings; None when nothing does.
    note: str | None = None

    @property
    def num_frames(self) -> int:
        """Frames of the video: each generation after the first drops the one it starts
        from."""
        return video_frames(tuple(g.frames for g in self.generations))


def split_shot(shot: int, frames: int, multiple: int, cap: int) -> list[Generation]:
    """``frames`` (``multiple * k + 1``) as the fewest generations of at most ``cap``
    frames, as even as can be, which together (less each later one's first frame) have the
    same frames."""
    steps = (frames - 1) // multiple
    most = max(1, (cap - 1) // multiple)
    parts = -(-steps // most)
    base, extra = divmod(steps, parts)
    return [
        Generation(shot, multiple * (base + (1 if i < extra else 0)) + 1, i, parts)
        for i in range(parts)
    ]


def fit_duration(
    request: VideoRequest,
    fps: int,
    multiple: int,
    max_frames: int | None,
    *,
    chain: bool,
    label: str,
) -> Timing:
    """Render ``request``'s whole duration with a model that makes at most ``max_frames``
    frames at once: a longer shot becomes consecutive generations, each continuing from the
    last frame of the one before (``chain``: the folder takes a start image); a folder that
    cannot continue renders at the highest lower fps whose frames fit. Never a shorter video:
    what fits neither way is an ``unsupported_input`` EngineError."""
    frames = shot_frames(request, fps, multiple)
    if max_frames is None or max(frames) <= max_frames:
        return Timing(fps, tuple(Generation(i, n) for i, n in enumerate(frames)))
    if chain:
        generations = tuple(
            g for i, n in enumerate(frames) for g in split_shot(i, n, multiple, max_frames)
        )
        note = (
            f"{label} renders at most {max_frames} frames at once: rendered as "
            f"{len(generations)} generations, each continuing from the last frame of the one "
            "before"
        )
        return Timing(fps, generations, note)
    for lower in range(fps - 1, 0, -1):
        try:
            frames = shot_frames(request, lower, multiple)
        except EngineError:
            break
        if max(frames) <= max_frames:
            note = (
                f"{label} renders at most {max_frames} frames at once and cannot continue "
                f"from a frame: rendered at {lower} fps instead of {fps} to last the "
                f"{request.duration:g} s asked"
            )
            return Timing(lower, tuple(Generation(i, n) for i, n in enumerate(frames)), note)
    raise EngineError(
        f"{label} renders at most {max_frames} frames at once and cannot continue from a "
        f"frame, so it cannot make {request.duration:g} s; ask for a shorter video",
        "unsupported_input",
    )


@dataclass(frozen=True)
class ShotInput:
    """One generation of a request, as the family's renderer gets it."""

    index: int
    prompt: str
    num_frames: int
    seed: int | None
    #: The request's start image for the first shot, the previous shot's last frame after
    #: it (None for text-to-video and for folders that cannot start from an image).
    start_image: Image | None
    #: The request's end image, on the last shot only.
    end_image: Image | None


#: Renders one shot: returns the decoded video tensor ``(F, C, H, W)`` in [0, 1].
Renderer = Callable[[ShotInput, "StepReporter"], Any]


def render_shots(
    family: str,
    request: VideoRequest,
    timing: Timing,
    *,
    steps: int,
    ctx: RunContext,
    render: Renderer,
    chain: bool,
) -> RenderedVideo:
    """Render the generations of ``timing`` (from :func:`fit_duration`) with ``render``
    into ``ctx.workdir / "output.mp4"``, streaming each into the file as it is decoded.
    ``chain``: the folder can start a generation from the previous one's last frame.

    The video's ``metrics`` hold ``seconds_per_step`` (all generations together) and, on a
    GPU, ``peak_gpu_memory_mb``; the timing's note becomes its warning.
    """
    from vidserve.engines.diffusers import runtime

    generations = timing.generations
    count = len(generations)
    shots = len(request.shots) or 1
    prompts = [shot.prompt or request.prompt for shot in request.shots] or [request.prompt]
    if shots > 1:
        how = (
            "each from the last frame of the one before"
            if chain
            else "each starting fresh (this model cannot start from an image, so shots cut)"
        )
        per_shot = [1] * shots
        for generation in generations:
            per_shot[generation.shot] += generation.frames - 1
        sizes = "+".join(map(str, per_shot))
        ctx.log(f"{family}: storyboard of {shots} shots ({sizes} frames), {how}")
    if timing.note:
        ctx.log(f"{family}: {timing.note}", "WARN")
    path = ctx.workdir / "output.mp4"
    start = request.start_image
    meter = runtime.StepMeter()
    with runtime.ClipWriter(path, timing.fps, ctx) as clip:
        for index, generation in enumerate(generations):
            ctx.check_cancelled()
            shot = ShotInput(
                index=index,
                prompt=prompts[generation.shot],
                num_frames=generation.frames,
                seed=None if request.seed is None else request.seed + index,
                start_image=start,
                end_image=request.end_image if index == count - 1 else None,
            )
            where = _where(generation, shots)
            if count > 1:
                ctx.log(f"{family}: {where}, {generation.frames} frames: {shot.prompt!r}")
            share = runtime.DENOISE_SHARE / count
            reporter = runtime.StepReporter(
                ctx, steps, family, span=(share * index, share * (index + 1)), shot=where
            )
            video = render(shot, reporter)
            meter.add(reporter)
            last = clip.add(video, skip_first=index > 0)
            start = last if chain else None
        width, height, written = clip.close()
    metrics = meter.metrics()
    ctx.log(f"{family}: {meter.describe()}")
    warnings = (timing.note,) if timing.note else ()
    return RenderedVideo(
        path,
        width,
        height,
        timing.fps,
        written,
        seed=request.seed,
        notes=warnings,
        metrics=metrics,
    )


def _where(generation: Generation, shots: int) -> str:
    """Where a log line or a cancel came: "shot 2/3", "part 1/2" or "shot 2/3, part 1/2"."""
    parts = []
    if shots > 1:
        parts.append(f"shot {generation.shot + 1}/{shots}")
    if generation.parts > 1:
        parts.append(f"part {generation.part + 1}/{generation.parts}")
    return ", ".join(parts)
