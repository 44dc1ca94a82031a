"""What every endpoint declares: its schemas, price, output settings and adapter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from vidserve.engines.base import Image, VideoRequest
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
class FileInput:
    """One input file a request names: where it sits in the body, its URL, and its kind."""

    loc: tuple[str | int, ...]
    url: str
    kind: Literal["image", "mask"]


@dataclass(frozen=True)
class OutputSettings:
    """What the endpoint's model renders: tier, frame rate and allowed durations."""

    model: str
    resolution: Literal[720, 1080]  # the short side, in pixels
    fps: int
    durations: tuple[int, ...]


@dataclass(frozen=True)
class EndpointSpec:
    """One served endpoint id."""

    endpoint_id: str
    title: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    output: OutputSettings
    #: USD per second of video.
    price_per_second: float
    #: The seed page's full input example (with its public URLs).
    example: Mapping[str, Any]
    file_inputs: Callable[[BaseModel], list[FileInput]]
    #: Build the engine-neutral request from the validated input and the decoded files,
    #: keyed by ``FileInput.loc``.
    adapter: Callable[[BaseModel, Mapping[tuple[str | int, ...], Image]], VideoRequest]

    @property
    def app_id(self) -> str:
        return app_id(self.endpoint_id)

    def to_video_request(
        self, inp: BaseModel, files: Mapping[tuple[str | int, ...], Image]
    ) -> VideoRequest:
        return self.adapter(inp, files)


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
    try:
        return spec.input_model.model_validate(data)
    except ValidationError as exc:
        raise InputError(validation_details(exc)) from None
