"""What the diffusion families share about a request's shape, without importing torch: the
check that refuses what a weights folder cannot do, the storyboard's split into generations,
and the loop that renders them into one MP4 (it imports :mod:`.runtime` only when it runs).

A request is one generation; a storyboard is one per shot, in order, with the shot's prompt.
Every shot after the first starts from the last frame of the one before (an image-to-video
generation) when the folder can take a start image, and drops that first frame, which only
repeats the frame it started from. A folder that cannot take an image (text-to-video only)
starts each shot afresh: a cut, said in the request's log. Either way the video has exactly
the frames the shots contribute, as many as one generation of the whole duration would have.
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


def shot_frames(
    request: VideoRequest, fps: int, multiple: int, max_frames: int | None = None
) -> tuple[int, ...]:
    """The frames each generation of ``request`` renders (each ``multiple * k + 1``).

    A plain request is one generation of :func:`frame_count` frames. A storyboard splits the
    ``k`` steps of its whole duration among its shots, in proportion to their durations
    (each shot at least one step); ``max_frames`` caps each shot, not the whole, since it
    bounds what one generation holds in memory. Raises EngineError when the duration has
    fewer steps than the storyboard has shots.
    """
    if not request.shots:
        return (frame_count(request.duration, fps, multiple, max_frames),)
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
    cap = None if max_frames is None else max(1, (max_frames - 1) // multiple)
    return tuple(
        multiple * (k if cap is None else min(k, cap)) + 1
        for k in (end - start for start, end in zip([0, *ends[:-1]], ends, strict=True))
    )


def video_frames(frames: tuple[int, ...]) -> int:
    """The frames a video of these generations has: each after the first drops one."""
    return frames[0] + sum(n - 1 for n in frames[1:])


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
    frames: tuple[int, ...],
    *,
    fps: int,
    steps: int,
    ctx: RunContext,
    render: Renderer,
    chain: bool,
) -> RenderedVideo:
    """Render the generations ``frames`` (from :func:`shot_frames`) of ``request`` with
    ``render`` into ``ctx.workdir / "output.mp4"``, streaming each shot into the file as it
    is decoded. ``chain``: the folder can start a shot from the previous shot's last frame.
    """
    from vidserve.engines.diffusers import runtime

    count = len(frames)
    prompts = [shot.prompt or request.prompt for shot in request.shots] or [request.prompt]
    if count > 1:
        how = (
            "each from the last frame of the one before"
            if chain
            else "each starting fresh (this model cannot start from an image, so shots cut)"
        )
        ctx.log(
            f"{family}: storyboard of {count} shots ({'+'.join(map(str, frames))} frames), {how}"
        )
    path = ctx.workdir / "output.mp4"
    start = request.start_image
    with runtime.ClipWriter(path, fps, ctx) as clip:
        for index, num_frames in enumerate(frames):
            ctx.check_cancelled()
            shot = ShotInput(
                index=index,
                prompt=prompts[index],
                num_frames=num_frames,
                seed=None if request.seed is None else request.seed + index,
                start_image=start,
                end_image=request.end_image if index == count - 1 else None,
            )
            if count > 1:
                ctx.log(f"{family}: shot {index + 1}/{count}, {num_frames} frames: {shot.prompt!r}")
            share = runtime.DENOISE_SHARE / count
            reporter = runtime.StepReporter(
                ctx,
                steps,
                family,
                span=(share * index, share * (index + 1)),
                shot=f"shot {index + 1}/{count}" if count > 1 else "",
            )
            last = clip.add(render(shot, reporter), skip_first=index > 0)
            start = last if chain else None
        width, height, written = clip.close()
    return RenderedVideo(path, width, height, fps, written, seed=request.seed)
