"""What every endpoint declares: its kind, schemas, tier, price and Kling's rules on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from vidserve.endpoints.adapter import Asks, asks, refusals, video_request
from vidserve.endpoints.files import FileInput, Loc, file_inputs
from vidserve.endpoints.inputs import VideoOutput
from vidserve.endpoints.rules import body_errors, file_errors
from vidserve.endpoints.tiers import OutputSettings
from vidserve.engines.base import Capabilities, Feature, Kind, VideoRequest
from vidserve.errors import InputError

#: Namespaces whose endpoint ids carry one extra leading segment (fal's rule).
_NAMESPACES = ("workflows", "comfy")


def app_id(endpoint_id: str) -> str:
    """The ``owner/alias`` part of an endpoint id: what fal's status, result and cancel
    paths keep once they drop the endpoint's sub-path."""
    parts = endpoint_id.strip("/").split("/")
    keep = 3 if parts and parts[0] in _NAMESPACES else 2
    return "/".join(parts[:keep])


@dataclass(frozen=True)
class Price:
    """USD per second of video as fal publishes it; ``per_second`` None where fal publishes
    none (``source`` says so), ``with_audio`` where sound costs more."""

    per_second: float | None
    source: str
    with_audio: float | None = None


@dataclass(frozen=True)
class EndpointSpec:
    """One served endpoint id: its schema, tier, price, and every Kling rule on it."""

    endpoint_id: str
    title: str
    kind: Kind
    input_model: type[BaseModel]
    output: OutputSettings
    price: Price
    #: A full input example (with public URLs).
    example: Mapping[str, Any]
    output_model: type[BaseModel] = VideoOutput
    #: Durations an end frame allows on this endpoint's model (None: any).
    end_frame_durations: tuple[str, ...] | None = None

    @property
    def app_id(self) -> str:
        return app_id(self.endpoint_id)

    def validate(self, data: Any) -> BaseModel:
        """The validated input, or an InputError naming every bad field and broken rule.
        A storyboard without a ``duration`` lasts as long as its shots add up to."""
        try:
            inp = self.input_model.model_validate(data)
        except ValidationError as exc:
            raise InputError(validation_details(exc)) from None
        errors = body_errors(inp, self.end_frame_durations)
        if errors:
            raise InputError(errors)
        shots = getattr(inp, "multi_prompt", None)
        if shots and "duration" not in inp.model_fields_set:
            total = sum(int(shot.duration) for shot in shots)
            inp = inp.model_copy(update={"duration": str(total)})
        return inp

    def files(self, inp: BaseModel) -> list[FileInput]:
        """The files to fetch and decode, the start image first."""
        return file_inputs(inp)

    def check_files(self, inp: BaseModel, sizes: Mapping[Loc, tuple[int, int]]) -> None:
        """Kling's rules on the decoded files (``loc`` -> ``(width, height)``)."""
        errors = file_errors(inp, self.files(inp), sizes)
        if errors:
            raise InputError(errors)

    def asks(self, inp: BaseModel) -> Asks:
        """What ``inp`` asks of its engine."""
        return asks(inp, self.kind)

    def to_video_request(
        self, inp: BaseModel, files: Mapping[Loc, Any], caps: Capabilities, engine: str
    ) -> tuple[VideoRequest, list[str]]:
        """The engine-neutral request for ``engine`` (which declares ``caps``), and notes on
        what it does without. InputError for what it cannot do."""
        errors, notes = refusals(self.asks(inp), caps, engine, at_submit=False)
        if errors:
            raise InputError(errors)
        request = video_request(
            inp, files, kind=self.kind, output=self.output, audio=Feature.AUDIO in caps.features
        )
        return request, notes


def validation_details(
    exc: ValidationError, prefix: tuple[str | int, ...] = ("body",)
) -> list[dict[str, Any]]:
    """FastAPI-style 422 details from a pydantic error: ``loc`` starts with ``prefix``."""
    details: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False, include_input=False):
        detail: dict[str, Any] = {
            "loc": [*prefix, *err["loc"]],
            "msg": err["msg"],
            "type": err["type"],
        }
        if ctx := err.get("ctx"):
            # Values in ctx may be exceptions or other objects JSON cannot carry.
            detail["ctx"] = {
                k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in ctx.items()
            }
        details.append(detail)
    return details


def validate_input(spec: EndpointSpec, data: Any) -> BaseModel:
    """The endpoint's validated input, or an InputError with FastAPI-style details."""
    return spec.validate(data)
