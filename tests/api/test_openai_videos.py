"""OpenAI's /v1/videos dialect in process: shapes, mapping onto the catalog, errors, and
its separation from the fal dialect. (The real SDK against a live server:
tests/clients/test_openai_sdk.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from vidserve.endpoints import ENDPOINTS

from fakes import Harness
from helpers import data_uri, make_image

IMAGE = make_image(640, 360)
V21 = "fal-ai/kling-video/v2.1/standard/image-to-video"


def create(h: Harness, **fields: Any) -> Any:
    files = (
        {"input_reference": ("cat.png", IMAGE, "image/png")}
        if fields.pop("upload", False)
        else None
    )
    data = {k: str(v) for k, v in fields.items()}
    if files is None:
        return h.client.post("/v1/videos", json=fields)
    return h.client.post("/v1/videos", data=data, files=files)


def test_a_multipart_create_queues_an_image_to_video_and_completes(harness: Harness) -> None:
    r = create(
        harness,
        upload=True,
        prompt="push in",
        model="kling-v2.1-standard",
        seconds=5,
        size="1280x720",
    )
    assert r.status_code == 200, r.text
    video = r.json()
    assert video["id"].startswith("video_") and video["object"] == "video"
    assert video["status"] == "queued" and video["progress"] == 0
    assert video["model"] == "kling-v2.1-standard" and video["seconds"] == "5"
    assert video["size"] == "1280x720" and video["prompt"] == "push in"
    assert r.headers["openai-poll-after-ms"] == "500"
    job = harness.store.get(video["id"])
    assert job is not None and job.endpoint_id == V21
    assert job.input["aspect_ratio"] == "16:9" and job.input["image_url"].startswith(
        "http://testserver/files/"
    )
    harness.drain()
    answer = harness.client.get(f"/v1/videos/{video['id']}")
    done = answer.json()
    assert done["status"] == "completed" and done["progress"] == 100
    assert done["completed_at"] >= done["created_at"]
    assert "openai-poll-after-ms" not in answer.headers


def test_json_create_takes_a_url_reference_and_passes_fal_fields_on(harness: Harness) -> None:
    r = create(
        harness,
        prompt="p",
        model=V21,
        input_reference={"image_url": data_uri(IMAGE)},
        cfg_scale=0.9,
        negative_prompt="blur",
    )
    assert r.status_code == 200, r.text
    job = harness.store.get(r.json()["id"])
    assert (
        job is not None and job.input["cfg_scale"] == 0.9 and job.input["negative_prompt"] == "blur"
    )
    assert job.input["image_url"].startswith("data:image/png")


@pytest.mark.parametrize(
    ("fields", "status", "param", "code"),
    [
        ({"prompt": "p", "model": "sora-9"}, 400, "model", "model_not_found"),
        ({"model": "kling-v2.1-standard"}, 400, "prompt", "missing"),
        ({"prompt": "p", "model": "kling-v2.1-standard"}, 400, "input_reference", "invalid_value"),
        (
            {"prompt": "p", "upload": True, "model": "kling-v2.1-standard", "seconds": "7"},
            400,
            "seconds",
            "literal_error",
        ),
        (
            {"prompt": "p", "upload": True, "model": "kling-v2.1-standard", "size": "1920x1080"},
            400,
            "size",
            "unsupported_size",
        ),
        ({"prompt": "p", "upload": True, "size": "big"}, 400, "size", "invalid_value"),
        ({"prompt": "p", "upload": True, "cfg_scale": "7"}, 400, "cfg_scale", "less_than_equal"),
        ({"prompt": "p"}, 400, "model", "endpoint_not_served"),
    ],
    ids=["model", "prompt", "reference", "seconds", "size", "size-shape", "extra", "not-served"],
)
def test_errors_take_openais_shape_and_name_the_parameter(
    harness: Harness, fields: dict[str, Any], status: int, param: str, code: str
) -> None:
    r = create(harness, **fields)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert error["code"] == code and error["message"]


def test_the_same_rule_gives_the_same_message_in_both_dialects(harness: Harness) -> None:
    fal = harness.client.post(
        f"/queue/{V21}", json={"prompt": "p", "image_url": data_uri(IMAGE), "duration": "7"}
    )
    openai = create(harness, upload=True, prompt="p", model=V21, seconds="7")
    assert fal.status_code == 422
    assert fal.json()["detail"][0]["msg"] in openai.json()["error"]["message"]


def test_each_dialect_sees_only_its_own_requests(harness: Harness) -> None:
    video = create(harness, upload=True, prompt="p").json()
    fal = harness.client.post(
        f"/queue/{V21}", json={"prompt": "p", "image_url": data_uri(IMAGE)}
    ).json()
    app = "fal-ai/kling-video"
    assert harness.client.get(f"/queue/{app}/requests/{video['id']}/status").status_code == 404
    assert harness.client.get(f"/queue/{app}/requests/{video['id']}").status_code == 404
    assert harness.client.get(f"/v1/videos/{fal['request_id']}").status_code == 404
    listed = harness.client.get("/v1/videos").json()
    assert [v["id"] for v in listed["data"]] == [video["id"]]


def test_list_pages_with_after_limit_and_order(harness: Harness) -> None:
    ids = [create(harness, upload=True, prompt=f"p{n}").json()["id"] for n in range(5)]
    first = harness.client.get("/v1/videos", params={"limit": 2}).json()
    assert [v["id"] for v in first["data"]] == ids[:-3:-1] and first["has_more"] is True
    assert first["object"] == "list" and first["last_id"] == ids[3]
    rest = harness.client.get("/v1/videos", params={"limit": 10, "after": first["last_id"]}).json()
    assert [v["id"] for v in rest["data"]] == ids[2::-1] and rest["has_more"] is False
    asc = harness.client.get("/v1/videos", params={"order": "asc", "limit": 3}).json()
    assert [v["id"] for v in asc["data"]] == ids[:3]
    bad = harness.client.get("/v1/videos", params={"limit": 0})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"


def test_content_delete_and_remix(harness: Harness) -> None:
    video = create(harness, upload=True, prompt="first").json()
    assert harness.client.get(f"/v1/videos/{video['id']}/content").status_code == 404
    harness.drain()
    content = harness.client.get(f"/v1/videos/{video['id']}/content")
    assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
    job = harness.store.get(video["id"])
    assert job is not None and job.result is not None
    assert content.content == harness.client.get(job.result["video"]["url"]).content
    spritesheet = harness.client.get(f"/v1/videos/{video['id']}/content?variant=spritesheet")
    assert spritesheet.status_code == 400 and spritesheet.json()["error"]["param"] == "variant"
    remix = harness.client.post(f"/v1/videos/{video['id']}/remix", json={"prompt": "second"}).json()
    assert remix["remixed_from_video_id"] == video["id"] and remix["prompt"] == "second"
    source, again = harness.store.get(video["id"]), harness.store.get(remix["id"])
    assert source is not None and again is not None
    assert {k: v for k, v in again.input.items() if k != "prompt"} == {
        k: v for k, v in source.input.items() if k != "prompt"
    }
    gone = harness.client.delete(f"/v1/videos/{video['id']}")
    assert gone.json() == {"id": video["id"], "object": "video.deleted", "deleted": True}
    assert harness.client.get(f"/v1/videos/{video['id']}").status_code == 404
    assert harness.client.get(f"/v1/videos/{video['id']}/content").status_code == 404
    assert harness.client.get(job.result["video"]["url"]).status_code == 404


def test_models_list_aliases_and_every_catalog_endpoint(harness: Harness) -> None:
    listed = harness.client.get("/v1/models").json()
    ids = [m["id"] for m in listed["data"]]
    assert ids[0] == "kling" and "kling-v2.6-pro" in ids and set(ENDPOINTS) <= set(ids)
    assert harness.client.get("/v1/models/kling-v3-standard").json()["object"] == "model"
    assert harness.client.get("/v1/models/nope").status_code == 404


def test_bearer_keys_work_as_fal_keys(harness: Harness) -> None:
    _, secret = harness.store.create_key("team")
    r = create(harness, upload=True, prompt="p")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    harness.client.headers["Authorization"] = f"Bearer {secret}"
    assert create(harness, upload=True, prompt="p").status_code == 200
    assert harness.client.get("/v1/videos").json()["data"]


def test_two_input_references_are_a_400_not_a_crash(harness: Harness) -> None:
    r = harness.client.post(
        "/v1/videos",
        data={"prompt": "p", "input_reference[image_url]": "https://example.com/a.png"},
        files={"input_reference": ("cat.png", IMAGE, "image/png")},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "input_reference"
