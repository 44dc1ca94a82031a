"""The input and output models of the Kling endpoints, one per type fal's JS client declares.

Each class is fal's type (named in its docstring, from ``reference/kling-family.ts``) with
fal's field names, enums, defaults and required set; endpoints that share a type share the
class. vidserve adds optional extensions: ``seed`` everywhere, and on image-to-video Kling's
``camera_control`` and fal's ``advanced_camera_control`` (:mod:`.camera`); they are stored and
echoed only when given. The rules that combine fields (which controls exclude each other,
storyboard totals, image counts) belong to the endpoint, in :mod:`.rules`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from vidserve.endpoints.camera import (
    EXTENSION_FIELDS,
    AdvancedCameraControl,
    AdvancedCameraControlField,
    CameraControlField,
    SeedField,
)
from vidserve.endpoints.fields import (
    DEFAULT_NEGATIVE_PROMPT,
    AspectRatio,
    CfgScale,
    ComboElement,
    Duration,
    DynamicMasks,
    EffectScene,
    GenerateAudio,
    MultiPrompt,
    NegativePrompt,
    O1Duration,
    OmniElement,
    Prompt,
    ShotType,
    StaticMaskUrl,
    TailImageUrl,
    V3Duration,
    VoiceId,
    VoiceSpeed,
)
from vidserve.endpoints.loras import LorasField
from vidserve.endpoints.voices import DEFAULT_VOICE
from vidserve.schema import File, Usage

# Field declarations several types share; functions so each class gets its own FieldInfo.


def _image_url() -> Any:
    return Field(description="URL of the image to be used for the video")


def _start_image_url() -> Any:
    return Field(description="URL of the image to be used as the first frame of the video")


def _end_image_url() -> Any:
    return Field(default=None, description="URL of the image to be used as the last frame")


def _duration() -> Any:
    return Field(default="5", description="The duration of the generated video in seconds")


def _aspect_ratio() -> Any:
    return Field(default="16:9", description="The aspect ratio of the generated video frame")


def _optional_prompt() -> Any:
    return Field(
        default=None,
        max_length=2500,
        description="Text prompt for video generation. Either prompt or multi_prompt must be "
        "provided, but not both.",
    )


def _shot_type() -> Any:
    return Field(
        default="customize",
        description="The type of multi-shot video generation. 'intelligent' lets the model "
        "determine the shots from the prompt.",
    )


class _Input(BaseModel):
    # Unknown fields are ignored, as fal does.
    model_config = ConfigDict(extra="ignore")

    seed: SeedField

    @model_serializer(mode="wrap")
    def _without_unset_extensions(self, handler: SerializerFunctionWrapHandler) -> Any:
        # vidserve's extensions are stored (and echoed) only when given: fal's own fields
        # stay exactly fal's.
        data = handler(self)
        for name in EXTENSION_FIELDS:
            if isinstance(data, dict) and name in data and data[name] is None:
                del data[name]
        return data


class _GenerativeInput(_Input):
    """Inputs a diffusion model can render: vidserve's ``loras`` extension (:mod:`.loras`)."""

    loras: LorasField


class _CameraInput(_GenerativeInput):
    """Image-to-video inputs: vidserve's camera and framing extensions (where fal's own
    input has an ``aspect_ratio``, that one stands)."""

    camera_control: CameraControlField
    advanced_camera_control: AdvancedCameraControlField
    aspect_ratio: AspectRatio | None = Field(
        default=None,
        description="vidserve extension: frame the video at this aspect ratio, cropping the "
        "start image to it (centred). Default: the start image's own.",
    )


# --- image to video -----------------------------------------------------------------------


class V1ImageToVideoInput(_CameraInput):
    """fal's V1ImageToVideoRequest: tail frame and motion brush."""

    prompt: Prompt = Field(description="The prompt for the video")
    image_url: str = _image_url()
    duration: Duration = _duration()
    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT
    cfg_scale: CfgScale = 0.5
    tail_image_url: TailImageUrl = None
    static_mask_url: StaticMaskUrl = None
    dynamic_masks: DynamicMasks = None


class V15ProImageToVideoInput(V1ImageToVideoInput):
    """fal's KlingVideoV15ProImageToVideoInput: v1's fields and an aspect ratio."""

    aspect_ratio: AspectRatio = _aspect_ratio()


class ProImageToVideoInput(_CameraInput):
    """fal's ProImageToVideoRequest (KlingVideoV16ProImageToVideoInput): aspect ratio and
    tail frame."""

    prompt: Prompt
    image_url: str = _image_url()
    duration: Duration = _duration()
    aspect_ratio: AspectRatio = _aspect_ratio()
    tail_image_url: TailImageUrl = None
    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT
    cfg_scale: CfgScale = 0.5


class ImageToVideoInput(_CameraInput):
    """fal's KlingVideoV2MasterImageToVideoInput (also v1.6 standard, v2.1 standard and
    master, v2.5-turbo standard): an image and a prompt."""

    prompt: Prompt
    image_url: str = _image_url()
    duration: Duration = _duration()
    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT
    cfg_scale: CfgScale = 0.5


class V21ProImageToVideoInput(ImageToVideoInput):
    """fal's KlingVideoV21ProImageToVideoInput (also v2.5-turbo pro): and a tail frame."""

    tail_image_url: TailImageUrl = None


class V26ProImageToVideoInput(_CameraInput):
    """fal's KlingVideoV26ProImageToVideoInput: start and end frames, native audio, voices."""

    prompt: Prompt
    start_image_url: str = _start_image_url()
    end_image_url: str | None = _end_image_url()
    duration: Duration = _duration()
    generate_audio: GenerateAudio = True
    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT
    voice_ids: list[str] | None = Field(
        default=None,
        max_length=2,
        description="Voice IDs (from create-voice), referenced in the prompt as <<<voice_1>>> "
        "and <<<voice_2>>>; at most 2.",
    )


class O1ImageToVideoInput(_CameraInput):
    """fal's OmniVideoImageToVideoInput: start and optional end frame, 3 to 10 s."""

    prompt: Prompt = Field(
        description="Use @Image1 to reference the start frame, @Image2 to reference the end frame."
    )
    start_image_url: str = Field(description="Image to use as the first frame of the video.")
    end_image_url: str | None = Field(
        default=None, description="Image to use as the last frame of the video."
    )
    duration: O1Duration = Field(default="5", description="Video duration in seconds.")


class V3ImageToVideoInput(_CameraInput):
    """fal's KlingVideoV34kImageToVideoInput (v3 standard, pro and 4k): a storyboard,
    elements, native audio, 3 to 15 s."""

    prompt: str | None = _optional_prompt()
    multi_prompt: MultiPrompt = None
    shot_type: ShotType = _shot_type()
    start_image_url: str = _start_image_url()
    end_image_url: str | None = _end_image_url()
    elements: list[ComboElement] | None = Field(
        default=None,
        description="Elements (characters/objects) to include, referenced in the prompt as "
        "@Element1, @Element2.",
    )
    duration: V3Duration = _duration()
    generate_audio: GenerateAudio = True
    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT
    cfg_scale: CfgScale = 0.5


class O3ImageToVideoInput(_CameraInput):
    """fal's O3ProImageToVideoInput (O3 standard, pro and 4k)."""

    prompt: str | None = _optional_prompt()
    multi_prompt: MultiPrompt = None
    shot_type: ShotType = _shot_type()
    image_url: str = Field(description="URL of the start frame image.")
    end_image_url: str | None = Field(default=None, description="URL of the end frame image.")
    duration: V3Duration = _duration()
    generate_audio: bool | None = Field(
        default=None, description="Whether to generate native audio for the video."
    )


class V3TurboImageToVideoInput(_CameraInput):
    """fal's KlingVideoV3TurboProImageToVideoInput (turbo standard and pro)."""

    prompt: str | None = _optional_prompt()
    multi_prompt: MultiPrompt = None
    image_url: str = Field(description="First-frame reference image.")
    duration: V3Duration = Field(default="5", description="Video length in seconds.")


# --- text to video ------------------------------------------------------------------------


class V1TextToVideoInput(_GenerativeInput):
    """fal's V1TextToVideoRequest: Kling v1's camera presets and ``advanced_camera_control``
    (fal's own fields here, not extensions)."""

    prompt: Prompt
    duration: Duration = _duration()
    aspect_ratio: AspectRatio = _aspect_ratio()
    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT
    cfg_scale: CfgScale = 0.5
    camera_control: (
        Literal["down_back", "forward_up", "right_turn_forward", "left_turn_forward"] | None
    ) = Field(default=None, description="Camera control parameters")
    advanced_camera_control: AdvancedCameraControl | None = Field(
        default=None, description="Advanced Camera control parameters"
    )


class TextToVideoInput(_GenerativeInput):
    """fal's TextToVideoRequest (KlingVideoV15ProTextToVideoInput: v1.5 pro, v1.6, v2 and
    v2.1 master, v2.5-turbo pro)."""

    prompt: Prompt
    duration: Duration = _duration()
    aspect_ratio: AspectRatio = _aspect_ratio()
    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT
    cfg_scale: CfgScale = 0.5


class V26ProTextToVideoInput(TextToVideoInput):
    """fal's KlingVideoV26ProTextToVideoInput: and native audio."""

    generate_audio: GenerateAudio = True


class V3TextToVideoInput(_GenerativeInput):
    """fal's KlingVideoV34kTextToVideoInput (v3 standard, pro and 4k)."""

    prompt: str | None = _optional_prompt()
    multi_prompt: MultiPrompt = None
    shot_type: ShotType = _shot_type()
    aspect_ratio: AspectRatio = _aspect_ratio()
    duration: V3Duration = _duration()
    generate_audio: GenerateAudio = True
    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT
    cfg_scale: CfgScale = 0.5


class O3TextToVideoInput(_GenerativeInput):
    """fal's O3ProTextToVideoInput (O3 standard, pro and 4k)."""

    prompt: str | None = _optional_prompt()
    multi_prompt: MultiPrompt = None
    shot_type: ShotType = _shot_type()
    aspect_ratio: AspectRatio = _aspect_ratio()
    duration: V3Duration = _duration()
    generate_audio: bool | None = Field(
        default=None, description="Whether to generate native audio for the video."
    )


class V3TurboTextToVideoInput(_GenerativeInput):
    """fal's KlingVideoV3TurboProTextToVideoInput (turbo standard and pro)."""

    prompt: str | None = _optional_prompt()
    multi_prompt: MultiPrompt = None
    aspect_ratio: AspectRatio = _aspect_ratio()
    duration: V3Duration = Field(default="5", description="Video length in seconds.")


# --- several images -----------------------------------------------------------------------


class ElementsInput(_GenerativeInput):
    """fal's MultiImageToVideoRequest (KlingVideoV16ProElementsInput): up to 4 images."""

    prompt: Prompt
    input_image_urls: list[str] = Field(
        min_length=1,
        max_length=4,
        description="List of image URLs to use for video generation. Supports up to 4 images.",
    )
    duration: Duration = _duration()
    aspect_ratio: AspectRatio = _aspect_ratio()
    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT


class O1ReferenceToVideoInput(_GenerativeInput):
    """fal's OmniVideoReferenceToVideoInput: elements and reference images, 3 to 10 s."""

    prompt: Prompt = Field(
        description="Take @Element1, @Element2 to reference elements and @Image1, @Image2 to "
        "reference images in order."
    )
    elements: list[OmniElement] | None = Field(
        default=None,
        description="Elements (characters/objects) to include in the video. Maximum 7 total "
        "(elements + reference images + start image).",
    )
    image_urls: list[str] | None = Field(
        default=None,
        description="Additional reference images for style/appearance. Maximum 7 total "
        "(elements + reference images + start image).",
    )
    aspect_ratio: AspectRatio = _aspect_ratio()
    duration: O1Duration = Field(default="5", description="Video duration in seconds.")


class O3ReferenceToVideoInput(_GenerativeInput):
    """fal's O3ProReferenceVideoI2VInput (O3 standard, pro and 4k)."""

    prompt: str | None = _optional_prompt()
    multi_prompt: MultiPrompt = None
    shot_type: ShotType = _shot_type()
    start_image_url: str | None = Field(
        default=None, description="Image to use as the first frame of the video."
    )
    end_image_url: str | None = Field(
        default=None, description="Image to use as the last frame of the video."
    )
    elements: list[ComboElement] | None = Field(
        default=None,
        description="Elements (characters/objects) to include, referenced in the prompt as "
        "@Element1, @Element2.",
    )
    image_urls: list[str] | None = Field(
        default=None,
        description="Reference images for style/appearance, referenced in the prompt as "
        "@Image1, @Image2.",
    )
    aspect_ratio: AspectRatio = _aspect_ratio()
    duration: V3Duration = _duration()
    generate_audio: bool | None = Field(
        default=None, description="Whether to generate native audio for the video."
    )


class EffectsInput(_Input):
    """fal's VideoEffectsRequest (KlingVideoV15ProEffectsInput): a named effect on one photo,
    or on two for hug, kiss and heart_gesture."""

    effect_scene: EffectScene
    input_image_urls: list[str] | None = Field(
        default=None,
        max_length=2,
        description="URL of images to be used for hug, kiss or heart_gesture video.",
    )
    duration: Duration = _duration()


# --- talking ------------------------------------------------------------------------------


class LipsyncAudioToVideoInput(_Input):
    """fal's LipsyncA2VRequest (lipsyncInput): a video of a face and the audio it speaks."""

    video_url: str = Field(description="The URL of the video to generate the lip sync for.")
    audio_url: str = Field(description="The URL of the audio to generate the lip sync for.")


class LipsyncTextToVideoInput(_Input):
    """fal's LipsyncT2VRequest: a video of a face and up to 120 characters to say."""

    video_url: str = Field(
        description="The URL of the video to generate the lip sync for. Supports .mp4/.mov, "
        "<=100MB, 2-60s, 720p/1080p only, width/height 720-1920px."
    )
    text: str = Field(
        min_length=1,
        max_length=120,
        description="Text content for lip-sync video generation. Max 120 characters.",
    )
    voice_id: VoiceId
    voice_language: Literal["zh", "en"] = Field(
        default="en", description="The voice language corresponding to the Voice ID"
    )
    voice_speed: VoiceSpeed = 1.0


class TextToSpeechInput(_Input):
    """fal's KlingVideoV1TtsInput: text to speech in one of Kling's voices."""

    text: str = Field(min_length=1, description="The text to be converted to speech")
    voice_id: VoiceId = Field(default=DEFAULT_VOICE)
    voice_speed: VoiceSpeed = 1.0


class AvatarInput(_Input):
    """fal's AIAvatarInput: a photo of a face and the audio it speaks."""

    image_url: str = Field(description="The URL of the image to use as your avatar")
    audio_url: str = Field(description="The URL of the audio file.")
    prompt: str = Field(
        default=".", max_length=2500, description="The prompt to use for the video generation."
    )


# --- output -------------------------------------------------------------------------------


class VideoOutput(BaseModel):
    """Every Kling video endpoint's output (fal's I2VOutput)."""

    video: File = Field(description="The generated video")
    seed: int | None = Field(
        default=None, description="vidserve extension: the seed used, given or chosen."
    )
    usage: Usage | None = Field(
        default=None,
        description="vidserve extension: seconds of video delivered and their cost in USD.",
    )
    warnings: list[str] | None = Field(
        default=None,
        description="vidserve extension: what the engine did without (e.g. audio that an "
        "endpoint defaults to but its engine cannot make).",
    )


class AvatarOutput(VideoOutput):
    """fal's AIAvatarOutput: the video and how long it lasts."""

    duration: float = Field(description="Duration of the output video in seconds.")


class AudioOutput(BaseModel):
    """fal's DiaOutput: text-to-speech's audio file."""

    audio: File = Field(description="The generated speech audio")
    usage: Usage | None = Field(
        default=None, description="vidserve extension: seconds of audio and their cost in USD."
    )
