"""What OpenAI's ``/v1/videos`` dialect accepts as ``model``, and how one of its create
bodies becomes a catalog endpoint's fal input.

``model`` is a catalog endpoint id (``fal-ai/kling-video/v2.1/standard/image-to-video``) or a
short alias naming a Kling version and tier, ``kling-<version>-<tier>`` (``kling-v2.6-pro``,
``kling-v3-turbo-standard``, ``kling-o3-4k``): an alias picks that tier's image-to-video
endpoint when the create sends an ``input_reference`` and its text-to-video endpoint when
not. ``kling`` (also the default) is ``kling-v3-standard``: 720p, 3 to 15 s.

The create's fields map onto the endpoint's fal input: ``prompt`` to ``prompt`` (``text``
for speech), ``input_reference`` to its start image (``image_url``, ``start_image_url``,
the first of ``input_image_urls``/``image_urls``; a lipsync's ``video_url``), ``seconds`` to
``duration``, and ``size`` to ``aspect_ratio`` (with the tier's short side: on a 720p tier,
``1280x720``, ``720x1280`` or ``720x720``). Any other field is passed on as a fal field
(``negative_prompt``, ``cfg_scale``, ``effect_scene`` ...), so the fal input's every option
stays reachable (the SDK's ``extra_body``). Errors name the dialect's parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, get_args

from vidserve.endpoints import ENDPOINTS, EndpointSpec
from vidserve.endpoints.adapter import output_size
from vidserve.endpoints.fields import AspectRatio
from vidserve.engines.base import Kind
from vidserve.errors import InputError

#: The catalog's id prefix; aliases drop it.
FAMILY = "fal-ai/kling-video/"
DEFAULT_MODEL = "kling"
_DEFAULT_ALIAS = "kling-v3-standard"

#: Where ``input_reference`` goes, by the input's fields: one URL, or a list of them.
_REFERENCE_FIELDS = ("image_url", "start_image_url", "video_url")
_REFERENCE_LISTS = ("input_image_urls", "image_urls")

#: fal field -> the dialect's parameter that sets it, for naming errors.
PARAMS = {
    "duration": "seconds",
    "aspect_ratio": "size",
    "text": "prompt",
    **{name: "input_reference" for name in _REFERENCE_FIELDS + _REFERENCE_LISTS},
}

_SIZE = re.compile(r"(\d{2,5})x(\d{2,5})")


@dataclass(frozen=True)
class Alias:
    """A Kling version and tier: its image- and text-to-video endpoints (either may lack)."""

    name: str
    image: str | None = None
    text: str | None = None


def _aliases() -> dict[str, Alias]:
    found: dict[str, dict[Kind, str]] = {}
    for spec in ENDPOINTS.values():
        if spec.kind in (Kind.IMAGE_TO_VIDEO, Kind.TEXT_TO_VIDEO):
            stem = spec.endpoint_id.removeprefix(FAMILY).rsplit("/", 1)[0]
            found.setdefault("kling-" + stem.replace("/", "-"), {})[spec.kind] = spec.endpoint_id
    aliases = {
        name: Alias(name, kinds.get(Kind.IMAGE_TO_VIDEO), kinds.get(Kind.TEXT_TO_VIDEO))
        for name, kinds in sorted(found.items())
    }
    default = aliases[_DEFAULT_ALIAS]
    return {DEFAULT_MODEL: Alias(DEFAULT_MODEL, default.image, default.text), **aliases}


ALIASES = _aliases()


def model_ids() -> list[str]:
    """Every ``model`` accepted: the aliases, then the catalog's endpoint ids."""
    return [*ALIASES, *ENDPOINTS]


def bad(param: str, message: str, code: str = "invalid_value") -> InputError:
    """An error at the dialect's parameter ``param``."""
    return InputError.at(("body", param), message, code)


def resolve(model: str, with_reference: bool) -> EndpointSpec:
    """The endpoint ``model`` names, given whether an ``input_reference`` came with it."""
    if model in ENDPOINTS:
        return ENDPOINTS[model]
    alias = ALIASES.get(model)
    if alias is None:
        raise bad(
            "model",
            f"Unknown model {model!r}: use an alias such as {DEFAULT_MODEL!r} or "
            f"{_DEFAULT_ALIAS!r}, or a catalog endpoint id (GET /v1/models lists them all)",
            "model_not_found",
        )
    endpoint = alias.image if with_reference else alias.text
    if endpoint is None:
        need = "needs an input_reference (it makes video from an image)"
        refuse = "takes no input_reference (it makes video from text only)"
        raise bad("input_reference", f"Model {model!r} {refuse if with_reference else need}")
    return ENDPOINTS[endpoint]


def seconds_value(value: Any) -> str:
    """``seconds`` as the fal ``duration`` string (``"5"``)."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise bad("seconds", f"seconds must be a whole number of seconds, not {text!r}") from None
    if not number.is_integer():
        raise bad("seconds", f"seconds must be a whole number of seconds, not {text!r}")
    return str(int(number))


def sizes(spec: EndpointSpec) -> dict[str, str]:
    """``WxH`` -> the aspect ratio that makes it, for the endpoint's tier."""
    resolution = spec.output.resolution
    if resolution is None or "aspect_ratio" not in spec.input_model.model_fields:
        return {}
    found = {}
    for name in get_args(AspectRatio):
        w, h = (int(part) for part in name.split(":"))
        width, height = output_size(resolution, w / h)
        found[f"{width}x{height}"] = name
    return found


def aspect_for(spec: EndpointSpec, size: str) -> str:
    """The ``aspect_ratio`` that makes a ``size`` on this endpoint, or an error listing the
    sizes it makes."""
    if not _SIZE.fullmatch(size.strip()):
        raise bad("size", f"size must be WIDTHxHEIGHT in pixels (like 1280x720), not {size!r}")
    made = sizes(spec)
    if not made:
        raise bad("size", f"{spec.endpoint_id} sets its own size; send no size")
    if size.strip() not in made:
        listed = ", ".join(made)
        raise bad("size", f"{spec.endpoint_id} makes {listed}; not {size}", "unsupported_size")
    return made[size.strip()]


def fal_input(
    spec: EndpointSpec,
    prompt: str,
    reference: str | None,
    seconds: str | None,
    aspect_ratio: str | None,
    extras: dict[str, Any],
) -> dict[str, Any]:
    """The endpoint's fal input for a create's fields (validated later, as any fal input)."""
    fields = spec.input_model.model_fields
    data = dict(extras)
    data["text" if "prompt" not in fields and "text" in fields else "prompt"] = prompt
    if reference is not None:
        scalar = next((f for f in _REFERENCE_FIELDS if f in fields), None)
        listed = next((f for f in _REFERENCE_LISTS if f in fields), None)
        if scalar is not None:
            data[scalar] = reference
        elif listed is not None:
            data[listed] = [reference]
        else:
            raise bad("input_reference", f"{spec.endpoint_id} takes no input_reference")
    if seconds is not None:
        if "duration" not in fields:
            raise bad("seconds", f"{spec.endpoint_id} sets its own length; send no seconds")
        data["duration"] = seconds
    if aspect_ratio is not None:
        data["aspect_ratio"] = aspect_ratio
    return data


def size_of(
    spec: EndpointSpec, inp: dict[str, Any], metrics: dict[str, Any], asked: str | None
) -> str:
    """The video's ``WxH``: as rendered once known (an engine may render smaller than its
    tier), else as asked, else as its aspect ratio makes it, else empty (an image-to-video
    without ``size`` follows its image)."""
    if "width" in metrics and "height" in metrics:
        return f"{metrics['width']}x{metrics['height']}"
    if asked:
        return asked
    aspect = inp.get("aspect_ratio")
    for size, name in sizes(spec).items():
        if name == aspect:
            return size
    return ""
