"""Health, the model list and OpenAPI documents."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from vidserve import __version__
from vidserve.api.meta import metrics_text
from vidserve.endpoints import ENDPOINTS
from vidserve.schema import Status
from vidserve.store import RenderFigures, WorkStats

from fakes import Harness
from helpers import data_uri, make_image

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
PRO = "fal-ai/kling-video/v1.6/pro/image-to-video"
IMAGE = data_uri(make_image(320, 320))


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
    assert models[V1]["output"] == {
        "model": "kling-v1 std",
        "resolution": "720p",
        "fps": 30,
        "durations": [5, 10],
        "summary": "720p, 30 fps, 5/10 s",
    }
    assert models[V1]["price"] == {
        "per_second": 0.045,
        "with_audio_per_second": None,
        "source": "fal",
    }
    assert models[V1]["kind"] == "image-to-video" and models[V1]["served"] is True


def test_models_say_which_endpoints_this_configuration_serves_and_why_not(
    harness: Harness,
) -> None:
    models = {m["endpoint_id"]: m for m in harness.client.get("/models").json()}
    assert len(models) == 56
    t2v = models["fal-ai/kling-video/v2.1/master/text-to-video"]
    assert t2v["served"] is False and t2v["engine"] is None
    assert "motion engine (this server's default) cannot" in t2v["not_served_because"]
    assert "cogvideox, ltx, wan" in t2v["not_served_because"]
    served = {m["kind"]: m["engine"] for m in models.values() if m["served"]}
    assert served == {
        "image-to-video": "motion",
        "elements": "motion",
        "reference-to-video": "motion",
        "effects": "motion",
        "lipsync": "talk",
        "avatar": "talk",
        "text-to-speech": "speech",
    }
    # Of the 198 scenes the effects schema lists, the ones the motion engine renders.
    effects = models["fal-ai/kling-video/v1.6/pro/effects"]
    assert effects["effect_scenes"] == [
        "hug", "kiss", "heart_gesture", "squish", "expansion", "fuzzyfuzzy", "bloombloom",
        "dizzydizzy",
    ]  # fmt: skip
    assert "effect_scenes" not in models[t2v["endpoint_id"]]


def test_metrics_show_queued_and_running_work_to_prometheus(harness: Harness) -> None:
    for _ in range(2):
        harness.client.post(f"/queue/{V1}", json={"prompt": "p", "image_url": IMAGE})
    harness.client.post(f"/queue/{PRO}", json={"prompt": "p", "image_url": IMAGE})
    harness.store.claim("w1", 30.0)  # the oldest V1 request starts
    response = harness.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    count = {
        (s.labels["endpoint"], s.labels["status"]): s.value
        for s in families["vidserve_requests"].samples
    }
    assert count[(V1, "IN_QUEUE")] == 1
    assert count[(V1, "IN_PROGRESS")] == 1
    assert count[(PRO, "IN_QUEUE")] == 1
    assert count[(PRO, "IN_PROGRESS")] == 0
    assert set(count) == {(e, s) for e in ENDPOINTS for s in ("IN_QUEUE", "IN_PROGRESS")}
    ages = {
        (s.labels["endpoint"], s.labels["status"]): s.value
        for s in families["vidserve_oldest_request_age_seconds"].samples
    }
    assert 0 <= ages[(V1, "IN_QUEUE")] < 60
    assert ages[(PRO, "IN_PROGRESS")] == 0
    assert families["vidserve_webhooks_pending"].samples[0].value == 0
    assert families["vidserve_info"].samples[0].labels["version"] == __version__


def test_metrics_label_values_are_escaped() -> None:
    stats = [WorkStats('odd"end\\point\nid', Status.IN_QUEUE, 3, 100.0)]
    families = {f.name: f for f in text_string_to_metric_families(metrics_text(stats, 0, 160.0))}
    (odd,) = [s for s in families["vidserve_requests"].samples if s.value == 3]
    assert odd.labels["endpoint"] == 'odd"end\\point\nid'


def test_metrics_show_render_figures_where_engines_measured_them() -> None:
    figures = [
        RenderFigures(V1, 3, 4.5, None, None),  # the motion engine: no steps, no GPU
        RenderFigures(PRO, 2, 30.0, 1.25, 20480.0),
    ]
    text = metrics_text([], 0, 160.0, figures)
    families = {f.name: f for f in text_string_to_metric_families(text)}

    def series(name: str) -> dict[str, float]:
        return {s.labels["endpoint"]: s.value for s in families[name].samples}

    assert series("vidserve_renders_recent") == {V1: 3, PRO: 2}
    assert series("vidserve_render_seconds_mean") == {V1: 4.5, PRO: 30.0}
    assert series("vidserve_seconds_per_step_mean") == {PRO: 1.25}
    assert series("vidserve_peak_gpu_memory_bytes") == {PRO: 20480 * 1024 * 1024}
