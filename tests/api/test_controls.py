"""Camera control, motion brush and end frame over the API: Kling's rules as 422s, the seed
echoed in the result, and the same seed giving the same bytes with the motion engine."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from vidserve.engines.base import CameraMotion
from vidserve.engines.motion import MotionEngine

from fakes import FakeEngine, Harness
from helpers import data_uri, make_image, make_mask

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
V16 = "fal-ai/kling-video/v1.6/pro/image-to-video"
O1 = "fal-ai/kling-video/o1/standard/image-to-video"
IMG = data_uri(make_image(320, 320))
MASK = data_uri(make_mask(320, 320, (100, 100, 160, 160)))
DYNAMIC = [{"mask_url": MASK, "trajectories": [{"x": 130, "y": 190}, {"x": 200, "y": 150}]}]
CAMERA = {"type": "simple", "config": {"zoom": -5}}
RULE = "Kling takes one of an end frame, a motion brush or a camera control per request"

CC, ACC = ["body", "camera_control"], ["body", "advanced_camera_control"]
CONFIG, DURATION = [*CC, "config"], ["body", "duration"]
ROLL = {"movement_type": "roll", "movement_value": 3}
TWO_AXES = {"type": "simple", "config": {"pan": 2, "tilt": 2}}
PRESET_WITH_CONFIG = {"type": "forward_up", "config": {"zoom": 2}}
FIVE = "forces duration '5'"

REFUSED: list[tuple[str, dict[str, Any], list[Any], str]] = [
    (V1, {"camera_control": CAMERA, "dynamic_masks": DYNAMIC}, CC, RULE),
    (V1, {"camera_control": CAMERA, "static_mask_url": MASK}, CC, RULE),
    (V1, {"camera_control": CAMERA, "tail_image_url": IMG}, CC, RULE),
    (V16, {"camera_control": "left_turn_forward", "tail_image_url": IMG}, CC, RULE),
    (O1, {"advanced_camera_control": ROLL, "end_image_url": IMG}, ACC, "with end_image_url"),
    (V1, {"tail_image_url": IMG, "static_mask_url": MASK}, ["body", "static_mask_url"], RULE),
    (V1, {"dynamic_masks": DYNAMIC, "duration": "10"}, DURATION, FIVE),
    (V1, {"tail_image_url": IMG, "duration": "10"}, DURATION, FIVE),
    (V1, {"camera_control": TWO_AXES}, CONFIG, "exactly one"),
    (V1, {"camera_control": PRESET_WITH_CONFIG}, CONFIG, "takes no config"),
    (V1, {"seed": -3}, ["body", "seed"], "greater than or equal to 0"),
]


def post(h: Harness, endpoint: str, **fields: Any) -> Any:
    image = "start_image_url" if endpoint == O1 else "image_url"
    return h.client.post(f"/queue/{endpoint}", json={"prompt": "p", image: IMG, **fields})


@pytest.mark.parametrize(("endpoint", "fields", "loc", "fragment"), REFUSED)
def test_broken_rules_are_422_naming_the_field_and_the_rule(
    harness: Harness, endpoint: str, fields: dict[str, Any], loc: list[Any], fragment: str
) -> None:
    response = post(harness, endpoint, **fields)
    assert response.status_code == 422, response.text
    found = [d for d in response.json()["detail"] if d["loc"] == loc]
    assert found, response.json()
    assert fragment in found[0]["msg"] and found[0]["type"]
    assert harness.drain() == 0  # nothing was queued


def test_camera_control_reaches_the_engine(harness: Harness) -> None:
    engine = FakeEngine()
    assert post(harness, V1, camera_control=CAMERA).status_code == 200
    tilt = {"movement_type": "tilt", "movement_value": -6}
    assert post(harness, O1, advanced_camera_control=tilt).status_code == 200
    assert post(harness, V1, camera_control="down_back").status_code == 200
    harness.drain(engine)
    cameras = [request.camera for request in engine.requests]
    assert cameras[0] == CameraMotion(zoom=-5) and cameras[1] == CameraMotion(tilt=-6)
    assert cameras[2] is not None and cameras[2].vertical < 0 < cameras[2].zoom


def test_the_result_echoes_the_seed_given_or_chosen(harness: Harness) -> None:
    given = post(harness, V1, seed=42).json()
    chosen = post(harness, V1).json()
    harness.drain()
    assert harness.client.get(given["response_url"]).json()["seed"] == 42
    picked = harness.client.get(chosen["response_url"]).json()["seed"]
    assert isinstance(picked, int) and 0 <= picked < 2**32


def test_same_request_and_seed_give_the_same_bytes(harness: Harness) -> None:
    fields = {"duration": "3", "seed": 7, "prompt": "slowly pan left"}
    jobs = [post(harness, O1, **fields).json() for _ in range(2)]
    assert harness.drain(MotionEngine()) == 2
    digests = set()
    for job in jobs:
        result = harness.client.get(job["response_url"]).json()
        assert result["seed"] == 7
        video = harness.client.get(result["video"]["url"]).content
        digests.add(hashlib.sha256(video).hexdigest())
    assert len(digests) == 1
