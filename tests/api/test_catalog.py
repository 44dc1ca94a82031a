"""The catalog over the API: what each kind's input becomes for an engine, Kling's rules on
the new inputs, and what the configured engine cannot do, refused or done without, never
silently dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidserve.endpoints import ENDPOINTS
from vidserve.engines.base import Capabilities, Feature, Kind
from vidserve.engines.config import default_config, read_engines_config
from vidserve.engines.registry import MOTION_CAPABILITIES
from vidserve.errors import ConfigError
from vidserve.serving import plan_routes

from fakes import FakeEngine, Harness
from helpers import data_uri, make_image

K = "fal-ai/kling-video/"
T2V = K + "v2.1/master/text-to-video"
V26 = K + "v2.6/pro/image-to-video"
V3 = K + "v3/standard/image-to-video"
V3_TURBO_T2V = K + "v3/turbo/standard/text-to-video"
ELEMENTS = K + "v1.6/standard/elements"
O1_REF = K + "o1/standard/reference-to-video"
O3_REF = K + "o3/standard/reference-to-video"
EFFECTS = K + "v1.6/standard/effects"
IMAGES = [data_uri(make_image(400, 300, seed=i)) for i in range(4)]
SHOTS = [{"prompt": "wide shot", "duration": "2"}, {"prompt": "zoom in", "duration": "3"}]
LONG = [{"prompt": "a", "duration": "10"}] * 2


def submit(h: Harness, endpoint: str, body: dict[str, Any]) -> Any:
    return h.client.post(f"/queue/{endpoint}", json=body)


def run(h: Harness, endpoint: str, body: dict[str, Any]) -> tuple[FakeEngine, dict[str, Any]]:
    """Submit, render with a fake engine that honours everything, return it and the result."""
    response = submit(h, endpoint, body)
    assert response.status_code == 200, response.text
    engine = FakeEngine()
    assert h.drain(engine) == 1
    result = h.client.get(response.json()["response_url"])
    assert result.status_code == 200, result.text
    return engine, result.json()


def mean_colour(image: np.ndarray[Any, Any]) -> tuple[int, ...]:
    return tuple(int(c) for c in image.reshape(-1, 3).mean(0))


def test_text_to_video_on_the_motion_engine_is_a_clear_400_naming_who_can(
    harness: Harness,
) -> None:
    response = submit(harness, T2V, {"prompt": "a corgi on a beach"})
    assert response.status_code == 400
    assert response.headers["x-fal-error-type"] == "endpoint_not_served"
    detail = response.json()["detail"]
    assert "text-to-video" in detail and "motion engine" in detail
    assert "cogvideox, ltx, wan" in detail
    assert harness.drain() == 0


def test_elements_reach_the_engine_in_order_at_the_requested_aspect(harness: Harness) -> None:
    body = {"prompt": "p", "input_image_urls": IMAGES[:3], "aspect_ratio": "9:16"}
    engine, _ = run(harness, ELEMENTS, body)
    (request,) = engine.requests
    assert request.kind is Kind.ELEMENTS and request.start_image is None
    assert len(request.reference_images) == 3
    assert (request.width, request.height, request.fps) == (720, 1280, 30)
    expected = [mean_colour(np.asarray(_decode(uri))) for uri in IMAGES[:3]]
    assert [mean_colour(image) for image in request.reference_images] == expected


def _decode(uri: str) -> Any:
    import base64
    import io

    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")


def test_reference_to_video_takes_elements_then_images_and_the_start_frame(
    harness: Harness,
) -> None:
    body = {
        "prompt": "@Element1 meets @Image1",
        "start_image_url": IMAGES[0],
        "elements": [{"frontal_image_url": IMAGES[1], "reference_image_urls": [IMAGES[2]]}],
        "image_urls": [IMAGES[3]],
        "duration": "3",
    }
    engine, _ = run(harness, O3_REF, body)
    (request,) = engine.requests
    assert request.kind is Kind.REFERENCE_TO_VIDEO
    assert request.start_image is not None and len(request.reference_images) == 3
    assert request.num_frames == 72  # 3 s at 24 fps


def test_effects_take_their_photos_and_scene(harness: Harness) -> None:
    engine, _ = run(harness, EFFECTS, {"effect_scene": "hug", "input_image_urls": IMAGES[:2]})
    (request,) = engine.requests
    assert request.kind is Kind.EFFECTS and request.effect == "hug"
    assert len(request.reference_images) == 2 and request.start_image is not None


def test_a_storyboard_without_duration_lasts_its_shots(harness: Harness) -> None:
    engine, _ = run(harness, V3, {"multi_prompt": SHOTS, "start_image_url": IMAGES[0]})
    (request,) = engine.requests
    assert request.duration == 5.0 and [s.duration for s in request.shots] == [2.0, 3.0]
    assert request.shot_frames() == [48, 72]


def test_intelligent_shots_split_the_prompt_by_sentence(harness: Harness) -> None:
    prompt = "A car drives down the road. The camera zooms in on the driver's face."
    body = {"prompt": prompt, "start_image_url": IMAGES[0], "shot_type": "intelligent"}
    engine, _ = run(harness, V3, body)
    (request,) = engine.requests
    assert [s.prompt for s in request.shots] == [
        "A car drives down the road.",
        "The camera zooms in on the driver's face.",
    ]
    assert sum(request.shot_frames()) == request.num_frames == 120


STORYBOARD_RULES: list[tuple[str, dict[str, Any], list[Any], str]] = [
    (V3, {"prompt": "p", "multi_prompt": SHOTS}, ["body", "multi_prompt"], "not both"),
    (V3, {}, ["body", "prompt"], "give a prompt"),
    (V3, {"multi_prompt": LONG}, ["body", "multi_prompt"], "20"),
    (V3, {"multi_prompt": SHOTS, "duration": "8"}, ["body", "duration"], "add up to 5 s"),
    (
        V3,
        {"multi_prompt": SHOTS, "camera_control": "down_back"},
        ["body", "camera_control"],
        "storyboard",
    ),
    (V3, {"multi_prompt": [{"prompt": "x", "duration": "1"}]}, ["body", "multi_prompt"], "3 to 15"),
    (V3, {"multi_prompt": SHOTS * 4}, ["body", "multi_prompt"], "at most 6"),
]


@pytest.mark.parametrize(("endpoint", "fields", "loc", "fragment"), STORYBOARD_RULES)
def test_storyboard_rules_are_422s(
    harness: Harness, endpoint: str, fields: dict[str, Any], loc: list[Any], fragment: str
) -> None:
    response = submit(harness, endpoint, {"start_image_url": IMAGES[0], **fields})
    assert response.status_code == 422, response.text
    found = [d for d in response.json()["detail"] if d["loc"] == loc]
    assert found and fragment in found[0]["msg"], response.json()


IMAGE_RULES: list[tuple[str, dict[str, Any], list[Any], str]] = [
    (EFFECTS, {"effect_scene": "hug", "input_image_urls": IMAGES[:1]}, ["input_image_urls"], "two"),
    (EFFECTS, {"effect_scene": "squish"}, ["input_image_urls"], "one photo"),
    (EFFECTS, {"effect_scene": "nope", "input_image_urls": IMAGES[:1]}, ["effect_scene"], "198"),
    (ELEMENTS, {"prompt": "p", "input_image_urls": IMAGES * 2}, ["input_image_urls"], "at most 4"),
    (O1_REF, {"prompt": "p"}, ["image_urls"], "at least one image"),
    (O1_REF, {"prompt": "p", "image_urls": [IMAGES[0]] * 8}, ["image_urls"], "at most 7"),
    (
        O3_REF,
        {"prompt": "p", "elements": [{"video_url": "https://example.com/a.mp4"}]},
        ["elements", 0, "video_url"],
        "does not decode video",
    ),
    (ELEMENTS, {"prompt": "p", "input_image_urls": ["cat.png"]}, ["input_image_urls", 0], "URL"),
]


@pytest.mark.parametrize(("endpoint", "body", "loc", "fragment"), IMAGE_RULES)
def test_image_rules_are_422s_naming_the_field(
    harness: Harness, endpoint: str, body: dict[str, Any], loc: list[Any], fragment: str
) -> None:
    response = submit(harness, endpoint, body)
    assert response.status_code == 422, response.text
    found = [d for d in response.json()["detail"] if d["loc"] == ["body", *loc]]
    assert found and fragment in found[0]["msg"], response.json()


ENGINE_REFUSALS: list[tuple[str, dict[str, Any], list[Any]]] = [
    (V26, {"prompt": "p", "start_image_url": IMAGES[0], "generate_audio": 1}, ["generate_audio"]),
    (V26, {"prompt": "p", "start_image_url": IMAGES[0], "voice_ids": ["v1"]}, ["voice_ids"]),
    (EFFECTS, {"effect_scene": "jelly_press", "input_image_urls": IMAGES[:1]}, ["effect_scene"]),
]


@pytest.mark.parametrize(("endpoint", "body", "loc"), ENGINE_REFUSALS)
def test_asking_the_motion_engine_for_what_it_cannot_do_is_a_422_naming_it(
    harness: Harness, endpoint: str, body: dict[str, Any], loc: list[Any]
) -> None:
    response = submit(harness, endpoint, body)
    assert response.status_code == 422, response.text
    (found,) = [d for d in response.json()["detail"] if d["loc"] == ["body", *loc]]
    assert "the motion engine serving this endpoint cannot" in found["msg"]
    assert found["type"] == "unsupported_by_engine"


def test_a_default_audio_wish_is_done_without_and_said(harness: Harness) -> None:
    body = {"prompt": "p", "start_image_url": IMAGES[0]}  # generate_audio defaults to true
    response = submit(harness, V26, body)
    assert response.status_code == 200, response.text
    worker = harness.worker(FakeEngine(MOTION_CAPABILITIES))
    assert worker.drain() == 1
    result = harness.client.get(response.json()["response_url"]).json()
    assert result["warnings"] == ["rendered without audio: the fake engine serving this "
                                  "endpoint makes no sound"]
    assert result["usage"]["price_per_second"] == 0.07  # the silent price
    status = harness.client.get(response.json()["status_url"], params={"logs": 1}).json()
    assert any("without audio" in line["message"] for line in status["logs"])


def test_audio_an_engine_makes_is_asked_for_and_priced(harness: Harness) -> None:
    engine, result = run(harness, V26, {"prompt": "p", "start_image_url": IMAGES[0]})
    assert engine.requests[0].generate_audio is True
    assert result["usage"]["price_per_second"] == 0.14 and "warnings" not in result


def test_an_unpublished_price_reports_seconds_without_a_cost(harness: Harness) -> None:
    _, result = run(harness, O1_REF, {"prompt": "p", "image_urls": IMAGES[:1], "duration": "3"})
    assert result["usage"] == {"video_seconds": 3.0}  # fal publishes no price for it


def test_the_worker_refuses_what_its_engine_cannot_do(harness: Harness) -> None:
    """A fleet's API may know less than its workers: the worker checks again."""
    response = submit(harness, O1_REF, {"prompt": "p", "image_urls": IMAGES[:2]})
    assert response.status_code == 200
    assert harness.drain(FakeEngine(Capabilities(frozenset(Kind)))) == 1
    result = harness.client.get(response.json()["response_url"])
    assert result.status_code == 422
    (detail,) = result.json()["detail"]
    assert detail["loc"] == ["body", "image_urls"] and "uses at most 0" in detail["msg"]


def test_a_toml_mapping_text_to_video_to_the_motion_engine_fails_at_start(tmp_path: Path) -> None:
    path = tmp_path / "engines.toml"
    path.write_text(f'[endpoints]\n"{T2V}" = "motion"\n')
    with pytest.raises(ConfigError) as caught:
        plan_routes(read_engines_config(path))
    message = str(caught.value)
    assert T2V in message and "'motion'" in message and "text-to-video" in message


def test_every_catalog_kind_but_text_is_served_by_default() -> None:
    """The motion engine is the default; speech and talking go to the built-in engines that
    make them (no weights needed)."""
    routes = plan_routes(default_config())
    for endpoint_id, route in routes.items():
        assert route.served == (ENDPOINTS[endpoint_id].kind is not Kind.TEXT_TO_VIDEO)
    assert routes[K + "v1/tts"].engine == "speech"
    assert routes[K + "lipsync/text-to-video"].engine == "talk"
    assert Feature.AUDIO not in MOTION_CAPABILITIES.features
    assert not routes[V3_TURBO_T2V].served
