"""From a validated Kling input to what an engine sees, and what the input asks of it.

:func:`asks` reads what a request wants in engine terms (its kind, its features, an effect,
how many reference images); :func:`refusals` holds that against an engine's capabilities.
:func:`video_request` builds the engine-neutral :class:`VideoRequest` from the input and the
decoded files. Field names are fal's, so one adapter serves every Kling input type.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from vidserve.endpoints.camera import PRESETS, SEED_MAX, camera_motion
from vidserve.endpoints.files import Loc, file_inputs
from vidserve.endpoints.rules import Detail, detail
from vidserve.endpoints.tiers import OutputSettings
from vidserve.engines.base import (
    FEATURE_PHRASES,
    CameraMotion,
    Capabilities,
    DynamicMask,
    Feature,
    Image,
    Kind,
    LoraWeight,
    Shot,
    Utterance,
    VideoRequest,
)
from vidserve.errors import InputError

_ASPECTS: dict[str, float] = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}
_HAN = re.compile(r"[\u3400-\u9fff]")
_MIN_ASPECT, _MAX_ASPECT = 0.4, 2.5
#: Fields whose images are references (in this order), not a start or end frame.
_REFERENCE_FIELDS = ("input_image_urls", "elements", "image_urls")
#: Most shots an 'intelligent' storyboard makes of a prompt's sentences (Kling's limit).
_MAX_SHOTS = 6


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def output_size(resolution: int, aspect: float) -> tuple[int, int]:
    """Width and height for a tier (its short side) and an aspect ratio (width / height)."""
    aspect = min(max(aspect, _MIN_ASPECT), _MAX_ASPECT)
    if aspect >= 1:
        return _even(resolution * aspect), resolution
    return resolution, _even(resolution / aspect)


@dataclass(frozen=True)
class Asks:
    """What a request asks of its engine, each with the body field that asks it."""

    kind: Kind
    #: The field that makes the kind differ from the endpoint's (elements on image-to-video).
    kind_loc: Loc | None = None
    #: Feature -> (field, whether the caller set it rather than a default).
    features: Mapping[Feature, tuple[Loc, bool]] = field(default_factory=dict)
    effect: tuple[Loc, str] | None = None
    references: tuple[Loc, int] | None = None


def _get(inp: BaseModel, name: str) -> Any:
    return getattr(inp, name, None)


def _features(inp: BaseModel) -> dict[Feature, tuple[Loc, bool]]:
    """The features ``inp`` asks for, each with its field and whether the caller set it."""
    features: dict[Feature, tuple[Loc, bool]] = {}
    for name in ("tail_image_url", "end_image_url"):
        if _get(inp, name):
            features[Feature.END_IMAGE] = ((name,), True)
    for name in ("camera_control", "advanced_camera_control"):
        if _get(inp, name):
            features[Feature.CAMERA] = ((name,), True)
    for name in ("static_mask_url", "dynamic_masks"):
        if _get(inp, name):
            features[Feature.MOTION_BRUSH] = ((name,), True)
    if _get(inp, "loras"):
        features[Feature.LORA] = (("loras",), True)
    if _get(inp, "multi_prompt") or len(_intelligent_shots(inp)) > 1:
        features[Feature.STORYBOARD] = (("multi_prompt",), True)
    voices = [i for i, e in enumerate(_get(inp, "elements") or []) if _get(e, "voice_id")]
    if _get(inp, "voice_ids"):
        features[Feature.AUDIO] = (("voice_ids",), True)
    elif voices:
        features[Feature.AUDIO] = (("elements", voices[0], "voice_id"), True)
    elif _get(inp, "generate_audio"):
        features[Feature.AUDIO] = (("generate_audio",), "generate_audio" in inp.model_fields_set)
    return features


def asks(inp: BaseModel, kind: Kind) -> Asks:
    """What ``inp`` (of an endpoint of ``kind``) asks of the engine that serves it."""
    features = _features(inp)
    references = [i for i in file_inputs(inp) if i.loc[1] in _REFERENCE_FIELDS]
    kind_loc: Loc | None = None
    if kind is Kind.IMAGE_TO_VIDEO and references:
        # v3's elements on image-to-video: the start frame and the elements' references.
        kind, kind_loc = Kind.REFERENCE_TO_VIDEO, ("elements",)
    scene = _get(inp, "effect_scene")
    return Asks(
        kind=kind,
        kind_loc=kind_loc,
        features=features,
        effect=None if scene is None else (("effect_scene",), scene),
        references=(references[0].loc[1:2], len(references)) if references else None,
    )


def refusals(
    wants: Asks, caps: Capabilities, engine: str, *, at_submit: bool
) -> tuple[list[Detail], list[str]]:
    """422 details for what ``engine`` cannot do, and notes for the defaults it does without.

    Audio that an endpoint defaults to is done without (a note), audio the caller asked for
    is refused; where only the worker checks (it cannot tell a default from a choice once
    the input is stored), audio is always a note: the submit already refused explicit asks.
    """
    serving = f"the {engine} engine serving this endpoint"
    errors: list[Detail] = []
    notes: list[str] = []
    if wants.kind_loc is not None and wants.kind not in caps.kinds:
        message = f"{serving} cannot make {wants.kind} video, which {wants.kind_loc[0]} asks for"
        errors.append(detail(wants.kind_loc, message, "unsupported_by_engine"))
    for feature, (loc, explicit) in wants.features.items():
        if feature in caps.features:
            continue
        if feature is Feature.AUDIO and not (explicit and at_submit):
            notes.append(f"rendered without audio: {serving} makes no sound")
            continue
        message = f"{serving} cannot render {FEATURE_PHRASES[feature]}"
        errors.append(detail(loc, message, "unsupported_by_engine"))
    if wants.effect is not None and wants.effect[1] not in caps.effects:
        loc, scene = wants.effect
        known = ", ".join(sorted(caps.effects)) or "none"
        message = f"{serving} cannot render the effect {scene!r}; it renders: {known}"
        errors.append(detail(loc, message, "unsupported_by_engine"))
    if wants.references is not None and wants.references[1] > caps.max_reference_images:
        loc, count = wants.references
        message = (
            f"{count} reference images given; {serving} uses at most {caps.max_reference_images}"
        )
        errors.append(detail(loc, message, "unsupported_by_engine"))
    return errors, notes


def video_request(
    inp: BaseModel,
    files: Mapping[Loc, Any],
    *,
    kind: Kind,
    output: OutputSettings,
    audio: bool,
) -> VideoRequest:
    """The engine-neutral request; ``files`` maps each :class:`FileInput` loc to its decoded
    image or mask (an :class:`~vidserve.media.audio.Audio`, a
    :class:`~vidserve.media.video_input.VideoInput` for the talking kinds), ``audio``: whether
    the engine will make the sound the input wishes."""
    if kind in TALKING:
        return _talking_request(inp, files, kind, output)
    assert output.resolution is not None and output.fps is not None  # noqa: S101 - the table
    resolution, fps = output.resolution, output.fps
    items = file_inputs(inp)
    start = files.get(("body", "image_url"), files.get(("body", "start_image_url")))
    end = files.get(("body", "tail_image_url"), files.get(("body", "end_image_url")))
    references = tuple(files[i.loc] for i in items if i.loc[1] in _REFERENCE_FIELDS)
    wants = asks(inp, kind)
    if kind is Kind.EFFECTS:
        start = references[0]
    aspect_name = _get(inp, "aspect_ratio")
    first = start if start is not None else (references[0] if references else None)
    if aspect_name:
        aspect = _ASPECTS[aspect_name]
    elif first is not None:
        aspect = first.shape[1] / first.shape[0]
    else:
        aspect = 16 / 9
    width, height = output_size(resolution, aspect)
    shots = _shots(inp)
    return VideoRequest(
        kind=wants.kind,
        prompt=_get(inp, "prompt") or " ".join(shot.prompt for shot in shots),
        negative_prompt=_get(inp, "negative_prompt") or "",
        guidance=cfg if (cfg := _get(inp, "cfg_scale")) is not None else 0.5,
        width=width,
        height=height,
        fps=fps,
        duration=float(_get(inp, "duration") or sum(shot.duration for shot in shots)),
        start_image=start,
        end_image=end,
        static_mask=files.get(("body", "static_mask_url")),
        dynamic_masks=_dynamic_masks(inp, files, start),
        camera=_camera(inp),
        reference_images=references,
        effect=_get(inp, "effect_scene"),
        shots=shots,
        generate_audio=audio and Feature.AUDIO in wants.features,
        loras=tuple(
            LoraWeight(name=lora.name, path=lora.path, scale=lora.scale)
            for lora in _get(inp, "loras") or ()
        ),
        # fal picks a seed when none is given and reports it; so does vidserve.
        seed=seed if (seed := _get(inp, "seed")) is not None else secrets.randbelow(SEED_MAX + 1),
    )


#: Kinds whose requests carry speech: their inputs are audio, text and a face.
TALKING = frozenset({Kind.LIPSYNC, Kind.AVATAR, Kind.TEXT_TO_SPEECH})


def _talking_request(
    inp: BaseModel, files: Mapping[Loc, Any], kind: Kind, output: OutputSettings
) -> VideoRequest:
    """Lipsync lasts and looks as its input video does, and its speech must fit in it; an
    avatar lasts as its audio does, at the tier's size and the photo's aspect; speech alone
    has no picture (size and fps 0) and lasts as its text does."""
    seed = seed if (seed := _get(inp, "seed")) is not None else secrets.randbelow(SEED_MAX + 1)
    text = _get(inp, "text")
    utterance = None
    if text is not None:
        # Text-to-speech names no language: Mandarin when the text has Han characters.
        language = _get(inp, "voice_language") or ("zh" if _HAN.search(text) else "en")
        utterance = Utterance(text, inp.voice_id, language, float(inp.voice_speed))  # type: ignore[attr-defined]
    if kind is Kind.TEXT_TO_SPEECH:
        return VideoRequest(
            kind=kind,
            prompt="",
            width=0,
            height=0,
            fps=0,
            duration=0.0,
            utterance=utterance,
            seed=seed,
        )
    audio = files.get(("body", "audio_url"))
    if audio is not None:
        # Only workers build requests: the API process never imports the audio decoder.
        from vidserve.media.audio import check_not_silent

        check_not_silent(audio, ("body", "audio_url"))
    if kind is Kind.LIPSYNC:
        video = files[("body", "video_url")]
        info = video.info
        fps = max(1, round(info.fps))
        if audio is not None and audio.duration > info.duration + 1 / fps:
            raise InputError.at(
                ("body", "audio_url"),
                f"the audio lasts {audio.duration:.2f} s but the video only {info.duration:.2f} "
                "s; Kling's lipsync needs the speech to fit in the video",
                "audio_too_long",
            )
        return VideoRequest(
            kind=kind,
            prompt="",
            width=_even(info.width),
            height=_even(info.height),
            fps=fps,
            duration=info.duration,
            audio=audio,
            utterance=utterance,
            video_path=video.source,
            seed=seed,
        )
    image, audio = files[("body", "image_url")], files[("body", "audio_url")]
    longest = output.durations[-1]
    if audio.duration > longest:
        raise InputError.at(
            ("body", "audio_url"),
            f"the audio lasts {audio.duration:.1f} s; an avatar here lasts at most {longest} s",
            "audio_too_long",
        )
    assert output.resolution is not None and output.fps is not None  # noqa: S101 - the table
    width, height = output_size(output.resolution, image.shape[1] / image.shape[0])
    return VideoRequest(
        kind=kind,
        prompt=_get(inp, "prompt") or "",
        width=width,
        height=height,
        fps=output.fps,
        duration=audio.duration,
        start_image=image,
        audio=audio,
        seed=seed,
    )


def _camera(inp: BaseModel) -> CameraMotion | None:
    control, advanced = _get(inp, "camera_control"), _get(inp, "advanced_camera_control")
    if isinstance(control, str):  # v1 text-to-video's bare preset names
        return PRESETS[control]
    return camera_motion(control, advanced)


def _dynamic_masks(
    inp: BaseModel, files: Mapping[Loc, Image], start: Image | None
) -> tuple[DynamicMask, ...]:
    masks = _get(inp, "dynamic_masks") or []
    if not masks or start is None:
        return ()
    height = int(start.shape[0])
    return tuple(
        DynamicMask(
            mask=files[("body", "dynamic_masks", i, "mask_url")],
            # Kling's trajectory origin is the bottom-left of the image; engines use top-left.
            trajectory=tuple((float(p.x), float(height - p.y)) for p in mask.trajectories or []),
        )
        for i, mask in enumerate(masks)
    )


def _shots(inp: BaseModel) -> tuple[Shot, ...]:
    shots = _get(inp, "multi_prompt")
    if shots:
        return tuple(Shot(shot.prompt, float(shot.duration)) for shot in shots)
    return _intelligent_shots(inp)


def _intelligent_shots(inp: BaseModel) -> tuple[Shot, ...]:
    """``shot_type: intelligent`` with one prompt: a shot per sentence (at most six), each
    as long as its share of the words, the whole lasting ``duration``."""
    prompt = _get(inp, "prompt")
    if _get(inp, "shot_type") != "intelligent" or not prompt:
        return ()
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", prompt.strip()) if s]
    if len(sentences) < 2:
        return ()
    head, tail = sentences[: _MAX_SHOTS - 1], sentences[_MAX_SHOTS - 1 :]
    sentences = [*head, " ".join(tail)] if tail else head
    duration = float(_get(inp, "duration"))
    words = [len(s.split()) for s in sentences]
    return tuple(Shot(s, duration * w / sum(words)) for s, w in zip(sentences, words, strict=True))
