"""Endpoint adapters: Kling's output settings and coordinate rules, applied once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from vidserve.endpoints import ENDPOINTS, app_id, output_size, validate_input
from vidserve.engines.base import VideoRequest
from vidserve.engines.registry import MOTION_CAPABILITIES

V1 = "fal-ai/kling-video/v1/standard/image-to-video"


def adapt(endpoint: str, image_hw: tuple[int, int], **fields: Any) -> VideoRequest:
    spec = ENDPOINTS[endpoint]
    image_field = "start_image_url" if endpoint.startswith("fal-ai/kling-video/o1") else "image_url"
    inp = validate_input(spec, {"prompt": "p", image_field: "data:,", **fields})
    files = {
        f.loc: np.zeros((*image_hw, 3) if f.kind == "image" else image_hw, np.uint8)
        for f in spec.files(inp)
    }
    spec.check_files(inp, {loc: (a.shape[1], a.shape[0]) for loc, a in files.items()})
    request, _ = spec.to_video_request(inp, files, MOTION_CAPABILITIES, "motion")
    return request


@pytest.mark.parametrize(
    ("endpoint", "fields", "size", "fps", "frames"),
    [
        (V1, {}, (1280, 720), 30, 150),
        (V1, {"duration": "10"}, (1280, 720), 30, 300),
        ("fal-ai/kling-video/v1/pro/image-to-video", {}, (1280, 720), 30, 150),
        ("fal-ai/kling-video/v1/pro/image-to-video", {"aspect_ratio": "1:1"}, (720, 720), 30, 150),
        (
            "fal-ai/kling-video/v1.6/pro/image-to-video",
            {"aspect_ratio": "9:16"},
            (1080, 1920),
            30,
            150,
        ),
        ("fal-ai/kling-video/v2.1/master/image-to-video", {}, (1920, 1080), 24, 120),
        ("fal-ai/kling-video/o1/standard/image-to-video", {"duration": "3"}, (1280, 720), 24, 72),
        ("fal-ai/kling-video/o1/standard/image-to-video", {"duration": "10"}, (1280, 720), 24, 240),
    ],
)
def test_output_settings_follow_the_endpoint_table(
    endpoint: str, fields: dict[str, Any], size: tuple[int, int], fps: int, frames: int
) -> None:
    request = adapt(endpoint, (360, 640), **fields)
    assert (request.width, request.height, request.fps, request.num_frames) == (*size, fps, frames)


def test_standard_endpoints_follow_the_input_aspect() -> None:
    request = adapt(V1, (800, 600))  # a 3:4 portrait
    assert (request.width, request.height) == (720, 960)


def test_output_size_is_even_and_clamps_extreme_aspects() -> None:
    assert output_size(720, 1.777) == (1280, 720)
    assert output_size(720, 10.0) == (1800, 720)  # clamped to 2.5
    w, h = output_size(1080, 0.7)
    assert w == 1080 and h % 2 == 0


def test_trajectories_move_from_bottom_left_to_top_left_origin() -> None:
    request = adapt(
        V1,
        (400, 600),
        dynamic_masks=[
            {"mask_url": "data:,", "trajectories": [{"x": 10, "y": 0}, {"x": 20, "y": 400}]}
        ],
    )
    assert request.dynamic_masks[0].trajectory == ((10.0, 400.0), (20.0, 0.0))


def test_tail_image_and_cfg_reach_the_request() -> None:
    request = adapt(V1, (360, 640), tail_image_url="data:,", cfg_scale=0.8)
    assert request.end_image is not None
    assert request.guidance == 0.8
    assert request.negative_prompt == "blur, distort, and low quality"


def test_app_id_keeps_owner_and_alias() -> None:
    assert app_id(V1) == "fal-ai/kling-video"
    assert app_id("workflows/me/flow/sub") == "workflows/me/flow"


def test_trajectory_points_off_the_image_name_each_point() -> None:
    from vidserve.errors import InputError

    points = [{"x": 10, "y": 0}, {"x": 601, "y": 5}, {"x": 3, "y": -1}]
    with pytest.raises(InputError) as caught:
        adapt(V1, (400, 600), dynamic_masks=[{"mask_url": "data:,", "trajectories": points}])
    locs = [d["loc"] for d in caught.value.details]
    assert locs == [["body", "dynamic_masks", 0, "trajectories", i] for i in (1, 2)]
    assert "outside the 600x400 input image" in caught.value.details[0]["msg"]


@pytest.mark.parametrize("value", [1.5, "3", 2.0])
def test_trajectory_coordinates_must_be_integers(value: object) -> None:
    body = {
        "prompt": "p",
        "image_url": "data:,",
        "dynamic_masks": [{"mask_url": "data:,", "trajectories": [{"x": value, "y": 1}] * 2}],
    }
    with pytest.raises(ValidationError):
        ENDPOINTS[V1].input_model.model_validate(body)


def test_a_dynamic_mask_needs_two_trajectory_points() -> None:
    from vidserve.errors import InputError

    mask = {"mask_url": "data:,", "trajectories": [{"x": 1, "y": 1}]}
    with pytest.raises(InputError) as caught:
        body = {"prompt": "p", "image_url": "data:,", "dynamic_masks": [mask]}
        validate_input(ENDPOINTS[V1], body)
    assert caught.value.details[0]["loc"] == ["body", "dynamic_masks", 0, "trajectories"]
    assert "Kling needs 2 to 77" in caught.value.details[0]["msg"]
