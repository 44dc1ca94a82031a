"""422s name the field and the rule, FastAPI-style, for every endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from fakes import Harness
from helpers import data_uri, make_image

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
V1PRO = "fal-ai/kling-video/v1/pro/image-to-video"
V21 = "fal-ai/kling-video/v2.1/master/image-to-video"
O1 = "fal-ai/kling-video/o1/standard/image-to-video"
IMG = data_uri(make_image(320, 320))

CASES: list[tuple[str, dict[str, Any], list[Any], str]] = [
    (V1, {"image_url": IMG}, ["body", "prompt"], "Field required"),
    (V1, {"prompt": "p"}, ["body", "image_url"], "Field required"),
    (V1, {"prompt": "p", "image_url": IMG, "duration": "7"}, ["body", "duration"], "'5' or '10'"),
    (
        V1,
        {"prompt": "p", "image_url": IMG, "cfg_scale": 2},
        ["body", "cfg_scale"],
        "less than or equal to 1",
    ),
    (
        V1,
        {"prompt": "p", "image_url": IMG, "cfg_scale": -0.1},
        ["body", "cfg_scale"],
        "greater than or equal to 0",
    ),
    (V1, {"prompt": "x" * 2501, "image_url": IMG}, ["body", "prompt"], "at most 2500"),
    (
        V1,
        {
            "prompt": "p",
            "image_url": IMG,
            "dynamic_masks": [{"mask_url": IMG, "trajectories": [{"x": 1, "y": 1}]}],
        },
        ["body", "dynamic_masks", 0, "trajectories"],
        "Kling needs 2 to 77",
    ),
    (
        V1,
        {
            "prompt": "p",
            "image_url": IMG,
            "dynamic_masks": [{"mask_url": IMG, "trajectories": [{"x": 1.5, "y": 1}] * 2}],
        },
        ["body", "dynamic_masks", 0, "trajectories", 0, "x"],
        "valid integer",
    ),
    (
        V1PRO,
        {"prompt": "p", "image_url": IMG, "aspect_ratio": "4:3"},
        ["body", "aspect_ratio"],
        "'16:9', '9:16' or '1:1'",
    ),
    (V21, {"prompt": "p", "image_url": IMG, "duration": "3"}, ["body", "duration"], "'5' or '10'"),
    (O1, {"prompt": "p", "image_url": IMG}, ["body", "start_image_url"], "Field required"),
    (
        O1,
        {"prompt": "p", "start_image_url": IMG, "duration": "11"},
        ["body", "duration"],
        "'3', '4', '5', '6', '7', '8', '9' or '10'",
    ),
    (O1, {"prompt": "p", "start_image_url": IMG, "duration": "2"}, ["body", "duration"], "'3'"),
]


@pytest.mark.parametrize(("endpoint", "body", "loc", "fragment"), CASES)
def test_bad_input_is_422_naming_the_field(
    harness: Harness, endpoint: str, body: dict[str, Any], loc: list[Any], fragment: str
) -> None:
    response = harness.client.post(f"/queue/{endpoint}", json=body)
    assert response.status_code == 422, response.text
    details = response.json()["detail"]
    match = [d for d in details if d["loc"] == loc]
    assert match, details
    assert fragment in match[0]["msg"]
    assert match[0]["type"]


def test_invalid_json_is_422_json_invalid(harness: Harness) -> None:
    response = harness.client.post(
        f"/queue/{V1}", content=b'{"prompt": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42"])
def test_non_object_body_is_422(harness: Harness, body: bytes) -> None:
    response = harness.client.post(
        f"/queue/{V1}", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_deeply_nested_json_is_422_not_500(harness: Harness) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    response = harness.client.post(
        f"/queue/{V1}", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_unknown_fields_are_ignored_and_defaults_filled(harness: Harness) -> None:
    response = harness.client.post(
        f"/queue/{V1}",
        json={"prompt": "p", "image_url": IMG, "sync_mode": True, "whatever": {"a": [1]}},
    )
    assert response.status_code == 200
    job = harness.store.get(response.json()["request_id"])
    assert job is not None
    assert job.input == {
        "prompt": "p",
        "image_url": IMG,
        "duration": "5",
        "negative_prompt": "blur, distort, and low quality",
        "cfg_scale": 0.5,
        "tail_image_url": None,
        "static_mask_url": None,
        "dynamic_masks": None,
    }


def test_numeric_duration_is_accepted_as_its_string(harness: Harness) -> None:
    response = harness.client.post(
        f"/queue/{O1}", json={"prompt": "p", "start_image_url": IMG, "duration": 7}
    )
    assert response.status_code == 200
    job = harness.store.get(response.json()["request_id"])
    assert job is not None and job.input["duration"] == "7"
