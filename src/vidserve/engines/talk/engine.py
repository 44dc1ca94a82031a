"""``TalkEngine``: Kling's lipsync and AI-avatar endpoints on the CPU, without model weights."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from vidserve.engines.base import (
    Engine,
    Image,
    Kind,
    RenderedVideo,
    RunContext,
    VideoRequest,
)
from vidserve.engines.registry import TALK_CAPABILITIES
from vidserve.engines.speech import PhonemeEvent, synthesize
from vidserve.engines.talk.avatar import AvatarRender
from vidserve.engines.talk.drive import MouthTrack, from_audio, from_phonemes
from vidserve.engines.talk.lipsync import LipsyncRender, open_input
from vidserve.errors import EngineError
from vidserve.media.audio import Audio, check_not_silent
from vidserve.media.video import EncoderError, VideoWriter
from vidserve.schema import ErrorType

OUTPUT_NAME = "output.mp4"
AUDIO_LOC = ("body", "audio_url")

#: Lipsync and avatars; no other kind, no other feature.


class TalkEngine(Engine):
    """Makes faces speak: a video's face re-animated to new speech (lipsync, from audio or
    from text spoken with :mod:`vidserve.engines.speech`), or a photo made into a talking
    avatar with blinks and head motion. The speech is the output's audio track.

    Deterministic: the same request (its seed included) gives the same frames.
    """

    name = "talk"
    capabilities = TALK_CAPABILITIES

    def __init__(self, *, crf: int = 20, preset: str = "veryfast", threads: int = 2) -> None:
        self.crf = crf
        self.preset = preset
        self.threads = threads

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo:
        """Render ``request`` to ``ctx.workdir / "output.mp4"`` (H.264 with an AAC track)."""
        if request.kind not in self.capabilities.kinds:
            raise EngineError(
                f"the talk engine does not make {request.kind} videos; it makes "
                f"{', '.join(sorted(self.capabilities.kinds))}",
                "unsupported_input",
            )
        started = time.perf_counter()
        # yuv420p needs an even size: an odd side loses its last pixel to the fit.
        width, height = request.width // 2 * 2, request.height // 2 * 2
        if (width, height) != (request.width, request.height):
            ctx.log(f"talk: {request.width}x{request.height} encoded as {width}x{height} "
                    "(H.264 4:2:0 needs even sides)")  # fmt: skip
        fps, count = request.fps, request.num_frames
        audio, phonemes = self._speech(request, ctx)
        audio = _clamped(audio, count / fps, 1 / fps, ctx)
        track = _track(audio, phonemes, fps, count)
        frames = self._frames(request, ctx, width, height, track)
        path = ctx.workdir / OUTPUT_NAME
        try:
            with VideoWriter(
                path, width, height, fps, crf=self.crf, preset=self.preset,
                threads=self.threads, audio=audio, audio_fit="pad",
            ) as writer:  # fmt: skip
                for index, frame in enumerate(frames):
                    ctx.check_cancelled()
                    writer.write(frame)
                    ctx.progress((index + 1) / count)
        except EncoderError as exc:
            raise EngineError(str(exc), ErrorType.ENCODING) from exc
        ctx.log(f"talk: {count} frames at {width}x{height}, {fps} fps, rendered and encoded "
                f"in {time.perf_counter() - started:.2f} s")  # fmt: skip
        return RenderedVideo(
            path=path, width=width, height=height, fps=fps, num_frames=count, seed=request.seed
        )

    def _speech(
        self, request: VideoRequest, ctx: RunContext
    ) -> tuple[Audio, tuple[PhonemeEvent, ...] | None]:
        """The speech to say, and its phonemes when it was made from text."""
        if request.audio is not None:
            check_not_silent(request.audio, AUDIO_LOC)
            return request.audio, None
        if request.utterance is None:
            raise EngineError(
                f"a {request.kind} request needs speech: audio or text to say; it has neither",
                "unsupported_input",
            )
        said = request.utterance
        speech = synthesize(
            said.text, said.voice_id, language=said.language, speed=said.speed,
            cancel=lambda: ctx.cancelled,
        )  # fmt: skip
        ctx.log(f"talk: spoke {len(said.text)} characters as {said.voice_id!r} "
                f"({speech.language}, x{said.speed:g}): {speech.duration:.2f} s, "
                f"{len(speech.phonemes)} phonemes")  # fmt: skip
        return Audio(speech.samples, speech.sample_rate), speech.phonemes

    def _frames(
        self, request: VideoRequest, ctx: RunContext, width: int, height: int, track: MouthTrack
    ) -> Iterator[Image]:
        count = request.num_frames
        if request.kind == Kind.AVATAR:
            if request.start_image is None:
                raise EngineError("an avatar request needs a photo; it has none",
                                  "unsupported_input")  # fmt: skip
            seed = request.seed if request.seed is not None else 0
            avatar = AvatarRender(request.start_image, width, height, request.fps, track,
                                  count, seed, ctx)  # fmt: skip
            ctx.log(
                f"talk: avatar, {count} frames, blinks at "
                + ", ".join(f"{t:.1f}" for t in avatar.blinks)
                + " s"
            )
            return avatar.frames()
        if request.video_path is None:
            raise EngineError("a lipsync request needs a video; it has none", "unsupported_input")
        render = LipsyncRender(open_input(request.video_path), width, height, track, count)
        render.find_face(ctx)
        return _logging_losses(render, ctx)


def _logging_losses(render: LipsyncRender, ctx: RunContext) -> Iterator[Image]:
    yield from render.frames()
    if render.lost:
        ctx.log(f"talk: the face was not found in {render.lost} of {render.count} frames; "
                "they are left as they were", "WARNING")  # fmt: skip


def _clamped(audio: Audio, seconds: float, slack: float, ctx: RunContext) -> Audio:
    """``audio`` cut at ``seconds`` when it runs more than ``slack`` seconds longer (the
    adapters refuse that; this is a guard), so the track never outlasts the picture."""
    keep = round(seconds * audio.sample_rate)
    if audio.duration <= seconds + slack:
        return audio
    ctx.log(f"talk: the speech ({audio.duration:.2f} s) is longer than the video "
            f"({seconds:.2f} s); it is cut there", "WARNING")  # fmt: skip
    return Audio(np.ascontiguousarray(audio.samples[:keep]), audio.sample_rate)


def _track(
    audio: Audio, phonemes: tuple[PhonemeEvent, ...] | None, fps: int, count: int
) -> MouthTrack:
    if phonemes is not None:
        return from_phonemes(phonemes, audio, fps, count)
    return from_audio(audio, fps, count)
