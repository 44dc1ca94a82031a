"""The Kling image-to-video endpoints, with the schemas, defaults and ranges of fal's pages.

Each endpoint id takes the request type fal's pages give it: ``V1ImageToVideoRequest`` for
v1 standard (tail frame and motion brush), ``ProImageToVideoRequest`` for the pro tiers
(aspect ratio and tail frame), ``ImageToVideoV2MasterRequest`` for v2.1 master, and O1's
start/end-frame request, each with vidserve's optional ``camera_control``,
``advanced_camera_control`` and ``seed`` (:mod:`.camera`). Kling's own rules (tiers, fps,
trajectory origin, which controls combine) live here, never in an engine.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails

from vidserve.endpoints.base import EndpointSpec, FileInput, OutputSettings
from vidserve.endpoints.camera import (
    EXTENSION_FIELDS,
    SEED_MAX,
    AdvancedCameraControlField,
    CameraControlField,
    SeedField,
    camera_motion,
    field_error,
    raise_errors,
)
from vidserve.engines.base import DynamicMask as EngineDynamicMask
from vidserve.engines.base import Image, VideoRequest
from vidserve.errors import InputError
from vidserve.schema import File, Usage

DEFAULT_NEGATIVE_PROMPT = "blur, distort, and low quality"
MAX_PROMPT = 2500


def _int_to_str(value: Any) -> Any:
    # fal's duration is a string enum; accept the bare number too, as users send it.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Duration = Annotated[Literal["5", "10"], BeforeValidator(_int_to_str)]
O1Duration = Annotated[
    Literal["3", "4", "5", "6", "7", "8", "9", "10"], BeforeValidator(_int_to_str)
]
AspectRatio = Literal["16:9", "9:16", "1:1"]

Prompt = Annotated[str, Field(max_length=MAX_PROMPT, description="The prompt for the video")]
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


class _Input(BaseModel):
    # Unknown fields are ignored, as fal does.
    model_config = ConfigDict(extra="ignore")

    @model_serializer(mode="wrap")
    def _without_unset_extensions(self, handler: SerializerFunctionWrapHandler) -> Any:
        # vidserve's extensions are stored (and echoed) only when given: fal's own fields
        # stay exactly fal's.
        data = handler(self)
        for name in EXTENSION_FIELDS:
            if isinstance(data, dict) and data.get(name, 0) is None:
                del data[name]
        return data


class _Controls(BaseModel):
    """vidserve's extensions on every endpoint, and Kling's rules on combining controls.

    Kling (``reference/kling-controls.md`` 1.5) takes one of an end frame, a motion brush or
    a camera control per request, and renders the end frame (on kling-v1) and the motion
    brush for 5 s only; a request that breaks a rule is a 422 naming the field.
    """

    camera_control: CameraControlField
    advanced_camera_control: AdvancedCameraControlField
    seed: SeedField

    #: Durations an end frame allows on this endpoint's model (None: any).
    _end_frame_durations: ClassVar[tuple[str, ...] | None] = None

    @model_validator(mode="after")
    def _kling_rules(self) -> _Controls:
        raise_errors(type(self).__name__, _rule_errors(self, self._end_frame_durations))
        return self


def _rule_errors(inp: Any, end_durations: tuple[str, ...] | None) -> list[InitErrorDetails]:
    rule = "Kling takes one of an end frame, a motion brush or a camera control per request"
    end = next((n for n in ("tail_image_url", "end_image_url") if getattr(inp, n, None)), None)
    brush = [n for n in ("static_mask_url", "dynamic_masks") if getattr(inp, n, None)]
    cameras = [n for n in ("camera_control", "advanced_camera_control") if getattr(inp, n)]
    errors: list[InitErrorDetails] = []
    if len(cameras) == 2:
        message = "give camera_control or advanced_camera_control, not both"
        errors.append(field_error(("advanced_camera_control",), "camera_conflict", message))
    for camera in cameras[:1]:
        for other in [n for n in (end, *brush) if n]:
            message = f"{camera} cannot be combined with {other}: {rule}"
            errors.append(field_error((camera,), "mutually_exclusive", message))
    if end:
        for name in brush:
            message = f"{name} cannot be combined with {end}: {rule}"
            errors.append(field_error((name,), "mutually_exclusive", message))
    duration = getattr(inp, "duration", "5")
    if brush and duration != "5":
        names = " and ".join(brush)
        message = f"a motion brush ({names}) forces duration '5': Kling renders it for 5 s only"
        errors.append(field_error(("duration",), "duration_forced", message, duration))
    if end and end_durations is not None and duration not in end_durations:
        message = f"{end} forces duration '5': this model renders an end frame for 5 s only"
        errors.append(field_error(("duration",), "duration_forced", message, duration))
    return errors


class Trajectory(BaseModel):
    """A point of a motion-brush path, in pixels of the input image, origin bottom-left.

    Integers only, as fal's schema (a float is a 422, not silently rounded); points must lie
    on the image, which is checked once the image is loaded.
    """

    x: int = Field(strict=True, description="X coordinate of the motion trajectory")
    y: int = Field(strict=True, description="Y coordinate of the motion trajectory")


class DynamicMask(BaseModel):
    """A motion-brush region and its path."""

    mask_url: str = Field(
        description="URL of the image for Dynamic Brush Application Area (Mask image created "
        "by users using the motion brush)"
    )
    trajectories: list[Trajectory] = Field(
        min_length=2, max_length=77, description="List of trajectories"
    )


TailImageUrl = Annotated[
    str | None, Field(description="URL of the image to be used for the end of the video")
]


class _ImageToVideoInput(_Input):
    """The fields every v1..v2.1 request starts with, in fal's order."""

    prompt: Prompt
    image_url: str = Field(description="URL of the image to be used for the video")
    duration: Duration = Field(
        default="5", description="The duration of the generated video in seconds"
    )


class V1ImageToVideoInput(_Controls, _ImageToVideoInput):
    """``fal-ai/kling-video/v1/standard/image-to-video`` (fal's V1ImageToVideoRequest)."""

    _end_frame_durations = ("5",)

    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT
    cfg_scale: CfgScale = 0.5
    tail_image_url: TailImageUrl = None
    static_mask_url: str | None = Field(
        default=None,
        description="URL of the image for Static Brush Application Area (Mask image created "
        "by users using the motion brush)",
    )
    dynamic_masks: list[DynamicMask] | None = Field(
        default=None, max_length=6, description="List of dynamic masks"
    )


class ProImageToVideoInput(_Controls, _ImageToVideoInput):
    """The pro tiers (fal's ProImageToVideoRequest): aspect ratio and tail frame."""

    aspect_ratio: AspectRatio = Field(
        default="16:9", description="The aspect ratio of the generated video frame"
    )
    tail_image_url: TailImageUrl = None
    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT
    cfg_scale: CfgScale = 0.5


class V1ProImageToVideoInput(ProImageToVideoInput):
    """``fal-ai/kling-video/v1/pro/image-to-video``: kling-v1 allows an end frame at 5 s only
    (kling-v1-6 pro at 5 or 10 s)."""

    _end_frame_durations = ("5",)


class V21MasterImageToVideoInput(_Controls, _ImageToVideoInput):
    """``fal-ai/kling-video/v2.1/master/image-to-video`` (ImageToVideoV2MasterRequest)."""

    negative_prompt: NegativePrompt = DEFAULT_NEGATIVE_PROMPT
    cfg_scale: CfgScale = 0.5


class _O1Fields(_Input):
    """O1's own fields, in fal's order."""

    prompt: Prompt = Field(
        description="Use @Image1 to reference the start frame, @Image2 to reference the end frame."
    )
    start_image_url: str = Field(description="Image to use as the first frame of the video.")
    end_image_url: str | None = Field(
        default=None, description="Image to use as the last frame of the video."
    )
    duration: O1Duration = Field(default="5", description="Video duration in seconds.")


class O1ImageToVideoInput(_Controls, _O1Fields):
    """``fal-ai/kling-video/o1/standard/image-to-video``: start and optional end frame."""


class VideoOutput(BaseModel):
    """Every Kling endpoint's output."""

    video: File = Field(description="The generated video")
    seed: int | None = Field(
        default=None, description="vidserve extension: the seed used, given or chosen."
    )
    usage: Usage | None = Field(
        default=None,
        description="vidserve extension: seconds of video delivered and their cost in USD.",
    )


# --- adapters -------------------------------------------------------------------------------

_ASPECTS: dict[str, float] = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}
_MIN_ASPECT, _MAX_ASPECT = 0.4, 2.5


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def output_size(resolution: int, aspect: float) -> tuple[int, int]:
    """Width and height for a tier (its short side) and an aspect ratio (width / height)."""
    aspect = min(max(aspect, _MIN_ASPECT), _MAX_ASPECT)
    if aspect >= 1:
        return _even(resolution * aspect), resolution
    return resolution, _even(resolution / aspect)


def _file_inputs(inp: Any) -> list[FileInput]:
    files: list[FileInput] = []
    for name in ("image_url", "start_image_url", "tail_image_url", "end_image_url"):
        url = getattr(inp, name, None)
        if url:
            files.append(FileInput(("body", name), url, "image"))
    if getattr(inp, "static_mask_url", None):
        files.append(FileInput(("body", "static_mask_url"), inp.static_mask_url, "mask"))
    for i, mask in enumerate(getattr(inp, "dynamic_masks", None) or []):
        files.append(FileInput(("body", "dynamic_masks", i, "mask_url"), mask.mask_url, "mask"))
    return files


def _check_points(masks: list[DynamicMask], width: int, height: int) -> None:
    """Every trajectory point must lie on the input image (Kling: its pixel coordinates)."""
    errors = [
        {
            "loc": ["body", "dynamic_masks", i, "trajectories", j],
            "msg": f"point ({p.x}, {p.y}) lies outside the {width}x{height} input image; "
            f"x must be in 0..{width} and y in 0..{height} (origin bottom-left)",
            "type": "point_outside_image",
        }
        for i, mask in enumerate(masks)
        for j, p in enumerate(mask.trajectories)
        if not (0 <= p.x <= width and 0 <= p.y <= height)
    ]
    if errors:
        raise InputError(errors)


def _make_adapter(output: OutputSettings) -> Any:
    def adapt(inp: Any, files: Mapping[tuple[str | int, ...], Image]) -> VideoRequest:
        start_loc = ("body", "start_image_url" if hasattr(inp, "start_image_url") else "image_url")
        end_loc = ("body", "end_image_url" if hasattr(inp, "end_image_url") else "tail_image_url")
        start = files[start_loc]
        height_px = int(start.shape[0])
        aspect_name = getattr(inp, "aspect_ratio", None)
        aspect = _ASPECTS[aspect_name] if aspect_name else start.shape[1] / start.shape[0]
        width, height = output_size(output.resolution, aspect)
        masks = getattr(inp, "dynamic_masks", None) or []
        _check_points(masks, int(start.shape[1]), height_px)
        dynamic = tuple(
            EngineDynamicMask(
                mask=files[("body", "dynamic_masks", i, "mask_url")],
                # Kling's trajectory origin is the bottom-left of the image; engines use top-left.
                trajectory=tuple((float(p.x), float(height_px - p.y)) for p in mask.trajectories),
            )
            for i, mask in enumerate(masks)
        )
        return VideoRequest(
            start_image=start,
            end_image=files.get(end_loc),
            prompt=inp.prompt,
            negative_prompt=getattr(inp, "negative_prompt", ""),
            guidance=getattr(inp, "cfg_scale", 0.5),
            width=width,
            height=height,
            fps=output.fps,
            duration=float(inp.duration),
            static_mask=files.get(("body", "static_mask_url")),
            dynamic_masks=dynamic,
            camera=camera_motion(inp.camera_control, inp.advanced_camera_control),
            # fal picks a seed when none is given and reports it; so does vidserve.
            seed=inp.seed if inp.seed is not None else secrets.randbelow(SEED_MAX + 1),
        )

    return adapt


# --- the table --------------------------------------------------------------------------------

_EXAMPLE_IMAGE = "https://storage.googleapis.com/falserverless/kling/kling_input.jpeg"


def _spec(
    endpoint_id: str,
    title: str,
    input_model: type[BaseModel],
    output: OutputSettings,
    price: float,
    example: dict[str, Any],
) -> EndpointSpec:
    return EndpointSpec(
        endpoint_id=endpoint_id,
        title=title,
        input_model=input_model,
        output_model=VideoOutput,
        output=output,
        price_per_second=price,
        example=example,
        file_inputs=_file_inputs,
        adapter=_make_adapter(output),
    )


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

#: Output per endpoint, from Kling's capability map (``reference/kling-controls.md`` 1.6).
KLING_ENDPOINTS: tuple[EndpointSpec, ...] = (
    _spec(
        "fal-ai/kling-video/v1/standard/image-to-video",
        "Kling 1.0 (standard) image to video",
        V1ImageToVideoInput,
        OutputSettings("kling-v1 std", 720, 30, (5, 10)),
        0.045,
        {
            "prompt": "Snowflakes fall as a car moves forward along the road.",
            "image_url": _EXAMPLE_IMAGE,
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
    ),
    _spec(
        "fal-ai/kling-video/v1/pro/image-to-video",
        "Kling 1.0 (pro) image to video",
        V1ProImageToVideoInput,
        OutputSettings("kling-v1 pro", 720, 30, (5, 10)),
        0.098,
        {
            "prompt": _TOKYO,
            "image_url": "https://fal.media/files/panda/TuXlMwArpQcdYNCLAEM8K.webp",
            "duration": "5",
            "aspect_ratio": "16:9",
        },
    ),
    _spec(
        "fal-ai/kling-video/v1.6/pro/image-to-video",
        "Kling 1.6 (pro) image to video",
        ProImageToVideoInput,
        OutputSettings("kling-v1-6 pro", 1080, 30, (5, 10)),
        0.098,
        {
            "prompt": _TOKYO,
            "image_url": "https://fal.media/files/panda/TuXlMwArpQcdYNCLAEM8K.webp",
            "duration": "5",
            "aspect_ratio": "16:9",
        },
    ),
    _spec(
        "fal-ai/kling-video/v2.1/master/image-to-video",
        "Kling 2.1 (master) image to video",
        V21MasterImageToVideoInput,
        OutputSettings("kling-v2-1-master", 1080, 24, (5, 10)),
        0.28,
        {
            "prompt": _ROBINS,
            "image_url": "https://v3.fal.media/files/zebra/9Nrm22YyLojSTPJbZYNhh_image.webp",
            "duration": "5",
            "negative_prompt": DEFAULT_NEGATIVE_PROMPT,
            "cfg_scale": 0.5,
        },
    ),
    _spec(
        "fal-ai/kling-video/o1/standard/image-to-video",
        "Kling O1 (standard) image to video",
        O1ImageToVideoInput,
        OutputSettings("kling-video-o1 std", 720, 24, (3, 4, 5, 6, 7, 8, 9, 10)),
        0.112,
        {
            "prompt": _SPRING,
            "start_image_url": "https://v3b.fal.media/files/b/rabbit/NaslJIC7F2WodS6DFZRRJ.png",
            "end_image_url": "https://v3b.fal.media/files/b/tiger/BwHi22qoQnqaTNMMhe533.png",
            "duration": "5",
        },
    ),
)
