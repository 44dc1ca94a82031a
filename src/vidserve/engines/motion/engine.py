"""``MotionEngine``: the built-in CPU engine, OpenCV rendering streamed into PyAV encoding."""

from __future__ import annotations

import time

from vidserve.engines.base import (
    GENTLE_PUSH_IN,
    CameraMotion,
    Engine,
    Image,
    Kind,
    RenderedVideo,
    RunContext,
    VideoRequest,
)
from vidserve.engines.motion.actions import with_prompt_actions
from vidserve.engines.motion.brush import BrushRender
from vidserve.engines.motion.camera import CameraRender
from vidserve.engines.motion.effects import effect_source
from vidserve.engines.motion.fit import CoverFit
from vidserve.engines.motion.moves import describe
from vidserve.engines.motion.parallax import find_person
from vidserve.engines.motion.path import Trajectory
from vidserve.engines.motion.prompt import camera_from_prompt
from vidserve.engines.motion.references import reference_source
from vidserve.engines.motion.sequence import FrameSource
from vidserve.engines.motion.shots import storyboard_source
from vidserve.engines.motion.transition import TransitionRender
from vidserve.engines.registry import MOTION_CAPABILITIES
from vidserve.errors import EngineError
from vidserve.media.video import EncoderError, VideoWriter
from vidserve.schema import ErrorType

__all__ = ["FrameSource", "MotionEngine"]

OUTPUT_NAME = "output.mp4"


class MotionEngine(Engine):
    """Animates pictures without model weights.

    By the request's kind:

    - image-to-video, one of four modes, chosen in this order: a storyboard when there are
      shots (:mod:`.shots`: a camera move per shot); a start-to-end transition when there is
      an end image; a motion brush when there are masks; else a camera move: the request's,
      else the one the prompt's camera phrases name (:mod:`.prompt`), else
      :data:`GENTLE_PUSH_IN`;
    - elements and reference-to-video: the images in turn, morphing into each other
      (:mod:`.references`);
    - effects: the named scene (:mod:`.effects`);
    - text-to-video: refused (there is no picture to animate).

    Over every mode but effects, the prompt's actions (:mod:`.actions`): weather and
    particles drawn over the frames, faces that blink, nod, turn or smile, and the rest
    named in the log and the result's warnings as needing a diffusion engine.

    Rendering is deterministic (the seed seeds the procedural effects and particles), so the
    same request gives the same bytes.
    """

    name = "motion"
    capabilities = MOTION_CAPABILITIES

    def __init__(self, *, crf: int = 20, preset: str = "veryfast", threads: int = 2) -> None:
        self.crf = crf
        self.preset = preset
        self.threads = threads

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        """Render ``request`` to ``ctx.workdir / "output.mp4"`` (H.264, yuv420p)."""
        width, height, fps, count = request.width, request.height, request.fps, request.num_frames
        if width % 2 or height % 2:
            raise EngineError(
                f"the motion engine encodes yuv420p, which needs an even size; got "
                f"{width}x{height}",
                "invalid_output_size",
            )
        started = time.perf_counter()
        source, mode = self.frame_source(request, ctx)
        notes: tuple[str, ...] = ()
        if request.kind is not Kind.EFFECTS:  # an effect's prompt names the effect itself
            source, notes = with_prompt_actions(source, request, ctx, None)
        ctx.log(f"motion: rendering {mode}, {width}x{height} at {fps} fps, {count} frames")
        path = ctx.workdir / OUTPUT_NAME
        try:
            with VideoWriter(
                path, width, height, fps, crf=self.crf, preset=self.preset, threads=self.threads
            ) as writer:
                for index in range(count):
                    ctx.check_cancelled()
                    writer.write(source.frame(index))
                    ctx.progress((index + 1) / count)
        except EncoderError as exc:
            raise EngineError(str(exc), ErrorType.ENCODING) from exc
        ctx.log(f"motion: rendered and encoded in {time.perf_counter() - started:.2f} s")
        return RenderedVideo(
            path=path,
            width=width,
            height=height,
            fps=fps,
            num_frames=count,
            seed=request.seed,
            notes=notes,
        )

    def frame_source(self, request: VideoRequest, ctx: RunContext) -> tuple[FrameSource, str]:
        """The renderer for ``request``'s mode, and the mode's name for the log."""
        kind = request.kind
        if kind not in self.capabilities.kinds:
            raise EngineError(
                f"the motion engine does not make {kind} videos: it animates the pictures a "
                "request brings, and this kind brings none; it makes "
                f"{', '.join(sorted(self.capabilities.kinds))} (serve text-to-video with a "
                "diffusion engine: wan, ltx or cogvideox)",
                "unsupported_input",
            )
        if kind == Kind.EFFECTS:
            return effect_source(request, ctx)
        if kind in (Kind.ELEMENTS, Kind.REFERENCE_TO_VIDEO):
            return reference_source(request, ctx)
        start = request.start_image
        if start is None:
            raise EngineError("image-to-video needs a start image; got none", "unsupported_input")
        fit = CoverFit.create(start.shape[1], start.shape[0], request.width, request.height)
        for note in fit.notes("the start image"):
            ctx.log(f"motion: {note}")
        if request.shots:
            timeline = storyboard_source(request, start, ctx)
            return timeline, f"a storyboard of {len(request.shots)} shots"
        return _image_to_video(request, start, fit, ctx)


def _image_to_video(
    request: VideoRequest, start: Image, fit: CoverFit, ctx: RunContext
) -> tuple[FrameSource, str]:
    """One shot over ``start`` (``fit`` covers the frame with it): a transition, a motion
    brush or a camera move."""
    width, height, count = request.width, request.height, request.num_frames
    if request.end_image is not None:
        end = request.end_image
        if request.camera is not None or request.has_motion_brush:
            ctx.log("motion: an end image is set; camera and motion brush are ignored")
        end_fit = CoverFit.create(end.shape[1], end.shape[0], width, height)
        for note in end_fit.notes("the end image"):
            ctx.log(f"motion: {note}")
        transition = TransitionRender(fit.image(start), end_fit.image(end), count, ctx.log)
        return transition, "a start-to-end transition"
    if request.has_motion_brush:
        if request.camera is not None:
            ctx.log("motion: a motion brush is set; the camera move is ignored")
        masks = [fit.mask(dynamic.mask) for dynamic in request.dynamic_masks]
        paths = [
            Trajectory([fit.point(x, y) for x, y in dynamic.trajectory])
            for dynamic in request.dynamic_masks
        ]
        static = None if request.static_mask is None else fit.mask(request.static_mask)
        brush = BrushRender(fit.image(start), masks, paths, static, count)
        return brush, f"a motion brush ({len(masks)} moving regions)"
    camera, origin = _camera(request)
    person, layers = find_person(start, ctx)
    render = CameraRender(start, camera, width, height, count, person)
    return render, f"a camera move ({describe(camera)}; {origin}; {layers})"


def _camera(request: VideoRequest) -> tuple[CameraMotion, str]:
    """The move to make and where it came from: the request, the prompt, or the default."""
    if request.camera is not None:
        return request.camera, "requested"
    named = camera_from_prompt(request.prompt)
    if named is not None:
        return named.motion, "from the prompt: " + ", ".join(repr(p) for p in named.phrases)
    return GENTLE_PUSH_IN, "the default move"
