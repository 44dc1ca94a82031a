"""Request bodies: parsed off the event loop, within limits on members, items, strings and
text outside data URIs; data URIs checked against their field's file limit at submit."""

from __future__ import annotations

import base64
import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from vidserve.api import wire
from vidserve.api.submit import data_uri_size
from vidserve.errors import InputError
from vidserve.store import Dialect

from fakes import Harness
from helpers import data_uri, make_image

V1 = "fal-ai/kling-video/v1/standard/image-to-video"
LIPSYNC = "fal-ai/kling-video/lipsync/audio-to-video"
IMAGE = data_uri(make_image(320, 320))


def parse(body: bytes, step: int | None = None, max_keys: int = wire.MAX_JSON_KEYS) -> Any:
    """``body`` as :func:`vidserve.api.wire.read_json` reads it, arriving ``step`` bytes at
    a time (all at once by default)."""
    buf, scan = bytearray(), wire._JsonScan(max_keys)
    step = step or max(len(body), 1)
    for at in range(0, len(body), step):
        buf += body[at : at + step]
        scan.feed(buf)
    if not buf or buf.isspace():
        return {}
    return wire._parse(buf, scan.lifted)


def refusal(body: bytes, step: int | None = None, max_keys: int = wire.MAX_JSON_KEYS) -> str:
    with pytest.raises(InputError) as caught:
        parse(body, step, max_keys)
    detail = caught.value.details[0]
    return f"{detail['type']}: {detail['msg']}"


def big_uri(size: int, mime: str = "image/png") -> str:
    return data_uri(
        bytes(random.Random(size).getrandbits(8) for _ in range(64)) * (size // 64), mime
    )


# -- the parse: what json.loads gives, whatever the chunks ----------------------------------

URI = big_uri(30_000)
DOCUMENTS: list[Any] = [
    {},
    [],
    "text",
    URI,
    {"a": 1, "b": [1, 2.5, None, True], "c": {"d": "e"}},
    {"image_url": URI, "prompt": 'a "quoted" \\ back\\\\slash', "more": [URI, {"x": URI}]},
    {URI: "a data URI as a key", "k": URI},
    {"s": "\u00e9\u4e2d\U0001f600", "e": "\\" * 7 + '"', "u": "\u0000\u001f"},
    {"d": "data:" + "\\" * 5000 + "x" * 5000},
    [[[[{"deep": [URI]}]]]],
]


@pytest.mark.parametrize("index", range(len(DOCUMENTS)))
@pytest.mark.parametrize("ascii_only", [True, False])
def test_the_parse_matches_json_loads_in_any_chunks(index: int, ascii_only: bool) -> None:
    body = json.dumps(DOCUMENTS[index], ensure_ascii=ascii_only).encode()
    for step in (None, 1 if len(body) < 50_000 else 3, 7, 4096, 65_536):
        assert parse(body, step) == json.loads(body), step


def test_data_uris_with_escaped_slashes_are_decoded() -> None:
    body = json.dumps({"image_url": URI}).replace("/", "\\/").encode()
    assert parse(body, 1000) == {"image_url": URI}


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1,}',
        b'{"u": "' + URI.encode() + b'", x}',
        b'{"u": "' + URI.encode() + b'"',
        b'["' + URI.encode() + b'" "' + URI.encode() + b'"]',
        b'{"u": "' + URI.encode() + b'"} trailing',
    ],
)
def test_a_decode_error_names_the_position_json_loads_would(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(body)
    with pytest.raises(InputError) as caught:
        parse(body, 999)
    detail = caught.value.details[0]
    assert detail["loc"] == ["body", expected.value.pos]
    assert detail["msg"] == f"JSON decode error: {expected.value.msg}"


def test_a_control_character_in_a_data_uri_is_no_json() -> None:
    body = b'{"u": "' + URI.encode()[:9000] + b"\n" + URI.encode()[9000:] + b'"}'
    assert refusal(body).startswith("json_invalid:")


# -- the limits --------------------------------------------------------------------------


def test_too_many_members_are_refused_before_the_body_is_parsed() -> None:
    body = b"{" + b'"k0000000": "vvvvvvvvvvvvvvvvvvvvvvvvv", ' * 1_500_000 + b'"k": 1}'
    assert len(body) > 50 * 1024 * 1024
    assert refusal(body, 65_536) == (
        f"json_too_many_keys: JSON body has more than {wire.MAX_JSON_KEYS} object members"
    )
    small = json.dumps({f"k{i}": 1 for i in range(wire.MAX_INPUT_KEYS + 1)}).encode()
    assert refusal(small, max_keys=wire.MAX_INPUT_KEYS).startswith("json_too_many_keys:")
    assert len(parse(small)) == wire.MAX_INPUT_KEYS + 1  # the default limit is higher


def test_too_many_items_are_refused() -> None:
    assert refusal(b"[" + b"1," * (wire.MAX_JSON_ITEMS + 1) + b"1]").startswith(
        "json_too_many_items"
    )
    # Strings with no separator between them are no JSON, and are counted as items too.
    assert refusal(b'"a"' * (wire.MAX_JSON_ITEMS + 2)).startswith("json_too_many_items")


def test_long_strings_are_refused_unless_data_uris() -> None:
    long = "x" * (wire.MAX_JSON_STRING + 1)
    assert refusal(json.dumps({"prompt": long}).encode(), 4096).startswith("json_string_too_long:")
    assert refusal(json.dumps({long: 1}).encode()).startswith("json_string_too_long:")
    # An escaped quote does not end a string: still too long.
    assert refusal(('{"p": "' + '\\"' * wire.MAX_JSON_STRING + '"}').encode()).startswith(
        "json_string_too_long:"
    )
    uri = big_uri(wire.MAX_JSON_STRING * 2)
    assert parse(json.dumps({"image_url": uri}).encode(), 4096) == {"image_url": uri}


def test_a_data_uri_may_not_hold_a_quote() -> None:
    body = ('{"u": "data:image/png;base64,AAAA\\"' + "A" * 10_000 + '"}').encode()
    assert refusal(body) == "json_invalid: A data URI in the body holds a '\"'"


def test_the_text_outside_data_uris_is_limited() -> None:
    strings = ["y" * 60_000] * (wire.MAX_JSON_TEXT // 60_000 + 1)
    assert refusal(json.dumps(strings).encode(), 65_536).startswith("json_too_large:")
    uris = [big_uri(400_000)] * 6  # 3.2 MB of data URIs
    assert parse(json.dumps(uris).encode(), 65_536) == uris


def test_depth_is_still_limited() -> None:
    deep: Any = URI
    for _ in range(wire.MAX_JSON_DEPTH + 1):
        deep = [deep]
    assert refusal(json.dumps(deep).encode()).startswith("json_depth:")


# -- data URIs against their field's file limit ---------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 3, 1000, 10 * 1024 * 1024 + 1])
def test_a_data_uri_size_is_its_decoded_size(size: int) -> None:
    payload = bytes(size)
    encoded = data_uri(payload)
    assert data_uri_size(encoded, size) == size  # exact at or under the limit
    assert data_uri_size(encoded, size - 1) == size
    wrapped = base64.encodebytes(payload).decode()  # MIME line breaks every 76 characters
    assert data_uri_size(f"data:image/png;base64,{wrapped}", size - 1) == size
    assert data_uri_size("data:text/plain,a%20b", 0) == len("a b")


def submit(h: Harness, body: dict[str, Any], endpoint: str = V1) -> Any:
    return h.client.post(f"/queue/{endpoint}", json=body)


def test_an_image_data_uri_over_the_cap_is_422_at_submit_naming_the_field(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    huge = data_uri(b"\x89PNG" + bytes(11 * 1024 * 1024))
    with h.client:
        answer = submit(h, {"prompt": "p", "image_url": IMAGE, "tail_image_url": huge})
    assert answer.status_code == 422, answer.text
    [detail] = answer.json()["detail"]
    assert detail["loc"] == ["body", "tail_image_url"]
    assert detail["type"] == "file_too_large"
    assert "the file is 11 MB, over the 10 MB limit" in detail["msg"]
    assert h.store.list_requests(None, Dialect.FAL) == []  # nothing was stored
    h.store.close()


def test_audio_data_uris_have_their_own_cap(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.app.state.ctx = replace(h.app.state.ctx, settings=replace(h.settings, max_input_bytes=1000))
    audio = data_uri(bytes(5000), "audio/wav")
    body = {"video_url": data_uri(bytes(2000), "video/mp4"), "audio_url": audio}
    with h.client:
        answer = submit(h, body, LIPSYNC)
        assert answer.status_code == 200, answer.text  # audio and video: 50 and 100 MB
        answer = submit(h, {"prompt": "p", "image_url": data_uri(bytes(1001))})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "image_url"]
    h.store.close()


def test_an_input_with_many_members_is_refused_early(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    body = {"prompt": "p", "image_url": IMAGE, **{f"x{i}": 1 for i in range(5000)}}
    with h.client:
        answer = submit(h, body)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["type"] == "json_too_many_keys"
    h.store.close()


def test_a_data_uri_under_the_cap_is_stored_as_sent(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    image = data_uri(make_image(640, 360))
    with h.client:
        answer = submit(h, {"prompt": "p", "image_url": image, "unknown": {"k": image}})
    assert answer.status_code == 200, answer.text
    job = h.store.get(answer.json()["request_id"])
    assert job is not None and job.input["image_url"] == image
    h.store.close()


def test_the_largest_legitimate_bodies_are_within_the_limits() -> None:
    points = [{"x": 100 + i, "y": 200} for i in range(77)]
    masks = [{"mask_url": "https://example.com/m.png", "trajectories": points}] * 6
    brush = json.dumps({"prompt": "p" * 2500, "image_url": URI, "dynamic_masks": masks})
    assert parse(brush.encode(), 4096, wire.MAX_INPUT_KEYS)["dynamic_masks"] == masks
    parts = [{"partNumber": n, "etag": f'"{n:032x}"'} for n in range(1, 10_001)]
    assert parse(json.dumps({"parts": parts}).encode(), 65_536) == {"parts": parts}
