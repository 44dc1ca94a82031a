"""The input files a request names, found by fal's field names: what the worker fetches and
decodes, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

Loc = tuple[str | int, ...]
FileKind = Literal["image", "mask", "audio", "video"]
#: One place a request can name a file: ``(loc, url, kind, needed)`` (see :func:`url_slots`).
UrlSlot = tuple[Loc, str | None, FileKind, bool]

#: The largest audio input (a minute of WAV is about 10 MB) and video input (fal's lipsync
#: limit); images and masks: the server's ``VIDSERVE_MAX_INPUT_BYTES``.
AUDIO_MAX_BYTES = 50 * 1024 * 1024
VIDEO_MAX_BYTES = 100 * 1024 * 1024


def file_limit(kind: FileKind, max_image_bytes: int) -> int:
    """The most bytes an input file of ``kind`` may hold: images and masks
    ``max_image_bytes``, audio and video their own caps."""
    if kind in ("image", "mask"):
        return max_image_bytes
    return AUDIO_MAX_BYTES if kind == "audio" else VIDEO_MAX_BYTES


#: Single-image fields, in the order a start image is looked for.
IMAGE_FIELDS = ("image_url", "start_image_url", "tail_image_url", "end_image_url")


@dataclass(frozen=True)
class FileInput:
    """One input file a request names: where it sits in the body, its URL, and its kind."""

    loc: Loc
    url: str
    kind: FileKind


def url_slots(inp: BaseModel) -> list[UrlSlot]:
    """Every place ``inp`` names a file, the start image first: ``(loc, url, kind, needed)``,
    ``url`` as given (None or empty where none is), ``needed`` where an empty one is a
    mistake (a required field, a mask's ``mask_url``, an entry of a list). An element's
    ``frontal_image_url`` is never ``needed`` here: the element rule names a missing one."""
    slots: list[UrlSlot] = []
    fields = type(inp).model_fields

    def add(name: str, kind: FileKind = "image") -> None:
        needed = name in fields and fields[name].is_required()
        slots.append(((name,), getattr(inp, name, None), kind, needed))

    def add_list(loc: Loc, urls: list[str] | None) -> None:
        slots.extend(((*loc, i), url, "image", True) for i, url in enumerate(urls or []))

    for name in IMAGE_FIELDS:
        add(name)
    add("static_mask_url", "mask")
    for i, mask in enumerate(getattr(inp, "dynamic_masks", None) or []):
        slots.append((("dynamic_masks", i, "mask_url"), mask.mask_url, "mask", True))
    add_list(("input_image_urls",), getattr(inp, "input_image_urls", None))
    for i, element in enumerate(getattr(inp, "elements", None) or []):
        slots.append(
            (("elements", i, "frontal_image_url"), element.frontal_image_url, "image", False)
        )
        add_list(("elements", i, "reference_image_urls"), element.reference_image_urls)
    add_list(("image_urls",), getattr(inp, "image_urls", None))
    add("video_url", "video")
    add("audio_url", "audio")
    return slots


def file_inputs(inp: BaseModel) -> list[FileInput]:
    """Every file ``inp`` names, the start image first."""
    return [FileInput(("body", *loc), url, kind) for loc, url, kind, _ in url_slots(inp) if url]


def missing_urls(inp: BaseModel) -> list[Loc]:
    """Where ``inp`` gives an empty URL in a place that needs one (``loc`` from ``"body"``)."""
    return [("body", *loc) for loc, url, _, needed in url_slots(inp) if needed and not url]
