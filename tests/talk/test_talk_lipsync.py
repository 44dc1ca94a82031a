"""Lipsync: a video's face re-animated to new speech, from audio or from text. The lip gap
(measured with the face mesh on the output) follows the speech; after a speech shorter than
the video the mouth rests and the track is silent; the output keeps the input's size, rate
and length; bad input is refused at the field that brought it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from talk_media import (
    Measures,
    measured,
    measured_file,
    pearson,
    silence,
    speech_like,
)

from vidserve.engines.base import Image, Kind, RenderedVideo, Utterance, VideoRequest
from vidserve.engines.speech import DEFAULT_VOICE_ID, synthesize
from vidserve.engines.talk import TalkEngine
from vidserve.engines.talk.drive import SHAPES
from vidserve.errors import CancelledError, EngineError, InputError
from vidserve.media.audio import Audio, decode_audio, loudest_db, loudness_envelope
from vidserve.media.video import VideoWriter, probe, read_frames

from fakes import FakeContext

FPS, SECONDS = 25, 3.0
COUNT = round(FPS * SECONDS)
TEXT = "Hello there. My name is Eileen, pleased to meet you."


@dataclass(frozen=True)
class Clip:
    request: VideoRequest
    result: RenderedVideo
    ctx: FakeContext
    measures: Measures


def lipsync_request(video: Path, **fields: object) -> VideoRequest:
    base = VideoRequest(
        prompt="", width=640, height=360, fps=FPS, duration=SECONDS, kind=Kind.LIPSYNC,
        video_path=video, seed=5,
    )  # fmt: skip
    return replace(base, **fields)  # type: ignore[arg-type]


def render(request: VideoRequest, workdir: Path, cancel_after: int | None = None) -> Clip:
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = FakeContext(workdir, cancel_after)
    result = TalkEngine().generate(request, ctx)
    return Clip(request, result, ctx, measured_file(result.path, FPS))


@pytest.fixture(scope="module")
def input_measures(portrait_video: Path) -> Measures:
    return measured_file(portrait_video, FPS)


@pytest.fixture(scope="module")
def from_audio(portrait_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Clip:
    request = lipsync_request(portrait_video, audio=speech_like(SECONDS, seed=0))
    return render(request, tmp_path_factory.mktemp("lipsync"))


def test_mouth_follows_the_loudness(from_audio: Clip) -> None:
    assert from_audio.request.audio is not None
    envelope = loudness_envelope(from_audio.request.audio, FPS).astype(np.float64)
    gaps = from_audio.measures.gaps
    assert not np.isnan(gaps).any()
    assert pearson(gaps[:COUNT], envelope[:COUNT]) >= 0.5


def test_keeps_the_input_size_rate_and_length(from_audio: Clip) -> None:
    info = probe(from_audio.result.path)
    assert (info.width, info.height, info.fps, info.num_frames) == (640, 360, FPS, COUNT)
    assert from_audio.result.num_frames == COUNT
    assert info.audio is not None and info.audio.start_time == 0.0
    assert abs(info.audio.duration - SECONDS) <= 1 / FPS
    assert from_audio.ctx.fractions == [(i + 1) / COUNT for i in range(COUNT)]


def test_only_the_lower_face_changes(
    from_audio: Clip, portrait_video: Path, input_measures: Measures
) -> None:
    before, after = read_frames(portrait_video), read_frames(from_audio.result.path)
    changed = 0
    for index in range(0, COUNT, 5):
        diff = np.abs(after[index].astype(np.float32) - before[index].astype(np.float32))
        # Averaged over 5x5 pixels: re-encoding leaves lone spikes on sharp edges.
        rows, cols = np.nonzero(cv2.blur(diff.mean(axis=2), (5, 5)) > 10)
        if rows.size:  # below the nose's tip, around the mouth (her face is ~125 px wide)
            changed += 1
            nose_x, nose_y = input_measures.nose[index]
            outside = (rows <= nose_y) | (np.abs(cols - nose_x) >= 110)
            assert outside.sum() <= 2 + 0.01 * rows.size  # a codec blip, not a region
    assert changed > 5


def test_after_a_short_speech_the_mouth_rests(
    portrait_video: Path, input_measures: Measures, tmp_path: Path
) -> None:
    speech = speech_like(1.6, seed=2)
    clip = render(lipsync_request(portrait_video, audio=speech), tmp_path)
    after = round((speech.duration + 0.2) * FPS)
    rest = clip.measures.gaps[after:] - input_measures.gaps[after:]
    assert np.abs(rest).max() < 0.02
    assert np.nanmax(clip.measures.gaps[:after]) > np.nanmax(input_measures.gaps) + 0.1
    track = decode_audio(clip.result.path, ("output",))
    assert abs(track.duration - SECONDS) <= 1 / FPS  # padded to the video's end
    cut = round(1.7 * track.sample_rate)
    assert loudest_db(Audio(track.samples[:cut], track.sample_rate)) > -20
    assert loudest_db(Audio(track.samples[cut:], track.sample_rate)) < -60


def test_a_longer_speech_is_cut_at_the_video_end(portrait_video: Path, tmp_path: Path) -> None:
    clip = render(lipsync_request(portrait_video, audio=speech_like(4.0, seed=3)), tmp_path)
    assert any("longer than the video" in line for line in clip.ctx.logs)
    info = probe(clip.result.path)
    assert info.num_frames == COUNT
    assert info.audio is not None and info.audio.duration <= SECONDS + 1 / FPS


def test_from_text_the_mouth_shapes_the_phonemes(
    espeak: None, portrait_video: Path, input_measures: Measures, tmp_path: Path
) -> None:
    utterance = Utterance(TEXT, DEFAULT_VOICE_ID)
    clip = render(lipsync_request(portrait_video, utterance=utterance), tmp_path)
    speech = synthesize(TEXT, DEFAULT_VOICE_ID)  # the same, deterministically
    starts = np.array([p.start for p in speech.phonemes])
    times = (np.arange(COUNT) + 0.5) / FPS
    which = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, None)
    target = np.array([
        SHAPES[speech.phonemes[i].viseme][0] if t < speech.duration else 0.0
        for i, t in zip(which, times, strict=True)
    ])  # fmt: skip
    gaps = clip.measures.gaps
    assert pearson(gaps, target) >= 0.5
    # Opens on vowels, rests in the pause between the sentences (0.65 to 0.95 s).
    assert gaps.max() > np.nanmax(input_measures.gaps) + 0.1
    pause = slice(round(0.75 * FPS), round(0.9 * FPS))
    assert np.abs(gaps[pause] - input_measures.gaps[pause]).max() < 0.03
    track = decode_audio(clip.result.path, ("output",))
    assert loudest_db(track) > -30
    assert any("spoke" in line for line in clip.ctx.logs)


def test_the_same_request_gives_the_same_bytes(from_audio: Clip, tmp_path: Path) -> None:
    again = TalkEngine().generate(from_audio.request, FakeContext(tmp_path))
    assert again.path.read_bytes() == from_audio.result.path.read_bytes()


def faceless_video(path: Path) -> Path:
    from skimage import data

    brick = np.repeat(data.brick()[:360, :, None], 3, axis=2)
    with VideoWriter(path, 512, 360, FPS) as writer:
        for i in range(FPS * 2):
            writer.write(np.ascontiguousarray(np.roll(brick, i, axis=1)))
    return path


def test_a_video_without_a_face_is_refused(face_models: None, tmp_path: Path) -> None:
    video = faceless_video(tmp_path / "bricks.mp4")
    request = lipsync_request(video, width=512, height=360, duration=2.0,
                              audio=speech_like(2.0))  # fmt: skip
    with pytest.raises(InputError) as caught:
        TalkEngine().generate(request, FakeContext(tmp_path))
    (detail,) = caught.value.details
    assert detail["loc"] == ["body", "video_url"]
    assert detail["type"] == "face_not_found"
    assert not (tmp_path / "output.mp4").exists()


def test_two_faces_animate_the_largest(astronaut: Image, tmp_path: Path) -> None:
    head = np.asarray(astronaut[20:276, 100:356])
    small = np.zeros_like(head)
    small[48:208, 48:208] = cv2.resize(head, (160, 160), interpolation=cv2.INTER_AREA)
    scene = np.ascontiguousarray(np.hstack([small, head]))
    video = tmp_path / "two.mp4"
    with VideoWriter(video, 512, 256, FPS) as writer:
        for _ in range(FPS * 2):
            writer.write(scene)
    request = lipsync_request(video, width=512, height=256, duration=2.0,
                              audio=speech_like(2.0, seed=4))  # fmt: skip
    ctx = FakeContext(tmp_path)
    result = TalkEngine().generate(request, ctx)
    assert any("2 faces" in line and "largest" in line for line in ctx.logs)
    frames = read_frames(result.path)
    for frame in frames[::8]:  # the small face (left) is left alone
        assert np.abs(frame[:, :220].astype(int) - scene[:, :220].astype(int)).mean() < 2.0
    large = measured(np.ascontiguousarray(frame[:, 256:]) for frame in frames)
    assert np.nanmax(large.gaps) - np.nanmin(large.gaps) > 0.1


def test_silent_audio_is_refused(portrait_video: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        TalkEngine().generate(
            lipsync_request(portrait_video, audio=silence(SECONDS)), FakeContext(tmp_path)
        )
    (detail,) = caught.value.details
    assert detail["loc"] == ["body", "audio_url"]
    assert detail["type"] == "audio_silent"


def test_cancelled_between_frames(portrait_video: Path, tmp_path: Path) -> None:
    request = lipsync_request(portrait_video, audio=speech_like(SECONDS))
    ctx = FakeContext(tmp_path, cancel_after=10)
    with pytest.raises(CancelledError):
        TalkEngine().generate(request, ctx)
    assert len(ctx.fractions) == 10
    assert not (tmp_path / "output.mp4").exists()


@pytest.mark.parametrize("kind", [Kind.IMAGE_TO_VIDEO, Kind.TEXT_TO_SPEECH])
def test_other_kinds_are_refused(kind: Kind, tmp_path: Path) -> None:
    request = VideoRequest(prompt="", width=64, height=64, fps=FPS, duration=1.0, kind=kind)
    with pytest.raises(EngineError, match="does not make") as caught:
        TalkEngine().generate(request, FakeContext(tmp_path))
    assert caught.value.error_type == "unsupported_input"


def test_a_request_without_speech_is_an_engine_error(tmp_path: Path) -> None:
    request = lipsync_request(tmp_path / "none.mp4")
    with pytest.raises(EngineError, match="needs speech"):
        TalkEngine().generate(request, FakeContext(tmp_path))
