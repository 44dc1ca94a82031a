"""Camera control and seed on the wire, and their map to the engine-neutral ``CameraMotion``.

Two forms name a camera move (``reference/kling-controls.md`` 1.2 and 2):

- ``camera_control``, Kling's image-to-video form: ``{"type": "simple", "config": {...}}``
  with exactly one of six axes non-zero, each in [-10, 10]; or one of the preset types
  ``down_back``, ``forward_up``, ``right_turn_forward``, ``left_turn_forward`` with no
  config. fal's text-to-video form, the bare preset name, is accepted too.
- ``advanced_camera_control``, fal's text-to-video form:
  ``{"movement_type": "pan", "movement_value": -4}``.

fal's image-to-video schemas have neither, nor ``seed``: vidserve accepts them there as
optional extensions, and leaves them out of the stored input when unset, so fal clients see
exactly fal's schema in use. Axis names follow Kling's English docs: ``pan`` turns the camera
about the x axis (- down, + up), ``tilt`` about the y axis (- left, + right).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from vidserve.engines.base import CameraMotion

CameraType = Literal["simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"]
AxisName = Literal["horizontal", "vertical", "pan", "tilt", "roll", "zoom"]
AXES: tuple[AxisName, ...] = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")

#: Kling's preset moves as axes. Kling does not publish theirs; these are a moderate (5 of
#: 10) move along each named direction: "down_back" descends and pulls back, and so on.
PRESETS: dict[str, CameraMotion] = {
    "down_back": CameraMotion(vertical=-5.0, zoom=5.0),
    "forward_up": CameraMotion(vertical=5.0, zoom=-5.0),
    "right_turn_forward": CameraMotion(tilt=5.0, zoom=-5.0),
    "left_turn_forward": CameraMotion(tilt=-5.0, zoom=-5.0),
}

SEED_MAX = 2**32 - 1

Axis = Annotated[float, Field(default=0.0, ge=-10.0, le=10.0)]


def field_error(
    loc: tuple[str | int, ...], kind: str, message: str, value: Any = None
) -> InitErrorDetails:
    """One 422 line for ``loc`` (relative to the model being validated)."""
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)


def raise_errors(title: str, errors: list[InitErrorDetails]) -> None:
    """Raise ``errors`` as a ValidationError whose entries keep their own ``loc``.

    A model validator's ValueError would be located at the model itself (``["body"]``);
    raising a ValidationError instead lets each rule name the field it is about.
    """
    if errors:
        raise ValidationError.from_exception_data(title, errors)


class CameraConfig(BaseModel):
    """The axes of a ``simple`` camera move, each in [-10, 10]; exactly one non-zero."""

    model_config = ConfigDict(extra="forbid")

    horizontal: Axis = Field(description="Move right (+) or left (-).")
    vertical: Axis = Field(description="Move up (+) or down (-).")
    pan: Axis = Field(description="Turn about the x axis: up (+) or down (-).")
    tilt: Axis = Field(description="Turn about the y axis: right (+) or left (-).")
    roll: Axis = Field(description="Roll clockwise (+) or counter-clockwise (-).")
    zoom: Axis = Field(description="Widen (+) or narrow (-) the field of view.")

    @model_validator(mode="after")
    def _one_axis(self) -> CameraConfig:
        moving = [name for name in AXES if getattr(self, name)]
        if len(moving) != 1:
            got = f"{len(moving)} ({', '.join(moving)})" if moving else "none"
            raise PydanticCustomError(
                "camera_axes",
                "a simple camera control moves along exactly one of horizontal, vertical, pan, "
                "tilt, roll and zoom (the others 0); got {got}",
                {"got": got},
            )
        return self


class CameraControl(BaseModel):
    """Kling's ``camera_control``: a ``simple`` move with a config, or a preset without."""

    model_config = ConfigDict(extra="forbid")

    type: CameraType = Field(description="'simple' with a config, or a preset move without one.")
    config: CameraConfig | None = Field(
        default=None, description="Required for 'simple'; must be absent for the presets."
    )

    @field_validator("config", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        # Kling: a preset's config "must be empty/None"; an empty object is empty.
        return None if value == {} else value

    @model_validator(mode="after")
    def _config_matches_type(self) -> CameraControl:
        if self.type == "simple" and self.config is None:
            raise_errors(
                "CameraControl",
                [field_error(("config",), "missing", "a 'simple' camera control needs a config")],
            )
        if self.type != "simple" and self.config is not None:
            message = (
                f"the preset camera control {self.type!r} takes no config; use type 'simple' "
                "to set the axes"
            )
            raise_errors("CameraControl", [field_error(("config",), "extra_config", message)])
        return self

    def motion(self) -> CameraMotion:
        """The engine-neutral move."""
        if self.config is None:
            return PRESETS[self.type]
        return CameraMotion(**{name: float(getattr(self.config, name)) for name in AXES})


class AdvancedCameraControl(BaseModel):
    """fal's ``advanced_camera_control`` (Kling v1 text-to-video): one axis and its value."""

    model_config = ConfigDict(extra="forbid")

    movement_type: AxisName = Field(description="The axis to move along.")
    movement_value: int = Field(ge=-10, le=10, description="How far, in [-10, 10].")

    def motion(self) -> CameraMotion:
        """The engine-neutral move."""
        return CameraMotion(**{self.movement_type: float(self.movement_value)})


def _preset_name_to_object(value: Any) -> Any:
    # fal's text-to-video camera_control is the bare preset name; Kling's is an object.
    return {"type": value} if isinstance(value, str) else value


CameraControlField = Annotated[
    CameraControl | None,
    BeforeValidator(_preset_name_to_object),
    Field(
        default=None,
        description="vidserve extension (Kling's image-to-video camera_control): a 'simple' "
        "move with one axis in [-10, 10], or a preset (the bare preset name also works). "
        "Not with an end frame or a motion brush.",
    ),
]
AdvancedCameraControlField = Annotated[
    AdvancedCameraControl | None,
    Field(
        default=None,
        description="vidserve extension (fal's text-to-video form): one axis and its value.",
    ),
]
SeedField = Annotated[
    Annotated[int, Field(ge=0, le=SEED_MAX)] | None,
    Field(
        default=None,
        description="vidserve extension: the same request with the same seed gives the same "
        "video. Chosen at random (and returned) when not given.",
    ),
]

#: The optional extensions: left out of the stored input when unset.
EXTENSION_FIELDS = ("camera_control", "advanced_camera_control", "seed", "aspect_ratio", "loras")


def camera_motion(
    control: CameraControl | None, advanced: AdvancedCameraControl | None
) -> CameraMotion | None:
    """The engine-neutral move the request names, or None when it names none."""
    if control is not None:
        return control.motion()
    return None if advanced is None else advanced.motion()
