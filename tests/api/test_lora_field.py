"""``loras``, vidserve's extension for diffusion engines with LoRAs: its shape is checked at
submit, the motion engine refuses it by name, and it reaches the engine as ``LoraWeight``s."""

from __future__ import annotations

from typing import Any

import pytest

from vidserve.endpoints import ENDPOINTS, validate_input
from vidserve.engines.base import Feature, LoraWeight
from vidserve.engines.registry import MOTION_CAPABILITIES, WAN_CAPABILITIES

from fakes import Harness
from helpers import data_uri, make_image

V21 = "fal-ai/kling-video/v2.1/master/image-to-video"
T2V = "fal-ai/kling-video/v2.1/master/text-to-video"
IMG = data_uri(make_image(320, 180))


def body(**fields: Any) -> dict[str, Any]:
    return {"prompt": "a cat on a road", "image_url": IMG, **fields}


@pytest.mark.parametrize(
    ("loras", "loc", "words"),
    [
        ([{"name": "style", "path": "/loras/a.safetensors"}], ["loras", 0], "exactly one"),
        ([{"scale": 0.5}], ["loras", 0], "exactly one"),
        ([{"name": "style", "scale": 5}], ["loras", 0, "scale"], "less than or equal to 4"),
        ([{"name": "style", "weight": 1}], ["loras", 0, "weight"], "Extra inputs"),
        ([{"name": f"l{i}"} for i in range(9)], ["loras"], "at most 8"),
    ],
)
def test_a_malformed_lora_list_is_a_422_naming_the_entry(
    harness: Harness, loras: list[dict[str, Any]], loc: list[Any], words: str
) -> None:
    response = harness.client.post(f"/queue/{V21}", json=body(loras=loras))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", *loc]
    assert words in error["msg"]


def test_the_motion_engine_refuses_loras_by_name(harness: Harness) -> None:
    response = harness.client.post(f"/queue/{V21}", json=body(loras=[{"name": "style"}]))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "loras"]
    assert error["type"] == "unsupported_by_engine"
    assert "cannot render LoRAs (loras)" in error["msg"]


def test_loras_reach_the_engine_in_order_and_stay_out_of_inputs_without_them() -> None:
    spec = ENDPOINTS[T2V]
    picked = [{"name": "style", "scale": 0.8}, {"path": "/loras/fast.safetensors"}]
    inp = validate_input(spec, {"prompt": "a cat", "loras": picked})
    request, _notes = spec.to_video_request(inp, {}, WAN_CAPABILITIES, "wan")
    assert request.loras == (
        LoraWeight(name="style", scale=0.8),
        LoraWeight(path="/loras/fast.safetensors"),  # the configured scale
    )
    assert Feature.LORA in request.features and Feature.LORA in WAN_CAPABILITIES.features
    assert Feature.LORA not in MOTION_CAPABILITIES.features
    plain = validate_input(spec, {"prompt": "a cat"})
    assert "loras" not in plain.model_dump(mode="json")  # fal's own fields stay fal's
