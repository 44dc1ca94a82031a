"""Every field that names a file (``*_url``, ``*_urls``, nested ones in ``dynamic_masks`` and
``elements`` included) takes an http(s) URL, a data URI or a URL of this server's files, and
anything else is a 422 at submit naming the field: never a request that fails once queued."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from vidserve.endpoints import ENDPOINTS

from fakes import Harness
from helpers import data_uri, make_image

KLING = "fal-ai/kling-video"
V1 = f"{KLING}/v1/standard/image-to-video"
IMAGE = data_uri(make_image(640, 480))
#: What every refusal says is accepted.
ACCEPTED = "give an http(s) URL, a data URI, or the URL of a file uploaded to this server"

NOT_URLS = [
    "cat.jpg",
    "/tmp/cat.jpg",
    "./cat.jpg",
    "file:///etc/passwd",
    "ftp://x/y.png",
    "javascript:alert(1)",
    "//example.com/a.png",
    " https://example.com/a.png",
    "   ",
    "http://",
    "https:///a.png",
    "http://[::1",
    "data:",
    "data:image/png;base64",
]


def submit(harness: Harness, endpoint: str, body: dict[str, Any]) -> Any:
    return harness.client.post(f"/queue/{endpoint}", json=body)


def url_details(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    return [d for d in response.json()["detail"] if d["type"] in ("url_scheme", "url_missing")]


def url_locs(value: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Where a body names files: strings under a key ending ``_url`` or ``_urls``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from url_locs(item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from url_locs(item, (*loc, i))
    elif isinstance(value, str) and any(
        isinstance(part, str) and part.endswith(("_url", "_urls")) for part in loc[-2:]
    ):
        yield loc


def replaced(body: dict[str, Any], loc: tuple[str | int, ...], value: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    parent: Any = body
    for part in loc[:-1]:
        parent = parent[part]
    parent[loc[-1]] = value
    return body


@pytest.mark.parametrize("value", NOT_URLS)
def test_what_is_not_a_fetchable_url_is_a_422_naming_the_field(
    harness: Harness, value: str
) -> None:
    response = submit(harness, V1, {"prompt": "a cat", "image_url": value})
    [line] = url_details(response)
    assert line["loc"] == ["body", "image_url"]
    assert ACCEPTED in line["msg"]
    assert line["msg"].startswith(repr(value))
    assert harness.drain() == 0  # nothing was queued


CASES = [
    (endpoint, loc)
    for endpoint, spec in ENDPOINTS.items()
    for loc in url_locs(dict(spec.example))
    if loc[0] != "elements" or loc[-1] != "video_url"
]


def test_the_examples_name_every_kind_of_url_field() -> None:
    fields = {tuple(p if isinstance(p, str) else "#" for p in loc) for _, loc in CASES}
    assert fields >= {
        ("image_url",),
        ("start_image_url",),
        ("end_image_url",),
        ("tail_image_url",),
        ("static_mask_url",),
        ("dynamic_masks", "#", "mask_url"),
        ("input_image_urls", "#"),
        ("image_urls", "#"),
        ("elements", "#", "frontal_image_url"),
        ("video_url",),
        ("audio_url",),
    }


def schema_url_fields(schema: Any) -> Iterator[str]:
    """Names of the properties ending ``_url`` or ``_urls`` anywhere in a JSON schema."""
    if isinstance(schema, dict):
        properties = schema.get("properties") or {}
        yield from (name for name in properties if name.endswith(("_url", "_urls")))
        for sub in schema.values():
            yield from schema_url_fields(sub)
    elif isinstance(schema, list):
        for sub in schema:
            yield from schema_url_fields(sub)


def test_the_check_knows_every_url_field_in_the_catalog() -> None:
    """A new file field must join ``vidserve.endpoints.files.url_slots`` (and this list)."""
    names = {
        name
        for spec in ENDPOINTS.values()
        for name in schema_url_fields(spec.input_model.model_json_schema())
    }
    assert names == {
        "image_url",
        "start_image_url",
        "end_image_url",
        "tail_image_url",
        "static_mask_url",
        "mask_url",  # dynamic_masks[]
        "input_image_urls",
        "image_urls",
        "frontal_image_url",  # elements[]
        "reference_image_urls",  # elements[]
        "video_url",  # lipsync; an element's is refused as unsupported
        "audio_url",
    }


@pytest.mark.parametrize(
    ("endpoint", "loc"),
    CASES,
    ids=[f"{e.removeprefix(KLING + '/')}:{'.'.join(map(str, loc))}" for e, loc in CASES],
)
def test_every_url_field_of_every_endpoint_is_checked_at_submit(
    harness: Harness, endpoint: str, loc: tuple[str | int, ...]
) -> None:
    body = replaced(dict(ENDPOINTS[endpoint].example), loc, "cat.jpg")
    details = url_details(submit(harness, endpoint, body))
    assert [d["loc"] for d in details] == [["body", *loc]]
    assert details[0]["msg"].startswith("'cat.jpg' is not a URL")


ELEMENT = {"frontal_image_url": IMAGE, "reference_image_urls": [IMAGE, IMAGE]}
MASK = {"mask_url": IMAGE, "trajectories": [{"x": 10, "y": 10}, {"x": 100, "y": 100}]}
NESTED = [
    # (endpoint, body, the bad field's loc)
    (
        f"{KLING}/v1/standard/image-to-video",
        {"image_url": IMAGE, "dynamic_masks": [MASK, {**MASK, "mask_url": "mask.png"}]},
        ("dynamic_masks", 1, "mask_url"),
    ),
    (
        f"{KLING}/v1/standard/image-to-video",
        {"image_url": IMAGE, "static_mask_url": "file:///tmp/mask.png"},
        ("static_mask_url",),
    ),
    (
        f"{KLING}/v1.6/standard/elements",
        {"input_image_urls": [IMAGE, "/home/me/cat.jpg"]},
        ("input_image_urls", 1),
    ),
    (
        f"{KLING}/v1.6/pro/effects",
        {"effect_scene": "hug", "input_image_urls": ["ftp://x/a.png", IMAGE]},
        ("input_image_urls", 0),
    ),
    (
        f"{KLING}/o1/reference-to-video",
        {"elements": [ELEMENT, {**ELEMENT, "reference_image_urls": [IMAGE, "b.png"]}]},
        ("elements", 1, "reference_image_urls", 1),
    ),
    (
        f"{KLING}/o1/reference-to-video",
        {"elements": [{**ELEMENT, "frontal_image_url": "front.png"}]},
        ("elements", 0, "frontal_image_url"),
    ),
    (
        f"{KLING}/o1/reference-to-video",
        {"image_urls": [IMAGE, "   "]},
        ("image_urls", 1),
    ),
    (
        f"{KLING}/v3/pro/image-to-video",
        {"start_image_url": IMAGE, "elements": [{**ELEMENT, "reference_image_urls": ["x"]}]},
        ("elements", 0, "reference_image_urls", 0),
    ),
    (
        f"{KLING}/v2.6/pro/image-to-video",
        {"start_image_url": IMAGE, "end_image_url": "http://"},
        ("end_image_url",),
    ),
    (
        f"{KLING}/lipsync/audio-to-video",
        {"video_url": "clip.mp4", "audio_url": "https://example.com/a.mp3"},
        ("video_url",),
    ),
    (
        f"{KLING}/lipsync/audio-to-video",
        {"video_url": "https://example.com/a.mp4", "audio_url": "voice.mp3"},
        ("audio_url",),
    ),
]


@pytest.mark.parametrize(
    ("endpoint", "body", "loc"), NESTED, ids=[".".join(map(str, n[2])) for n in NESTED]
)
def test_nested_and_listed_urls_are_checked_at_submit(
    harness: Harness, endpoint: str, body: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    assert endpoint in ENDPOINTS
    body = (
        {"prompt": "a cat", **body}
        if "prompt" in ENDPOINTS[endpoint].input_model.model_fields
        else body
    )
    [line] = url_details(submit(harness, endpoint, body))
    assert line["loc"] == ["body", *loc]
    assert ACCEPTED in line["msg"]


def test_every_bad_url_of_one_request_is_named(harness: Harness) -> None:
    body = {
        "prompt": "a cat",
        "image_url": "cat.jpg",
        "dynamic_masks": [{**MASK, "mask_url": "/tmp/m.png"}],
        "static_mask_url": "ftp://x/s.png",
    }
    locs = [d["loc"] for d in url_details(submit(harness, V1, body))]
    assert locs == [
        ["body", "image_url"],
        ["body", "static_mask_url"],
        ["body", "dynamic_masks", 0, "mask_url"],
    ]


@pytest.mark.parametrize(
    ("endpoint", "body", "loc"),
    [
        (V1, {"prompt": "a cat", "image_url": ""}, ("image_url",)),
        (
            f"{KLING}/v2.6/pro/image-to-video",
            {"prompt": "a cat", "start_image_url": ""},
            ("start_image_url",),
        ),
        (
            V1,
            {"prompt": "a cat", "image_url": IMAGE, "dynamic_masks": [{**MASK, "mask_url": ""}]},
            ("dynamic_masks", 0, "mask_url"),
        ),
        (
            f"{KLING}/v1.6/standard/elements",
            {"prompt": "a cat", "input_image_urls": [IMAGE, ""]},
            ("input_image_urls", 1),
        ),
        (f"{KLING}/lipsync/audio-to-video", {"video_url": "", "audio_url": IMAGE}, ("video_url",)),
    ],
)
def test_an_empty_url_where_one_is_needed_is_a_422(
    harness: Harness, endpoint: str, body: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    [line] = url_details(submit(harness, endpoint, body))
    assert line["loc"] == ["body", *loc]
    assert line["type"] == "url_missing"
    assert line["msg"].startswith("the URL is empty: " + ACCEPTED)


def test_an_empty_optional_url_means_none_given(harness: Harness) -> None:
    body = {"prompt": "a cat", "image_url": IMAGE, "tail_image_url": "", "static_mask_url": ""}
    assert submit(harness, V1, body).status_code == 200


def test_the_sync_run_route_checks_urls_too(harness: Harness) -> None:
    response = harness.client.post(f"/run/{V1}", json={"prompt": "a cat", "image_url": "cat.jpg"})
    [line] = url_details(response)
    assert line["loc"] == ["body", "image_url"]


def upload(harness: Harness, data: bytes) -> str:
    grant = harness.client.post(
        "/rest/storage/upload/initiate",
        json={"content_type": "image/png", "file_name": "cat.png"},
    ).json()
    put = harness.client.put(
        grant["upload_url"], content=data, headers={"Content-Type": "image/png"}
    )
    assert put.status_code == 200
    url: str = grant["file_url"]
    return url


def test_urls_of_this_servers_files_and_data_uris_are_taken_and_fetched(
    harness: Harness,
) -> None:
    uploaded = upload(harness, make_image(640, 480, seed=3))
    assert uploaded.startswith("http://testserver/")
    jobs = [submit(harness, V1, {"prompt": "a cat", "image_url": url}) for url in (uploaded, IMAGE)]
    assert [job.status_code for job in jobs] == [200, 200]
    assert harness.drain() == 2
    for job in jobs:
        result = harness.client.get(job.json()["response_url"])
        assert result.status_code == 200, result.text
        assert "video" in result.json()


@pytest.mark.parametrize(
    "url",
    ["https://example.com/cat.jpg", "HTTP://EXAMPLE.COM/cat.jpg", "http://[::1]:9/cat.png"],
)
def test_http_urls_pass_the_submit_check(harness: Harness, url: str) -> None:
    """Whether the host answers (and may be fetched at all) is the worker's to find out."""
    assert submit(harness, V1, {"prompt": "a cat", "image_url": url}).status_code == 200
