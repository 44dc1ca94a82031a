"""Kling's rules (``reference/kling-controls.md``), owned by the endpoints, in two places:

- :func:`body_errors`: what the body alone decides, checked at submit: which controls
  exclude each other, forced durations, storyboard totals, image counts, URL schemes.
- :func:`file_errors`: what needs the decoded files, checked when the worker has them:
  image sizes and aspect ratios, masks at the image's shape, trajectory points on the image.

Every rule answers with FastAPI-style details naming the field and the rule.
"""

from __future__ import annotations

import urllib.parse
from collections import Counter
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from vidserve.endpoints.effect_scenes import TWO_PHOTO_SCENES
from vidserve.endpoints.files import FileInput, Loc, file_inputs, missing_urls

Detail = dict[str, Any]

#: Kling's smallest input image side, in pixels.
MIN_SIDE = 300
#: Kling's aspect ratio range for input images (width / height): 1:2.5 to 2.5:1.
MIN_ASPECT, MAX_ASPECT = 0.4, 2.5
#: How far (relative) a mask's aspect ratio may be from the start image's: masks painted on
#: a resized copy come out a pixel off.
MASK_ASPECT_TOLERANCE = 0.01
#: Kling's trajectory length for a 5 s motion brush.
MIN_POINTS, MAX_POINTS = 2, 77
#: Storyboard length in seconds (v3 and O3).
MIN_STORYBOARD, MAX_STORYBOARD = 3, 15
#: Most images an omni (O1/O3) request takes: elements, reference images and start image.
MAX_OMNI_IMAGES = 7
_URL_HELP = (
    "give an http(s) URL, a data URI, or the URL of a file uploaded to this server "
    "(through /rest/storage or a client's upload_file)"
)
_EXCLUSIVE = "Kling takes one of an end frame, a motion brush or a camera control per request"


def detail(loc: Loc, msg: str, type_: str, **ctx: Any) -> Detail:
    """One FastAPI-style error line."""
    line: Detail = {"loc": ["body", *loc], "msg": msg, "type": type_}
    if ctx:
        line["ctx"] = ctx
    return line


def _set(inp: BaseModel, name: str) -> Any:
    return getattr(inp, name, None)


def body_errors(inp: BaseModel, end_frame_durations: tuple[str, ...] | None) -> list[Detail]:
    """Every rule the body breaks; ``end_frame_durations``: what an end frame allows on this
    endpoint's model (None: any duration)."""
    return [
        *_control_errors(inp, end_frame_durations),
        *_trajectory_errors(inp),
        *_storyboard_errors(inp),
        *_image_count_errors(inp),
        *_audio_errors(inp),
        *_url_errors(inp),
    ]


def _control_errors(inp: BaseModel, end_durations: tuple[str, ...] | None) -> list[Detail]:
    end = next((n for n in ("tail_image_url", "end_image_url") if _set(inp, n)), None)
    brush = [n for n in ("static_mask_url", "dynamic_masks") if _set(inp, n)]
    cameras = [n for n in ("camera_control", "advanced_camera_control") if _set(inp, n)]
    errors: list[Detail] = []
    if len(cameras) == 2:
        message = "give camera_control or advanced_camera_control, not both"
        errors.append(detail(("advanced_camera_control",), message, "camera_conflict"))
    for camera in cameras[:1]:
        for other in [n for n in (end, *brush) if n]:
            message = f"{camera} cannot be combined with {other}: {_EXCLUSIVE}"
            errors.append(detail((camera,), message, "mutually_exclusive"))
        if _set(inp, "multi_prompt"):
            message = (
                f"{camera} cannot be combined with multi_prompt: each shot of a storyboard "
                "takes its camera move from its own prompt"
            )
            errors.append(detail((camera,), message, "mutually_exclusive"))
    if end:
        for name in brush:
            message = f"{name} cannot be combined with {end}: {_EXCLUSIVE}"
            errors.append(detail((name,), message, "mutually_exclusive"))
    duration = _set(inp, "duration")
    if brush and duration != "5":
        names = " and ".join(brush)
        message = f"a motion brush ({names}) forces duration '5': Kling renders it for 5 s only"
        errors.append(detail(("duration",), message, "duration_forced"))
    if end and end_durations is not None and duration not in end_durations:
        message = f"{end} forces duration '5': this model renders an end frame for 5 s only"
        errors.append(detail(("duration",), message, "duration_forced"))
    return errors


def _trajectory_errors(inp: BaseModel) -> list[Detail]:
    errors = []
    for i, mask in enumerate(_set(inp, "dynamic_masks") or []):
        count = len(mask.trajectories or [])
        if count < MIN_POINTS:
            message = (
                f"dynamic mask {i} has {count} trajectory point(s); Kling needs "
                f"{MIN_POINTS} to {MAX_POINTS}"
            )
            errors.append(detail(("dynamic_masks", i, "trajectories"), message, "too_short"))
    return errors


def _storyboard_errors(inp: BaseModel) -> list[Detail]:
    if "multi_prompt" not in type(inp).model_fields:
        return []
    shots = _set(inp, "multi_prompt")
    prompt = _set(inp, "prompt")
    if shots and prompt:
        message = "give prompt or multi_prompt, not both"
        return [detail(("multi_prompt",), message, "mutually_exclusive")]
    if not shots and not (prompt and prompt.strip()):
        message = "give a prompt, or a storyboard of shots in multi_prompt"
        return [detail(("prompt",), message, "missing")]
    if not shots:
        return []
    total = sum(int(shot.duration) for shot in shots)
    if not MIN_STORYBOARD <= total <= MAX_STORYBOARD:
        message = (
            f"the shots add up to {total} s; a storyboard lasts {MIN_STORYBOARD} to "
            f"{MAX_STORYBOARD} s"
        )
        return [detail(("multi_prompt",), message, "storyboard_total")]
    if "duration" in inp.model_fields_set and int(_set(inp, "duration")) != total:
        message = (
            f"duration is {_set(inp, 'duration')} s but the shots of multi_prompt add up to "
            f"{total} s; leave duration out or make them agree"
        )
        return [detail(("duration",), message, "storyboard_total")]
    return []


def _image_count_errors(inp: BaseModel) -> list[Detail]:
    errors: list[Detail] = []
    scene = _set(inp, "effect_scene")
    if scene is not None:
        need = 2 if scene in TWO_PHOTO_SCENES else 1
        have = len(_set(inp, "input_image_urls") or [])
        if have != need:
            photos = "two photos (the two people)" if need == 2 else "one photo"
            message = f"effect_scene {scene!r} takes {photos} in input_image_urls; got {have}"
            errors.append(detail(("input_image_urls",), message, "image_count"))
    if "image_urls" in type(inp).model_fields:
        elements = _set(inp, "elements") or []
        count = len(elements) + len(_set(inp, "image_urls") or [])
        count += 1 if _set(inp, "start_image_url") else 0
        if count == 0:
            message = "give at least one image: elements, image_urls or start_image_url"
            errors.append(detail(("image_urls",), message, "image_count"))
        elif count > MAX_OMNI_IMAGES:
            message = (
                f"{count} images given (elements + image_urls + start image); Kling takes at "
                f"most {MAX_OMNI_IMAGES}"
            )
            errors.append(detail(("image_urls",), message, "image_count"))
    for i, element in enumerate(_set(inp, "elements") or []):
        errors += _element_errors(i, element)
    return errors


def _element_errors(i: int, element: BaseModel) -> list[Detail]:
    if _set(element, "video_url"):
        message = (
            "video elements are not supported: vidserve does not decode video inputs yet; "
            "give frontal_image_url (and reference_image_urls) instead"
        )
        return [detail(("elements", i, "video_url"), message, "unsupported")]
    if not _set(element, "frontal_image_url"):
        message = "an element needs a frontal_image_url (its main view)"
        return [detail(("elements", i, "frontal_image_url"), message, "missing")]
    return []


def _audio_errors(inp: BaseModel) -> list[Detail]:
    if _set(inp, "voice_ids") and _set(inp, "generate_audio") is False:
        message = "voice_ids give the video voices; they need generate_audio true"
        return [detail(("voice_ids",), message, "needs_audio")]
    return []


def _url_errors(inp: BaseModel) -> list[Detail]:
    """Every file URL must be one the worker can fetch: checked here, at submit, so a bad one
    is a 422 naming the field rather than a request that fails once queued."""
    errors = [
        detail(loc[1:], f"the URL is empty: {_URL_HELP}", "url_missing")
        for loc in missing_urls(inp)
    ]
    for item in file_inputs(inp):
        problem = url_problem(item.url)
        if problem:
            shown = item.url if len(item.url) <= 60 else item.url[:57] + "..."
            errors.append(detail(item.loc[1:], f"{shown!r} {problem}: {_URL_HELP}", "url_scheme"))
    return errors


def url_problem(url: str) -> str | None:
    """What keeps the fetcher from ``url`` (None: nothing it can tell without fetching)."""
    if url.startswith("data:"):
        return None if "," in url else "is a data URI without its data (data:[TYPE][;base64],DATA)"
    if not url.lower().startswith(("http://", "https://")):
        return "is not a URL this server can fetch"
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError:
        return "is not a well-formed URL"
    return None if host else "names no host"


# --- rules on the decoded files -------------------------------------------------------------


def file_errors(
    inp: BaseModel, items: list[FileInput], sizes: Mapping[Loc, tuple[int, int]]
) -> list[Detail]:
    """Kling's rules on the files (``sizes``: ``loc`` -> ``(width, height)``): every image at
    least :data:`MIN_SIDE` a side with an aspect ratio within [:data:`MIN_ASPECT`,
    :data:`MAX_ASPECT`]; masks at the start image's aspect ratio and one resolution; every
    trajectory point on the start image."""
    errors: list[Detail] = []
    for item in items:
        if item.kind == "image":
            errors += image_size_errors(*sizes[item.loc], item.loc)
    masks = {item.loc: sizes[item.loc] for item in items if item.kind == "mask"}
    start = next((i.loc for i in items if i.kind == "image"), None)
    if masks and start is not None:
        errors += mask_errors(sizes[start], masks)
    if start is not None:
        errors += point_errors(inp, *sizes[start])
    return errors


def image_size_errors(width: int, height: int, loc: Loc) -> list[Detail]:
    """Kling's rules on an image's size, at ``loc`` (which starts with ``"body"``)."""
    errors: list[Detail] = []
    if min(width, height) < MIN_SIDE:
        message = f"image is {width}x{height}; Kling needs at least {MIN_SIDE} px on each side"
        errors.append(
            detail(loc[1:], message, "image_too_small", min_width=MIN_SIDE, min_height=MIN_SIDE)
        )
    aspect = width / height
    if not MIN_ASPECT <= aspect <= MAX_ASPECT:
        message = (
            f"image is {width}x{height}, an aspect ratio (width/height) of {aspect:.2f}; "
            f"Kling needs one from {MIN_ASPECT} (2:5) to {MAX_ASPECT} (5:2)"
        )
        errors.append(
            detail(
                loc[1:],
                message,
                "image_aspect_ratio",
                min_aspect_ratio=MIN_ASPECT,
                max_aspect_ratio=MAX_ASPECT,
            )
        )
    return errors


def _name(loc: Loc) -> str:
    return ".".join(str(p) for p in loc if p != "body")


def mask_errors(image_size: tuple[int, int], masks: Mapping[Loc, tuple[int, int]]) -> list[Detail]:
    """Kling's motion-brush rules: every mask (``loc`` -> ``(width, height)``) has the start
    image's aspect ratio (within :data:`MASK_ASPECT_TOLERANCE`), and the static mask and all
    dynamic masks share one resolution."""
    errors: list[Detail] = []
    image_w, image_h = image_size
    image_aspect = image_w / image_h
    for loc, (w, h) in masks.items():
        if abs((w / h) / image_aspect - 1) > MASK_ASPECT_TOLERANCE:
            message = (
                f"mask is {w}x{h} (aspect ratio {w / h:.3f}) but the start image is "
                f"{image_w}x{image_h} ({image_aspect:.3f}); Kling needs every mask at the "
                "start image's aspect ratio"
            )
            errors.append(detail(loc[1:], message, "mask_aspect_ratio"))
    if len(set(masks.values())) > 1:
        # The resolution most masks share is the reference (the first one on a tie).
        common = Counter(masks.values()).most_common(1)[0][0]
        ref_loc = next(loc for loc, size in masks.items() if size == common)
        for loc, (w, h) in masks.items():
            if (w, h) != common:
                message = (
                    f"mask is {w}x{h} but {_name(ref_loc)} is {common[0]}x{common[1]}; Kling "
                    "needs the static mask and every dynamic mask at one resolution"
                )
                errors.append(detail(loc[1:], message, "mask_resolution"))
    return errors


def point_errors(inp: BaseModel, width: int, height: int) -> list[Detail]:
    """Every trajectory point must lie on the input image (Kling: its pixel coordinates)."""
    return [
        detail(
            ("dynamic_masks", i, "trajectories", j),
            f"point ({p.x}, {p.y}) lies outside the {width}x{height} input image; x must be "
            f"in 0..{width} and y in 0..{height} (origin bottom-left)",
            "point_outside_image",
        )
        for i, mask in enumerate(_set(inp, "dynamic_masks") or [])
        for j, p in enumerate(mask.trajectories or [])
        if not (0 <= p.x <= width and 0 <= p.y <= height)
    ]
