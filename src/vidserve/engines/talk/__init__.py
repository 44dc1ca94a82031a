"""The talk engine: Kling's lipsync (a video's face re-animated to new speech, from audio or
from text) and AI avatars (a photo made to speak, with blinks and head motion), on the CPU
with no model weights. See :class:`TalkEngine`; the parts:

- :mod:`.drive`: the mouth's openness and width per frame, from audio (loudness and spectral
  centroid, attack/release smoothed) or from phonemes (each viseme's shape, coarticulated);
- :mod:`.mouth` and :mod:`.interior`: the lips and jaw moved by a piecewise-affine warp over
  the face mesh's lower-face landmarks (:mod:`.warp`), and the opened mouth's inside drawn;
- :mod:`.eyes` and :mod:`.head`: seeded blinks and head sway (avatars only);
- :mod:`.lipsync` and :mod:`.avatar`: the two kinds' frame loops.

What this engine cannot do (a warp is not a generative model): a mouth that is wide open in
the input video can be closed only part way; a profile or a face under ~60 px wide moves
poorly; teeth and tongue are drawn, not the speaker's own (a photo that shows its teeth keeps
them).

A neural lipsync model in place of this one
-------------------------------------------

An operator's engine is named ``package.module:Factory`` in the engines configuration
(``[engines.mylipsync] engine = "mypkg.lipsync:Wav2LipEngine"``, ``weights = "/models/..."``,
and ``[endpoints]`` mapping the lipsync and avatar endpoints to it). The factory is called
with the weights folder (when one is configured) and the table's other keys as keywords; it
runs in a child process by default, so a CUDA crash ends the job, not the worker. It is an
:class:`~vidserve.engines.base.Engine` that:

- declares ``capabilities = Capabilities(kinds=frozenset({Kind.LIPSYNC}))`` (add
  ``Kind.AVATAR`` if it animates photos too) and no features;
- implements ``generate(request, ctx) -> RenderedVideo``, reading from ``request``:

  - ``kind``: ``Kind.LIPSYNC`` or ``Kind.AVATAR``;
  - ``video_path`` (lipsync): the input MP4/MOV in ``ctx.workdir``; stream it with
    ``vidserve.media.video_input.open_video(path, ("body", "video_url"))`` and ``.frames()``
    (RGB ``uint8``, rotation applied), never the whole clip in memory;
  - ``start_image`` (avatar): the photo, RGB ``uint8`` ``(h, w, 3)``;
  - ``audio``: the speech, ``vidserve.media.audio.Audio`` (mono ``float32`` samples in
    [-1, 1] and ``sample_rate``; resample with ``media.audio.resample``, e.g. to 16 kHz for
    a mel front end); or, when it is None, ``utterance`` (``text``, ``voice_id``,
    ``language``, ``speed``), to speak with ``vidserve.engines.speech.synthesize`` (which
    also times each phoneme) or the model's own voice;
  - ``width``, ``height``, ``fps``, ``duration``, ``num_frames``: the output, set by the
    adapter (lipsync: the input video's size, rate and length; avatar: the tier's size at
    the photo's aspect and the audio's length); ``seed`` for anything random;

- writes an H.264 MP4 of exactly ``num_frames`` frames at ``width x height`` and ``fps``
  into ``ctx.workdir`` with the speech as its audio track, both starting at 0:
  ``VideoWriter(path, width, height, fps, audio=audio, audio_fit="pad")`` does that while
  frames stream; speech shorter than the video ends in silence;
- returns ``RenderedVideo(path, width, height, fps, num_frames, seed=request.seed)``;
- calls ``ctx.check_cancelled()`` and ``ctx.progress(fraction)`` every frame (or batch) and
  ``ctx.log(...)`` for what the client should see;
- raises ``InputError.at(("body", "video_url"), "no face found ...", "face_not_found")``
  (``image_url`` for a photo) for input it cannot use, ``audio_url`` for silent audio
  (``media.audio.check_not_silent``), and ``EngineError`` for anything else it cannot do.

:mod:`vidserve.engines.faces` (detection, the 468-point mesh, ``FaceTracker``) gives such a
model its face crops without another face detector.
"""

from vidserve.engines.talk.engine import TalkEngine

__all__ = ["TalkEngine"]
