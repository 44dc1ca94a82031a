"""The input files a request names, found by fal's field names: what the worker fetches and
decodes, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

Loc = tuple[str | int, ...]
FileKind = Literal["image", "mask", "audio", "video"]

#: Single-image fields, in the order a start image is looked for.
IMAGE_FIELDS = ("image_url", "start_image_url", "tail_image_url", "end_image_url")


@dataclass(frozen=True)
class FileInput:
    """One input file a request names: where it sits in the body, its URL, and its kind."""

    loc: Loc
    url: str
    kind: FileKind


def file_inputs(inp: BaseModel) -> list[FileInput]:
    """Every file ``inp`` names, the start image first."""
    files: list[FileInput] = []

    def add(loc: Loc, url: str | None, kind: FileKind = "image") -> None:
        if url:
            files.append(FileInput(("body", *loc), url, kind))

    for name in IMAGE_FIELDS:
        add((name,), getattr(inp, name, None))
    add(("static_mask_url",), getattr(inp, "static_mask_url", None), "mask")
    for i, mask in enumerate(getattr(inp, "dynamic_masks", None) or []):
        add(("dynamic_masks", i, "mask_url"), mask.mask_url, "mask")
    for i, url in enumerate(getattr(inp, "input_image_urls", None) or []):
        add(("input_image_urls", i), url)
    for i, element in enumerate(getattr(inp, "elements", None) or []):
        add(("elements", i, "frontal_image_url"), element.frontal_image_url)
        for j, url in enumerate(element.reference_image_urls or []):
            add(("elements", i, "reference_image_urls", j), url)
    for i, url in enumerate(getattr(inp, "image_urls", None) or []):
        add(("image_urls", i), url)
    add(("video_url",), getattr(inp, "video_url", None), "video")
    add(("audio_url",), getattr(inp, "audio_url", None), "audio")
    return files
