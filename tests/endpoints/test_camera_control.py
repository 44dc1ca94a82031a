"""Camera control and seed on the wire: schemas, Kling's rules, and the map to VideoRequest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vidserve.endpoints import ENDPOINTS, validate_input
from vidserve.endpoints.camera import PRESETS, SEED_MAX
from vidserve.engines.base import CameraMotion, Kind, VideoRequest
from vidserve.engines.registry import MOTION_CAPABILITIES
from vidserve.errors import InputError

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
V1PRO = "fal-ai/kling-video/v1/pro/image-to-video"
V16 = "fal-ai/kling-video/v1.6/pro/image-to-video"
V21 = "fal-ai/kling-video/v2.1/master/image-to-video"
O1 = "fal-ai/kling-video/o1/standard/image-to-video"
MASKS = [{"mask_url": "data:,", "trajectories": [{"x": 1, "y": 1}, {"x": 9, "y": 9}]}]


I2V = [e for e, spec in ENDPOINTS.items() if spec.kind is Kind.IMAGE_TO_VIDEO]


def body(endpoint: str, **fields: Any) -> dict[str, Any]:
    takes_start = "start_image_url" in ENDPOINTS[endpoint].input_model.model_fields
    image = "start_image_url" if takes_start else "image_url"
    return {"prompt": "p", image: "data:,", **fields}


def adapt(endpoint: str, **fields: Any) -> VideoRequest:
    spec = ENDPOINTS[endpoint]
    inp = validate_input(spec, body(endpoint, **fields))
    files = {
        f.loc: np.zeros((360, 640, 3) if f.kind == "image" else (360, 640), np.uint8)
        for f in spec.files(inp)
    }
    request, _ = spec.to_video_request(inp, files, MOTION_CAPABILITIES, "motion")
    return request


def errors(endpoint: str, **fields: Any) -> list[dict[str, Any]]:
    with pytest.raises(InputError) as caught:
        validate_input(ENDPOINTS[endpoint], body(endpoint, **fields))
    return caught.value.details


@pytest.mark.parametrize("endpoint", I2V)
@pytest.mark.parametrize("axis", ["horizontal", "vertical", "pan", "tilt", "roll", "zoom"])
def test_simple_camera_control_reaches_the_request_on_every_endpoint(
    endpoint: str, axis: str
) -> None:
    control = {"type": "simple", "config": {axis: -7.5}}
    assert adapt(endpoint, camera_control=control).camera == CameraMotion(**{axis: -7.5})


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_in_both_forms(preset: str) -> None:
    assert adapt(V21, camera_control={"type": preset}).camera == PRESETS[preset]
    assert adapt(V21, camera_control=preset).camera == PRESETS[preset]  # fal's T2V form
    assert adapt(V21, camera_control={"type": preset, "config": {}}).camera == PRESETS[preset]


def test_advanced_camera_control_is_one_axis() -> None:
    control = {"movement_type": "pan", "movement_value": -4}
    assert adapt(V1, advanced_camera_control=control).camera == CameraMotion(pan=-4)


def test_without_camera_control_the_engine_chooses() -> None:
    assert adapt(V1).camera is None


@pytest.mark.parametrize(
    ("control", "loc", "fragment"),
    [
        ({"type": "simple", "config": {"pan": 3, "zoom": 1}}, ["config"], "exactly one"),
        ({"type": "simple", "config": {}}, ["config"], "needs a config"),
        ({"type": "simple"}, ["config"], "needs a config"),
        ({"type": "simple", "config": {"roll": 11}}, ["config", "roll"], "less than or equal"),
        ({"type": "simple", "config": {"yaw": 1}}, ["config", "yaw"], "Extra inputs"),
        ({"type": "down_back", "config": {"zoom": 2}}, ["config"], "takes no config"),
        ({"type": "spin"}, ["type"], "'simple', 'down_back'"),
        ("spin", ["type"], "'simple', 'down_back'"),
    ],
)
def test_bad_camera_control_names_the_field(control: Any, loc: list[str], fragment: str) -> None:
    found = errors(V1, camera_control=control)
    assert [d for d in found if d["loc"] == ["body", "camera_control", *loc]], found
    assert fragment in found[0]["msg"]


@pytest.mark.parametrize(
    ("control", "loc"),
    [
        ({"movement_type": "dolly", "movement_value": 1}, ["movement_type"]),
        ({"movement_type": "zoom", "movement_value": -11}, ["movement_value"]),
        ({"movement_type": "zoom", "movement_value": 1.5}, ["movement_value"]),
    ],
)
def test_bad_advanced_camera_control(control: dict[str, Any], loc: list[str]) -> None:
    found = errors(V1, advanced_camera_control=control)
    assert found[0]["loc"] == ["body", "advanced_camera_control", *loc]


FORWARD_UP, DATA = "forward_up", "data:,"
ZOOM = {"movement_type": "zoom", "movement_value": 2}
CC, ACC = "camera_control", "advanced_camera_control"
RULES: list[tuple[str, dict[str, Any], str, str]] = [
    (V1, {CC: FORWARD_UP, "dynamic_masks": MASKS}, CC, "dynamic_masks"),
    (V1, {CC: FORWARD_UP, "static_mask_url": DATA}, CC, "static_mask_url"),
    (V1, {CC: FORWARD_UP, "tail_image_url": DATA}, CC, "tail_image_url"),
    (V16, {CC: FORWARD_UP, "tail_image_url": DATA}, CC, "one of"),
    (O1, {ACC: ZOOM, "end_image_url": DATA}, ACC, "end_image_url"),
    (V1, {"tail_image_url": DATA, "dynamic_masks": MASKS}, "dynamic_masks", "tail_image_url"),
    (V1, {CC: "down_back", ACC: ZOOM}, ACC, "not both"),
    (V1, {"dynamic_masks": MASKS, "duration": "10"}, "duration", "forces duration '5'"),
    (V1, {"static_mask_url": DATA, "duration": 10}, "duration", "motion brush"),
    (V1, {"tail_image_url": DATA, "duration": "10"}, "duration", "tail_image_url forces"),
    (V1PRO, {"tail_image_url": DATA, "duration": "10"}, "duration", "5 s only"),
]


@pytest.mark.parametrize(("endpoint", "fields", "loc", "fragment"), RULES)
def test_kling_rules_are_422s_naming_the_field(
    endpoint: str, fields: dict[str, Any], loc: str, fragment: str
) -> None:
    found = [d for d in errors(endpoint, **fields) if d["loc"] == ["body", loc]]
    assert found and fragment in found[0]["msg"], found


@pytest.mark.parametrize(
    ("endpoint", "fields"),
    [
        (V16, {"tail_image_url": "data:,", "duration": "10"}),  # kling-v1-6 pro: 5 or 10 s
        (O1, {"end_image_url": "data:,", "duration": "10"}),
        (V1, {"dynamic_masks": MASKS, "static_mask_url": "data:,"}),
        (V1, {"camera_control": "down_back", "duration": "10"}),
    ],
)
def test_allowed_combinations_pass(endpoint: str, fields: dict[str, Any]) -> None:
    validate_input(ENDPOINTS[endpoint], body(endpoint, **fields))


def test_seed_passes_through_or_is_chosen() -> None:
    assert adapt(V1, seed=1234).seed == 1234
    chosen = {adapt(V1).seed for _ in range(5)}
    assert all(s is not None and 0 <= s <= SEED_MAX for s in chosen)
    assert len(chosen) > 1


@pytest.mark.parametrize("seed", [-1, SEED_MAX + 1, 1.5, "x"])
def test_bad_seed_is_422(seed: Any) -> None:
    assert errors(O1, seed=seed)[0]["loc"] == ["body", "seed"]


def test_unset_extensions_stay_out_of_the_stored_input() -> None:
    spec = ENDPOINTS[V1]
    plain = validate_input(spec, body(V1)).model_dump(mode="json")
    assert not {"camera_control", "advanced_camera_control", "seed"} & set(plain)
    given = validate_input(spec, body(V1, camera_control="down_back", seed=0))
    stored = given.model_dump(mode="json")
    assert stored["seed"] == 0 and stored["camera_control"]["type"] == "down_back"
    # What is stored validates again to the same input (the worker re-reads it).
    assert validate_input(spec, stored) == given


def test_schema_documents_the_extensions() -> None:
    props = ENDPOINTS[V1].input_model.model_json_schema()["properties"]
    assert {"camera_control", "advanced_camera_control", "seed"} <= set(props)
    output = ENDPOINTS[V1].output_model.model_json_schema()["properties"]
    assert "seed" in output
