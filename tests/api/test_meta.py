"""Health, the model list and OpenAPI documents."""

from __future__ import annotations

from vidserve.endpoints import ENDPOINTS

from fakes import Harness

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
PRO = "fal-ai/kling-video/v1.6/pro/image-to-video"


def test_health_lists_endpoints(harness: Harness) -> None:
    body = harness.client.get("/health").json()
    assert body["status"] == "ok"
    assert body["endpoints"] == sorted(ENDPOINTS)


def test_openapi_json_documents_every_endpoint_with_its_input_schema(harness: Harness) -> None:
    schema = harness.client.get("/openapi.json").json()
    for endpoint_id, spec in ENDPOINTS.items():
        post = schema["paths"][f"/queue/{endpoint_id}"]["post"]
        ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        name = ref.rsplit("/", 1)[-1]
        assert name == spec.input_model.__name__
        assert name in schema["components"]["schemas"]
        assert f"/run/{endpoint_id}" in schema["paths"]


def test_per_endpoint_openapi_carries_defaults_enums_and_ranges(harness: Harness) -> None:
    doc = harness.client.get("/openapi/queue/openapi.json", params={"endpoint_id": PRO}).json()
    assert doc["info"]["x-fal-metadata"]["endpointId"] == PRO
    assert doc["servers"] == [{"url": "http://testserver/queue"}]
    props = doc["components"]["schemas"]["ProImageToVideoInput"]["properties"]
    assert props["duration"]["enum"] == ["5", "10"] and props["duration"]["default"] == "5"
    assert props["aspect_ratio"]["default"] == "16:9"
    assert props["cfg_scale"]["minimum"] == 0 and props["cfg_scale"]["maximum"] == 1
    assert f"/{PRO}" in doc["paths"]
    assert "/fal-ai/kling-video/requests/{request_id}/status" in doc["paths"]
    assert "File" in doc["components"]["schemas"]


def test_per_endpoint_openapi_for_unknown_endpoint_is_404(harness: Harness) -> None:
    response = harness.client.get("/openapi/queue/openapi.json", params={"endpoint_id": "x/y"})
    assert response.status_code == 404
    assert V1 in response.json()["detail"]


def test_models_lists_output_settings_and_prices(harness: Harness) -> None:
    models = {m["endpoint_id"]: m for m in harness.client.get("/models").json()}
    assert models[V1]["price_per_second"] == 0.045
    assert models[V1]["output"] == {"resolution": "720p", "fps": 30, "durations": [5, 10]}
