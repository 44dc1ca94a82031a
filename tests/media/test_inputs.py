"""Fetching and decoding input files."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from vidserve.endpoints.files import Loc
from vidserve.endpoints.rules import image_size_errors, mask_errors
from vidserve.errors import FileFetchError, InputError
from vidserve.media.fetch import FetchLimits, fetch
from vidserve.media.images import decode_image, decode_mask

from helpers import RecordingHandler, RecordingServer, data_uri, make_image, make_mask

LOC = ("body", "image_url")
#: The test servers live on loopback, which vidserve refuses unless the operator allows it.
LOCAL = FetchLimits(allow_hosts=("127.0.0.1",))


def test_base64_and_plain_data_uris_decode() -> None:
    png = make_image(64, 48)
    assert fetch(data_uri(png), LOC, FetchLimits()) == png
    assert fetch(data_uri(png, "IMAGE/PNG"), LOC, FetchLimits()) == png
    assert fetch("data:application/octet-stream,ab%20c", LOC, FetchLimits()) == b"ab c"


@pytest.mark.parametrize(
    ("uri", "typed"),
    [
        ("data:text/html,<script>alert(1)</script>", "text/html"),
        ("data:text/html;base64,PGI+aGk8L2I+", "text/html"),
        ("data:text/plain,hello", "text/plain"),
        ("data:;base64,aGk=", "text/plain"),  # RFC 2397: no type means text/plain
        ("data:application/json,{}", "application/json"),
    ],
)
def test_data_uris_must_be_typed_as_images(uri: str, typed: str) -> None:
    with pytest.raises(FileFetchError) as err:
        fetch(uri, LOC, FetchLimits())
    (detail,) = err.value.details
    assert detail["loc"] == list(LOC) and detail["type"] == "file_download_error"
    assert f"typed {typed!r}" in detail["msg"] and "image/*" in detail["msg"]


def test_data_uri_over_the_cap_is_refused_before_decoding() -> None:
    with pytest.raises(FileFetchError) as err:
        fetch(data_uri(b"x" * 5000), LOC, FetchLimits(max_bytes=1000))
    (detail,) = err.value.details
    assert detail["loc"] == list(LOC) and detail["type"] == "file_too_large"
    assert "limit for an input file" in detail["msg"]
    assert detail["ctx"] == {"max_size": 1000}


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "file:///etc/passwd", "nonsense"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(FileFetchError, match="unsupported URL scheme"):
        fetch(url, LOC, FetchLimits())


class _Handler(RecordingHandler):
    """``/img.png``; ``/big`` (200 kB, no length); ``/declared`` (says 50 MB);
    ``/to/<host:port/path>`` redirects there; ``/loop`` redirects to itself; ``/drip``
    sends a byte every 0.1 s; anything else is 404. Every request is recorded."""

    png = make_image(50, 50)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.seen.append(self.path)
        if self.path == "/img.png":
            self.answer(200, self.png, Content_Type="image/png")
        elif self.path == "/big":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 200_000)
        elif self.path == "/declared":
            self.send_response(200)
            self.send_header("Content-Length", str(50 * 1024 * 1024))
            self.end_headers()
        elif self.path.startswith("/to/"):
            self.answer(302, Location="http://" + self.path[4:])
        elif self.path == "/loop":
            self.answer(302, Location="/loop")
        elif self.path == "/drip":
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass  # the client gave up, as it should
        else:
            self.answer(404)


@pytest.fixture
def local() -> Iterator[RecordingServer]:
    server = RecordingServer(_Handler, "127.0.0.1")
    yield server
    server.close()


@pytest.fixture
def http_server(local: RecordingServer) -> str:
    return local.url


@pytest.fixture
def other() -> Iterator[RecordingServer]:
    """A second server on 127.0.0.2 (all of 127/8 is loopback on Linux)."""
    server = RecordingServer(_Handler, "127.0.0.2")
    yield server
    server.close()


def test_http_fetch_streams_with_a_cap_and_reports_status(http_server: str) -> None:
    assert fetch(f"{http_server}/img.png", LOC, LOCAL)[:4] == b"\x89PNG"
    with pytest.raises(FileFetchError, match="larger than"):
        fetch(f"{http_server}/big", LOC, FetchLimits(max_bytes=100_000, allow_hosts=("127.0.0.1",)))
    with pytest.raises(FileFetchError, match="HTTP 404"):
        fetch(f"{http_server}/missing", LOC, LOCAL)


def test_a_declared_length_over_the_cap_is_refused_before_reading(local: RecordingServer) -> None:
    with pytest.raises(FileFetchError) as err:
        fetch(f"{local.url}/declared", LOC, LOCAL)
    (detail,) = err.value.details
    assert detail["type"] == "file_too_large"
    assert detail["msg"] == "the file is 50 MB, over the 10 MB limit for an input file"


def test_internal_hosts_are_refused_without_a_request(local: RecordingServer) -> None:
    for url in (f"{local.url}/img.png", f"http://localhost:{local.url.rsplit(':', 1)[1]}/a"):
        with pytest.raises(FileFetchError) as err:
            fetch(url, LOC, FetchLimits())
        (detail,) = err.value.details
        assert detail["loc"] == list(LOC) and detail["type"] == "file_download_error"
        assert "loopback address 127.0.0.1, which vidserve does not fetch" in detail["msg"]
        assert "VIDSERVE_ALLOW_HOSTS" in detail["msg"]
    assert local.seen == []


def test_metadata_and_credentials_are_refused(local: RecordingServer) -> None:
    with pytest.raises(FileFetchError, match="cloud metadata address 169.254.169.254"):
        fetch("http://169.254.169.254/latest/meta-data/", LOC, FetchLimits())
    with pytest.raises(FileFetchError, match="carries credentials"):
        fetch(f"http://u:p@{local.address}/img.png", LOC, LOCAL)
    assert local.seen == []


def test_every_redirect_hop_is_checked(local: RecordingServer, other: RecordingServer) -> None:
    limits = FetchLimits(allow_hosts=("127.0.0.2",))
    assert fetch(f"{other.url}/to/{other.address}/img.png", LOC, limits)[:4] == b"\x89PNG"
    with pytest.raises(FileFetchError) as err:
        fetch(f"{other.url}/to/{local.address}/img.png", LOC, limits)
    msg = err.value.details[0]["msg"]
    assert f"(redirected to {local.url}/img.png) was refused" in msg
    assert "loopback address 127.0.0.1" in msg
    assert local.seen == []
    assert other.seen == ["/to/" + other.address + "/img.png", "/img.png"] + [
        "/to/" + local.address + "/img.png"
    ]


def test_redirects_stop_after_five(other: RecordingServer) -> None:
    with pytest.raises(FileFetchError, match="redirected more than 5 times"):
        fetch(f"{other.url}/loop", LOC, FetchLimits(allow_hosts=("127.0.0.2",)))
    assert other.seen == ["/loop"] * 6


def test_one_deadline_bounds_the_whole_fetch_while_streaming(local: RecordingServer) -> None:
    started = time.monotonic()
    with pytest.raises(FileFetchError, match="took longer than 0.5 s"):
        fetch(f"{local.url}/drip", LOC, FetchLimits(timeout=0.5, allow_hosts=("127.0.0.1",)))
    assert time.monotonic() - started < 1.5


def test_images_are_typed_by_content_not_name() -> None:
    jpeg = make_image(480, 320, fmt="JPEG")
    img = decode_image(jpeg, LOC)
    assert img.shape == (320, 480, 3) and img.dtype == np.uint8
    with pytest.raises(InputError, match="not a readable image"):
        decode_image(b"GIF89a-but-not-really", LOC)


def _encoded(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_gif_is_refused_with_the_formats_we_take() -> None:
    with pytest.raises(InputError, match="use JPEG, PNG or WebP"):
        decode_image(_encoded(Image.new("RGB", (400, 400)), "GIF"), LOC)


def checked_image(data: bytes, loc: Loc) -> npt.NDArray[np.uint8]:
    """Decode, then Kling's size rules (the endpoint's, once the worker has every file)."""
    image = decode_image(data, loc)
    errors = image_size_errors(image.shape[1], image.shape[0], loc)
    if errors:
        raise InputError(errors)
    return image


def check_masks(image: tuple[int, int], masks: dict[Loc, tuple[int, int]]) -> None:
    errors = mask_errors(image, masks)
    if errors:
        raise InputError(errors)


@pytest.mark.parametrize(("width", "height"), [(300, 300), (750, 300), (300, 750), (640, 360)])
def test_images_inside_klings_rules_pass(width: int, height: int) -> None:
    fmt = "WEBP" if width == 640 else "PNG"
    assert checked_image(make_image(width, height, fmt=fmt), LOC).shape == (height, width, 3)


def test_a_small_image_is_refused_naming_the_rule_and_the_numbers() -> None:
    with pytest.raises(InputError) as err:
        checked_image(make_image(250, 400), LOC)
    (detail,) = err.value.details
    assert detail == {
        "loc": list(LOC),
        "msg": "image is 250x400; Kling needs at least 300 px on each side",
        "type": "image_too_small",
        "ctx": {"min_width": 300, "min_height": 300},
    }


@pytest.mark.parametrize(("width", "height", "ratio"), [(1000, 300, "3.33"), (300, 800, "0.38")])
def test_an_extreme_aspect_ratio_is_refused(width: int, height: int, ratio: str) -> None:
    with pytest.raises(InputError) as err:
        checked_image(make_image(width, height), LOC)
    (detail,) = err.value.details
    assert detail["type"] == "image_aspect_ratio"
    assert detail["msg"] == (
        f"image is {width}x{height}, an aspect ratio (width/height) of {ratio}; "
        "Kling needs one from 0.4 (2:5) to 2.5 (5:2)"
    )


def test_every_broken_image_rule_is_reported() -> None:
    with pytest.raises(InputError) as err:
        checked_image(make_image(900, 200), ("body", "tail_image_url"))
    assert [d["type"] for d in err.value.details] == ["image_too_small", "image_aspect_ratio"]
    assert all(d["loc"] == ["body", "tail_image_url"] for d in err.value.details)


def test_the_orientation_tag_is_applied_before_the_rules() -> None:
    img = Image.new("RGB", (800, 400))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees: shown as 400x800
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert checked_image(buf.getvalue(), LOC).shape == (800, 400, 3)


def test_a_pixel_bomb_is_refused_before_decoding() -> None:
    # 72 Mpx of one-bit black compresses to a few kB.
    bomb = _encoded(Image.new("1", (9000, 8000)))
    assert len(bomb) < 100_000
    with pytest.raises(InputError) as err:
        decode_image(bomb, LOC)
    (detail,) = err.value.details
    assert detail["type"] == "image_too_large"
    assert detail["msg"] == "image has 9000x8000 pixels; the limit is 64,000,000"


def test_masks_decode_to_single_channel_from_luminance_or_alpha() -> None:
    mask = decode_mask(make_mask(40, 30, (10, 5, 20, 15)), LOC)
    assert mask.shape == (30, 40)
    assert mask[10, 15] == 255 and mask[0, 0] == 0
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[5:15, 10:20] = (255, 0, 0, 255)  # painted red where opaque; transparent elsewhere
    alpha_mask = decode_mask(_encoded(Image.fromarray(rgba)), LOC)
    assert alpha_mask[10, 15] == 255 and alpha_mask[0, 0] == 0


STATIC = ("body", "static_mask_url")


def dynamic(i: int) -> tuple[str | int, ...]:
    return ("body", "dynamic_masks", i, "mask_url")


def test_masks_at_the_image_aspect_and_one_resolution_pass() -> None:
    check_masks((1280, 720), {STATIC: (640, 360), dynamic(0): (640, 360)})
    check_masks((1280, 720), {dynamic(0): (641, 360)})  # 0.16 % off: a rounding, not a rule
    check_masks((1280, 720), {})


def test_a_mask_off_the_image_aspect_ratio_is_refused() -> None:
    with pytest.raises(InputError) as err:
        check_masks(
            (640, 360), {STATIC: (640, 360), dynamic(0): (640, 360), dynamic(1): (400, 400)}
        )
    assert [d["loc"] for d in err.value.details] == [list(dynamic(1))] * 2
    aspect, resolution = err.value.details
    assert aspect["type"] == "mask_aspect_ratio"
    assert aspect["msg"] == (
        "mask is 400x400 (aspect ratio 1.000) but the start image is 640x360 (1.778); "
        "Kling needs every mask at the start image's aspect ratio"
    )
    assert resolution["type"] == "mask_resolution"
    assert resolution["msg"] == (
        "mask is 400x400 but static_mask_url is 640x360; "
        "Kling needs the static mask and every dynamic mask at one resolution"
    )


def test_masks_at_different_resolutions_name_every_odd_one() -> None:
    masks = {
        STATIC: (320, 180),
        dynamic(0): (640, 360),
        dynamic(1): (640, 360),
        dynamic(2): (1280, 720),
    }
    with pytest.raises(InputError) as err:
        check_masks((1280, 720), masks)
    details = err.value.details
    assert [d["loc"] for d in details] == [list(STATIC), list(dynamic(2))]
    assert all(d["type"] == "mask_resolution" for d in details)
    assert "but dynamic_masks.0.mask_url is 640x360" in details[0]["msg"]
