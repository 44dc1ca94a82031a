"""``SpeechEngine``: Kling's text-to-speech on espeak-ng (no weights, CPU), as an MP3."""

from __future__ import annotations

import time

from vidserve.engines.base import (
    Engine,
    Kind,
    RenderedAudio,
    RenderedVideo,
    RunContext,
    VideoRequest,
)
from vidserve.engines.registry import SPEECH_CAPABILITIES
from vidserve.engines.speech.synthesizer import synthesize
from vidserve.errors import EngineError

OUTPUT_NAME = "output.mp3"


class SpeechEngine(Engine):
    """Speaks a request's :class:`~vidserve.engines.base.Utterance` in the Kling voice it
    names (``engines/speech/voices.py`` maps each to an espeak-ng voice)."""

    name = "speech"
    capabilities = SPEECH_CAPABILITIES

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo | RenderedAudio:
        """Write the speech to ``ctx.workdir / "output.mp3"``."""
        from vidserve.media.audio import Audio, encode_audio

        said = request.utterance
        if request.kind is not Kind.TEXT_TO_SPEECH or said is None:
            raise EngineError(
                f"the speech engine makes text-to-speech only, not {request.kind}",
                "unsupported_input",
            )
        started = time.perf_counter()
        speech = synthesize(
            said.text,
            said.voice_id,
            language=said.language,
            speed=said.speed,
            cancel=lambda: ctx.cancelled,
        )
        ctx.progress(0.9)
        path = ctx.workdir / OUTPUT_NAME
        content_type = encode_audio(Audio(speech.samples, speech.sample_rate), path, "mp3")
        ctx.log(
            f"speech: {speech.duration:.2f} s in voice {said.voice_id} ({speech.language}) "
            f"at {said.speed:g}x, {len(speech.phonemes)} phonemes, "
            f"in {time.perf_counter() - started:.2f} s"
        )
        ctx.progress(1.0)
        return RenderedAudio(path, speech.duration, content_type)
