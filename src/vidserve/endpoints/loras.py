"""``loras``: a vidserve extension on the image-, text- and reference-to-video inputs that picks
LoRAs for a diffusion engine, in the shape fal's LoRA endpoints use
(``[{"path": ..., "scale": 1.0}]``), by a name the engine's configuration gives or by a file in
its configured folders. Engines without LoRAs refuse the field (``unsupported_by_engine``);
the engine checks names and paths when it takes the request."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["MAX_LORAS", "LoraInput", "LorasField"]

#: The most LoRAs one request may stack.
MAX_LORAS = 8


class LoraInput(BaseModel):
    """One LoRA: ``name`` or ``path``, and its ``scale``."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A LoRA the engine's configuration names.",
    )
    path: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="A .safetensors file inside one of the engine's configured LoRA folders.",
    )
    scale: float | None = Field(
        default=None,
        ge=0.0,
        le=4.0,
        description="How strongly it applies; 0 leaves it out. Default: the scale the "
        "configuration gives the LoRA, 1 for a file.",
    )

    @model_validator(mode="after")
    def _name_or_path(self) -> Self:
        if (self.name is None) == (self.path is None):
            raise ValueError("give exactly one of name and path")
        return self


LorasField = Annotated[
    list[LoraInput] | None,
    Field(
        default=None,
        max_length=MAX_LORAS,
        description="vidserve extension: LoRAs to apply, in order, on a diffusion engine that "
        "has LoRAs configured: [{name or path, scale}].",
    ),
]
