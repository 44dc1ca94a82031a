"""The Kling catalog: every image-, text-, elements-, reference-to-video and effects endpoint
fal lists (``reference/kling-family.ts``), plus the seed ``v1/pro/image-to-video``.

One row per endpoint id: its kind, fal's input type (shared by the endpoints that share it),
its tier (model, short side, fps, durations: Kling's capability map in
``reference/kling-controls.md`` 1.6), fal's published price per second, and an example.

Prices: "fal" where fal's own model page states it, "second-hand" where only a reseller or
aggregator quoting fal does (v1.6 standard; v3 standard image and pro text; O3 pro image),
and none where nothing is published (``Price.per_second`` None: usage then reports the
seconds without a cost unless ``VIDSERVE_PRICES`` sets one). v3 pro image-to-video: fal's
pages disagree ($0.112 on the playground, $0.224 in llms.txt); the playground's is used.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from vidserve.endpoints.base import EndpointSpec, Price
from vidserve.endpoints.fields import DEFAULT_NEGATIVE_PROMPT
from vidserve.endpoints.inputs import (
    AudioOutput,
    AvatarInput,
    AvatarOutput,
    EffectsInput,
    ElementsInput,
    ImageToVideoInput,
    LipsyncAudioToVideoInput,
    LipsyncTextToVideoInput,
    O1ImageToVideoInput,
    O1ReferenceToVideoInput,
    O3ImageToVideoInput,
    O3ReferenceToVideoInput,
    O3TextToVideoInput,
    ProImageToVideoInput,
    TextToSpeechInput,
    TextToVideoInput,
    V1ImageToVideoInput,
    V1TextToVideoInput,
    V3ImageToVideoInput,
    V3TextToVideoInput,
    V3TurboImageToVideoInput,
    V3TurboTextToVideoInput,
    V15ProImageToVideoInput,
    V21ProImageToVideoInput,
    V26ProImageToVideoInput,
    V26ProTextToVideoInput,
    VideoOutput,
)
from vidserve.endpoints.tiers import OutputSettings
from vidserve.engines.base import Kind

I2V, T2V, REF = Kind.IMAGE_TO_VIDEO, Kind.TEXT_TO_VIDEO, Kind.REFERENCE_TO_VIDEO
ELEMENTS, EFFECTS = Kind.ELEMENTS, Kind.EFFECTS
LIPSYNC, AVATAR, TTS = Kind.LIPSYNC, Kind.AVATAR, Kind.TEXT_TO_SPEECH
FIVE_TEN = (5, 10)
O1_RANGE = tuple(range(3, 11))
V3_RANGE = tuple(range(3, 16))


def _fal(per_second: float, with_audio: float | None = None) -> Price:
    return Price(per_second, "fal", with_audio)


def _second_hand(per_second: float, with_audio: float | None = None) -> Price:
    return Price(per_second, "second-hand", with_audio)


UNPUBLISHED = Price(None, "none published")

# --- examples -------------------------------------------------------------------------------

_IMAGE = "https://storage.googleapis.com/falserverless/kling/kling_input.jpeg"
_WOMAN = "https://fal.media/files/panda/TuXlMwArpQcdYNCLAEM8K.webp"
_NEST = "https://v3.fal.media/files/zebra/9Nrm22YyLojSTPJbZYNhh_image.webp"
_WINTER = "https://v3b.fal.media/files/b/rabbit/NaslJIC7F2WodS6DFZRRJ.png"
_SPRING_TREE = "https://v3b.fal.media/files/b/tiger/BwHi22qoQnqaTNMMhe533.png"
_TOKYO = (
    "A stylish woman walks down a Tokyo street filled with warm glowing neon and animated city "
    "signage. She wears a black leather jacket, a long red dress, and black boots, and carries "
    "a black purse."
)
_ROBINS = (
    "Sunlight dapples through budding branches, illuminating a vibrant tapestry of greens and "
    "browns as a pair of robins meticulously weave twigs and mud into a cradle of life, their "
    "tiny forms a whirlwind of activity against a backdrop of blossoming spring.  The scene "
    "unfolds with a gentle, observational pace, allowing the viewer to fully appreciate the "
    "intricate details of nest construction, the soft textures of downy feathers contrasted "
    "against the rough bark of the branches, the delicate balance of strength and fragility in "
    "their creation."
)
_SPRING = (
    "Create a magical timelapse transition. The snow melts rapidly to reveal green grass, and "
    "the tree branches burst into bloom with pink flowers in real-time. The lighting shifts "
    "from cold winter light to warm spring sunshine. The camera pushes in slowly towards the "
    "tree. Disney-style magical transformation, cinematic, 8k."
)
_SHOTS = [
    {"prompt": "Wide shot of the snowy road as a car approaches, snow falling.", "duration": "3"},
    {"prompt": "The camera zooms in on the car's headlights.", "duration": "2"},
]
_SCENE = "A corgi runs along a beach at sunset, waves rolling in, warm golden light."

#: Examples by input type (endpoints that share a type share its example).
EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    V1ImageToVideoInput: {
        "prompt": "Snowflakes fall as a car moves forward along the road.",
        "image_url": _IMAGE,
        "duration": "5",
        "negative_prompt": DEFAULT_NEGATIVE_PROMPT,
        "cfg_scale": 0.5,
        "static_mask_url": "https://storage.googleapis.com/falserverless/kling/new_static_mask.png",
        "dynamic_masks": [
            {
                "mask_url": "https://storage.googleapis.com/falserverless/kling/new_dynamic_mask.png",
                "trajectories": [{"x": 279, "y": 219}, {"x": 417, "y": 65}],
            }
        ],
    },
    V15ProImageToVideoInput: {
        "prompt": "Snowflakes fall as a car moves forward along the road.",
        "image_url": _IMAGE,
        "duration": "5",
        "aspect_ratio": "16:9",
        "tail_image_url": _IMAGE,
    },
    ProImageToVideoInput: {
        "prompt": _TOKYO,
        "image_url": _WOMAN,
        "duration": "5",
        "aspect_ratio": "16:9",
    },
    ImageToVideoInput: {
        "prompt": _ROBINS,
        "image_url": _NEST,
        "duration": "5",
        "negative_prompt": DEFAULT_NEGATIVE_PROMPT,
        "cfg_scale": 0.5,
    },
    V21ProImageToVideoInput: {
        "prompt": _SPRING,
        "image_url": _WINTER,
        "tail_image_url": _SPRING_TREE,
        "duration": "5",
    },
    V26ProImageToVideoInput: {
        "prompt": _SPRING,
        "start_image_url": _WINTER,
        "end_image_url": _SPRING_TREE,
        "duration": "5",
        "generate_audio": False,
    },
    O1ImageToVideoInput: {
        "prompt": _SPRING,
        "start_image_url": _WINTER,
        "end_image_url": _SPRING_TREE,
        "duration": "5",
    },
    V3ImageToVideoInput: {
        "multi_prompt": _SHOTS,
        "start_image_url": _IMAGE,
        "generate_audio": False,
    },
    O3ImageToVideoInput: {"prompt": _SPRING, "image_url": _WINTER, "duration": "5"},
    V3TurboImageToVideoInput: {"multi_prompt": _SHOTS, "image_url": _IMAGE},
    V1TextToVideoInput: {
        "prompt": _SCENE,
        "duration": "5",
        "aspect_ratio": "16:9",
        "camera_control": "forward_up",
    },
    TextToVideoInput: {"prompt": _SCENE, "duration": "5", "aspect_ratio": "16:9"},
    V26ProTextToVideoInput: {"prompt": _SCENE, "duration": "5", "generate_audio": False},
    V3TextToVideoInput: {"prompt": _SCENE, "duration": "5", "generate_audio": False},
    O3TextToVideoInput: {"prompt": _SCENE, "duration": "5"},
    V3TurboTextToVideoInput: {"prompt": _SCENE, "duration": "5", "aspect_ratio": "9:16"},
    ElementsInput: {
        "prompt": "The woman walks through the spring garden past the nest.",
        "input_image_urls": [_WOMAN, _NEST, _SPRING_TREE],
        "duration": "5",
        "aspect_ratio": "16:9",
    },
    O1ReferenceToVideoInput: {
        "prompt": "@Element1 walks under @Image1 as the seasons change.",
        "elements": [{"frontal_image_url": _WOMAN}],
        "image_urls": [_SPRING_TREE],
        "duration": "5",
    },
    O3ReferenceToVideoInput: {
        "prompt": "@Element1 walks from the winter road into @Image1.",
        "start_image_url": _WINTER,
        "elements": [{"frontal_image_url": _WOMAN}],
        "image_urls": [_SPRING_TREE],
        "duration": "5",
    },
    EffectsInput: {"effect_scene": "squish", "input_image_urls": [_NEST], "duration": "5"},
    LipsyncAudioToVideoInput: {
        "video_url": "https://fal.media/files/koala/8teUPbRRMtAUTORDvqy0l.mp4",
        "audio_url": "https://storage.googleapis.com/falserverless/kling/kling-audio.mp3",
    },
    LipsyncTextToVideoInput: {
        "video_url": "https://fal.media/files/koala/8teUPbRRMtAUTORDvqy0l.mp4",
        "text": "Hello, this video speaks with a new voice.",
        "voice_id": "oversea_male1",
        "voice_language": "en",
        "voice_speed": 1,
    },
    TextToSpeechInput: {"text": "Welcome to the show.", "voice_id": "genshin_vindi2"},
    AvatarInput: {
        "image_url": _WOMAN,
        "audio_url": "https://storage.googleapis.com/falserverless/kling/kling-audio.mp3",
        "prompt": ".",
    },
}

_VERSIONS = {
    "v1": "1.0",
    "v1.5": "1.5",
    "v1.6": "1.6",
    "v2": "2.0",
    "v2.1": "2.1",
    "v2.5-turbo": "2.5 Turbo",
    "v2.6": "2.6",
    "v3": "3.0",
    "o1": "O1",
    "o3": "O3",
}


def _title(path: str, kind: Kind) -> str:
    if kind in (LIPSYNC, AVATAR, TTS):
        return "Kling " + path.replace("/", " ").replace("-", " ")
    version, *tiers, _ = path.split("/")
    tier = " ".join(tiers) or "pro"
    return f"Kling {_VERSIONS[version]} ({tier}) {kind.value.replace('-', ' ')}"


def _row(
    path: str,
    kind: Kind,
    input_model: type[BaseModel],
    output: OutputSettings,
    price: Price,
    end_frame_durations: tuple[str, ...] | None = None,
    output_model: type[BaseModel] = VideoOutput,
) -> EndpointSpec:
    return EndpointSpec(
        endpoint_id=f"fal-ai/kling-video/{path}",
        title=_title(path, kind),
        kind=kind,
        input_model=input_model,
        output=output,
        price=price,
        example=EXAMPLES[input_model],
        output_model=output_model,
        end_frame_durations=end_frame_durations,
    )


def _tier(model: str, resolution: int, fps: int, durations: tuple[int, ...]) -> OutputSettings:
    assert resolution in (720, 1080, 2160)  # noqa: S101 - a typo in the table below
    return OutputSettings(model, resolution, fps, durations)  # type: ignore[arg-type]


#: fal's lipsync rule: the input video lasts 2 to 60 s, and the output is that video.
LIPSYNC_TIER = OutputSettings("kling lipsync", None, None, tuple(range(2, 61)), True)
#: Speech alone: no picture; the text decides the length.
TTS_TIER = OutputSettings("kling tts", None, None, ())
#: Avatars last as long as their audio (at most a minute here); Kling publishes no fps for
#: them: 30, as its v1 models.
AVATAR_DURATIONS = tuple(range(1, 61))


V1_STD = _tier("kling-v1 std", 720, 30, FIVE_TEN)
V1_PRO = _tier("kling-v1 pro", 720, 30, FIVE_TEN)
V15_PRO = _tier("kling-v1-5 pro", 1080, 30, FIVE_TEN)
V16_STD = _tier("kling-v1-6 std", 720, 30, FIVE_TEN)
V16_PRO = _tier("kling-v1-6 pro", 1080, 30, FIVE_TEN)
# Kling's map: v1.6 text-to-video renders 24 fps.
V16_STD_T2V = _tier("kling-v1-6 std", 720, 24, FIVE_TEN)
V16_PRO_T2V = _tier("kling-v1-6 pro", 1080, 24, FIVE_TEN)
V2_MASTER = _tier("kling-v2-master", 720, 24, FIVE_TEN)
V21_STD = _tier("kling-v2-1 std", 720, 24, FIVE_TEN)
V21_PRO = _tier("kling-v2-1 pro", 1080, 24, FIVE_TEN)
V21_MASTER = _tier("kling-v2-1-master", 1080, 24, FIVE_TEN)
# Kling's map lists 1080p for v2.5-turbo; a third party gives std 720p, as every other std.
V25_STD = _tier("kling-v2-5-turbo std", 720, 24, FIVE_TEN)
V25_PRO = _tier("kling-v2-5-turbo pro", 1080, 24, FIVE_TEN)
V26_PRO = _tier("kling-v2-6 pro", 1080, 24, FIVE_TEN)
V3_STD = _tier("kling-v3 std", 720, 24, V3_RANGE)
V3_PRO = _tier("kling-v3 pro", 1080, 24, V3_RANGE)
V3_4K = _tier("kling-v3 4k", 2160, 24, V3_RANGE)
V3_TURBO_STD = _tier("kling-v3-turbo std", 720, 24, V3_RANGE)
V3_TURBO_PRO = _tier("kling-v3-turbo pro", 1080, 24, V3_RANGE)
O1_STD = _tier("kling-video-o1 std", 720, 24, O1_RANGE)
O1_PRO = _tier("kling-video-o1 pro", 1080, 24, O1_RANGE)
O3_STD = _tier("kling-v3-omni std", 720, 24, V3_RANGE)
O3_PRO = _tier("kling-v3-omni pro", 1080, 24, V3_RANGE)
O3_4K = _tier("kling-v3-omni 4k", 2160, 24, V3_RANGE)

#: Kling v1 renders an end frame for 5 s only (v1.5 and later: 5 or 10).
V1_END = ("5",)

CATALOG: tuple[EndpointSpec, ...] = (
    # v1
    _row("v1/standard/image-to-video", I2V, V1ImageToVideoInput, V1_STD, _fal(0.045), V1_END),
    _row("v1/pro/image-to-video", I2V, ProImageToVideoInput, V1_PRO, UNPUBLISHED, V1_END),
    _row("v1/standard/text-to-video", T2V, V1TextToVideoInput, V1_STD, UNPUBLISHED),
    _row("v1/standard/effects", EFFECTS, EffectsInput, V1_STD, UNPUBLISHED),
    # v1.5
    _row("v1.5/pro/image-to-video", I2V, V15ProImageToVideoInput, V15_PRO, UNPUBLISHED),
    _row("v1.5/pro/text-to-video", T2V, TextToVideoInput, V15_PRO, UNPUBLISHED),
    _row("v1.5/pro/effects", EFFECTS, EffectsInput, V15_PRO, UNPUBLISHED),
    # v1.6
    _row("v1.6/standard/image-to-video", I2V, ImageToVideoInput, V16_STD, _second_hand(0.045)),
    _row("v1.6/pro/image-to-video", I2V, ProImageToVideoInput, V16_PRO, _fal(0.098)),
    _row("v1.6/standard/text-to-video", T2V, TextToVideoInput, V16_STD_T2V, UNPUBLISHED),
    _row("v1.6/pro/text-to-video", T2V, TextToVideoInput, V16_PRO_T2V, UNPUBLISHED),
    _row("v1.6/standard/elements", ELEMENTS, ElementsInput, V16_STD, _second_hand(0.045)),
    _row("v1.6/pro/elements", ELEMENTS, ElementsInput, V16_PRO, UNPUBLISHED),
    _row("v1.6/standard/effects", EFFECTS, EffectsInput, V16_STD, UNPUBLISHED),
    _row("v1.6/pro/effects", EFFECTS, EffectsInput, V16_PRO, UNPUBLISHED),
    # v2 and v2.1
    _row("v2/master/image-to-video", I2V, ImageToVideoInput, V2_MASTER, _fal(0.28)),
    _row("v2/master/text-to-video", T2V, TextToVideoInput, V2_MASTER, _fal(0.28)),
    _row("v2.1/standard/image-to-video", I2V, ImageToVideoInput, V21_STD, _fal(0.056)),
    _row("v2.1/pro/image-to-video", I2V, V21ProImageToVideoInput, V21_PRO, _fal(0.098)),
    _row("v2.1/master/image-to-video", I2V, ImageToVideoInput, V21_MASTER, _fal(0.28)),
    _row("v2.1/master/text-to-video", T2V, TextToVideoInput, V21_MASTER, UNPUBLISHED),
    # v2.5 turbo and v2.6
    _row("v2.5-turbo/standard/image-to-video", I2V, ImageToVideoInput, V25_STD, _fal(0.042)),
    _row("v2.5-turbo/pro/image-to-video", I2V, V21ProImageToVideoInput, V25_PRO, _fal(0.07)),
    _row("v2.5-turbo/pro/text-to-video", T2V, TextToVideoInput, V25_PRO, UNPUBLISHED),
    _row("v2.6/pro/image-to-video", I2V, V26ProImageToVideoInput, V26_PRO, _fal(0.07, 0.14)),
    _row("v2.6/pro/text-to-video", T2V, V26ProTextToVideoInput, V26_PRO, UNPUBLISHED),
    # v3
    _row(
        "v3/standard/image-to-video", I2V, V3ImageToVideoInput, V3_STD, _second_hand(0.084, 0.126)
    ),
    _row("v3/standard/text-to-video", T2V, V3TextToVideoInput, V3_STD, _fal(0.084, 0.126)),
    _row("v3/pro/image-to-video", I2V, V3ImageToVideoInput, V3_PRO, _fal(0.112, 0.168)),
    _row("v3/pro/text-to-video", T2V, V3TextToVideoInput, V3_PRO, _second_hand(0.112, 0.168)),
    _row("v3/4k/image-to-video", I2V, V3ImageToVideoInput, V3_4K, _fal(0.42, 0.42)),
    _row("v3/4k/text-to-video", T2V, V3TextToVideoInput, V3_4K, _fal(0.42, 0.42)),
    _row(
        "v3/turbo/standard/image-to-video",
        I2V,
        V3TurboImageToVideoInput,
        V3_TURBO_STD,
        _fal(0.112),
    ),
    _row(
        "v3/turbo/standard/text-to-video", T2V, V3TurboTextToVideoInput, V3_TURBO_STD, UNPUBLISHED
    ),
    _row("v3/turbo/pro/image-to-video", I2V, V3TurboImageToVideoInput, V3_TURBO_PRO, _fal(0.14)),
    _row("v3/turbo/pro/text-to-video", T2V, V3TurboTextToVideoInput, V3_TURBO_PRO, _fal(0.14)),
    # O1
    _row("o1/image-to-video", I2V, O1ImageToVideoInput, O1_PRO, _fal(0.112)),
    _row("o1/standard/image-to-video", I2V, O1ImageToVideoInput, O1_STD, _fal(0.084)),
    _row("o1/reference-to-video", REF, O1ReferenceToVideoInput, O1_PRO, _fal(0.112)),
    _row("o1/standard/reference-to-video", REF, O1ReferenceToVideoInput, O1_STD, UNPUBLISHED),
    # O3
    _row("o3/standard/image-to-video", I2V, O3ImageToVideoInput, O3_STD, _fal(0.084, 0.112)),
    _row("o3/standard/text-to-video", T2V, O3TextToVideoInput, O3_STD, UNPUBLISHED),
    _row("o3/standard/reference-to-video", REF, O3ReferenceToVideoInput, O3_STD, UNPUBLISHED),
    _row(
        "o3/pro/image-to-video", I2V, O3ImageToVideoInput, O3_PRO, _second_hand(0.112, 0.14)
    ),
    _row("o3/pro/text-to-video", T2V, O3TextToVideoInput, O3_PRO, UNPUBLISHED),
    _row("o3/pro/reference-to-video", REF, O3ReferenceToVideoInput, O3_PRO, UNPUBLISHED),
    _row("o3/4k/image-to-video", I2V, O3ImageToVideoInput, O3_4K, _fal(0.42, 0.42)),
    _row("o3/4k/text-to-video", T2V, O3TextToVideoInput, O3_4K, _fal(0.42, 0.42)),
    _row("o3/4k/reference-to-video", REF, O3ReferenceToVideoInput, O3_4K, _fal(0.42, 0.42)),
    # talking
    _row("lipsync/audio-to-video", LIPSYNC, LipsyncAudioToVideoInput, LIPSYNC_TIER, UNPUBLISHED),
    _row("lipsync/text-to-video", LIPSYNC, LipsyncTextToVideoInput, LIPSYNC_TIER, UNPUBLISHED),
    _row("v1/tts", TTS, TextToSpeechInput, TTS_TIER, UNPUBLISHED, output_model=AudioOutput),
    *(
        _row(path, AVATAR, AvatarInput, tier, price, output_model=AvatarOutput)
        for path, tier, price in (
            ("v1/standard/ai-avatar", _tier("kling avatar std", 720, 30, AVATAR_DURATIONS),
             UNPUBLISHED),
            ("v1/pro/ai-avatar", _tier("kling avatar pro", 1080, 30, AVATAR_DURATIONS),
             UNPUBLISHED),
            ("ai-avatar/v2/standard", _tier("kling avatar v2 std", 720, 30, AVATAR_DURATIONS),
             _second_hand(0.0562)),
            ("ai-avatar/v2/pro", _tier("kling avatar v2 pro", 1080, 30, AVATAR_DURATIONS),
             _second_hand(0.115)),
        )
    ),
)
