"""Field types the Kling inputs share, with fal's names, enums, defaults and descriptions.

Durations are string enums on fal's wire; a bare number (``5``) is accepted too, as users
send it. Nested objects (motion-brush masks, storyboard shots, elements) are declared here
once and reused by every input that takes them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from vidserve.endpoints.effect_scenes import EFFECT_SCENES
from vidserve.endpoints.voices import VOICE_IDS

DEFAULT_NEGATIVE_PROMPT = "blur, distort, and low quality"
MAX_PROMPT = 2500
#: Kling's limit on one storyboard shot's prompt.
MAX_SHOT_PROMPT = 512


def _int_to_str(value: Any) -> Any:
    # fal's duration is a string enum; accept the bare number too, as users send it.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


#: v1 to v2.6: 5 or 10 s.
Duration = Annotated[Literal["5", "10"], BeforeValidator(_int_to_str)]
#: O1: 3 to 10 s.
O1Duration = Annotated[
    Literal["3", "4", "5", "6", "7", "8", "9", "10"], BeforeValidator(_int_to_str)
]
#: v3 and O3: 3 to 15 s.
V3Duration = Annotated[
    Literal["3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"],
    BeforeValidator(_int_to_str),
]
#: One storyboard shot: 1 to 15 s.
ShotDuration = Annotated[
    Literal["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"],
    BeforeValidator(_int_to_str),
]
AspectRatio = Literal["16:9", "9:16", "1:1"]
ShotType = Literal["customize", "intelligent"]

Prompt = Annotated[str, Field(max_length=MAX_PROMPT)]
NegativePrompt = Annotated[str, Field(max_length=MAX_PROMPT)]
CfgScale = Annotated[
    float,
    Field(
        ge=0.0,
        le=1.0,
        description="The CFG (Classifier Free Guidance) scale is a measure of how close you "
        "want the model to stick to your prompt.",
    ),
]
GenerateAudio = Annotated[
    bool,
    Field(
        description="Whether to generate native audio for the video. Supports Chinese and "
        "English voice output."
    ),
]


def long_enum(field: str, values: tuple[str, ...], description: str) -> Any:
    """A string enum too long to quote whole in a 422 (the schema still lists every value):
    an unknown value is named with the count and the first few."""
    known = frozenset(values)
    sample = ", ".join(values[:3])

    def check(value: str) -> str:
        if value not in known:
            raise PydanticCustomError(
                "literal_error",
                "unknown {field} '{value}'; Kling has {count} ({sample}, ...), listed in this "
                "endpoint's schema",
                {"field": field, "value": value, "count": len(values), "sample": sample},
            )
        return value

    schema = {"type": "string", "enum": list(values), "description": description}
    return Annotated[str, AfterValidator(check), WithJsonSchema(schema)]


EffectScene = long_enum(
    "effect scene", EFFECT_SCENES, "The effect scene to use for the video generation"
)
VoiceId = long_enum("voice_id", VOICE_IDS, "Voice ID to use for speech synthesis")
VoiceSpeed = Annotated[
    float, Field(ge=0.8, le=2.0, description="Rate of speech, 0.8 to 2.0 (Kling's range).")
]


class Trajectory(BaseModel):
    """A point of a motion-brush path, in pixels of the input image, origin bottom-left.

    Integers only, as fal's schema (a float is a 422, not silently rounded); points must lie
    on the image, which is checked once the image is loaded.
    """

    x: int = Field(strict=True, description="X coordinate of the motion trajectory")
    y: int = Field(strict=True, description="Y coordinate of the motion trajectory")


class DynamicMask(BaseModel):
    """A motion-brush region and its path. fal's schema leaves ``trajectories`` optional;
    Kling needs 2 to 77 points, which the endpoint's rules check."""

    mask_url: str = Field(
        description="URL of the image for Dynamic Brush Application Area (Mask image created "
        "by users using the motion brush)"
    )
    trajectories: list[Trajectory] | None = Field(
        default=None, max_length=77, description="List of trajectories"
    )


StaticMaskUrl = Annotated[
    str | None,
    Field(
        description="URL of the image for Static Brush Application Area (Mask image created "
        "by users using the motion brush)"
    ),
]
DynamicMasks = Annotated[
    list[DynamicMask] | None, Field(max_length=6, description="List of dynamic masks")
]
TailImageUrl = Annotated[
    str | None, Field(description="URL of the image to be used for the end of the video")
]


class MultiPromptElement(BaseModel):
    """One shot of a v3/O3 storyboard (fal's KlingV3MultiPromptElement)."""

    prompt: str = Field(max_length=MAX_SHOT_PROMPT, description="The prompt for this shot.")
    duration: ShotDuration = Field(
        default="5", description="The duration of this shot in seconds"
    )


MultiPrompt = Annotated[
    list[MultiPromptElement] | None,
    Field(
        min_length=1,
        max_length=6,
        description="List of prompts for multi-shot video generation (1 to 6 shots).",
    ),
]
ReferenceImageUrls = Annotated[
    list[str] | None,
    Field(
        max_length=3,
        description="Additional reference images from different angles. 1-3 images supported.",
    ),
]


class OmniElement(BaseModel):
    """An O1 element: a subject seen from the front and, optionally, other angles
    (fal's OmniVideoElementInput)."""

    frontal_image_url: str = Field(description="The frontal image of the element (main view).")
    reference_image_urls: ReferenceImageUrls = None


class ComboElement(BaseModel):
    """A v3/O3 element: an image set or a video, optionally with a bound voice
    (fal's KlingV3ComboElementInput)."""

    frontal_image_url: str | None = Field(
        default=None, description="The frontal image of the element (main view)."
    )
    reference_image_urls: ReferenceImageUrls = None
    video_url: str | None = Field(
        default=None,
        description="The video URL of the element. A request can only have one element with "
        "a video.",
    )
    voice_id: str | None = Field(
        default=None, description="The voice ID for this element (from create-voice)."
    )
