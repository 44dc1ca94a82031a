"""Fetching and decoding input files."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from vidserve.errors import FileFetchError, InputError
from vidserve.media.fetch import FetchLimits, fetch
from vidserve.media.images import decode_image, decode_mask

from helpers import data_uri, make_image, make_mask

LOC = ("body", "image_url")


def test_base64_and_plain_data_uris_decode() -> None:
    png = make_image(64, 48)
    assert fetch(data_uri(png), LOC, FetchLimits()) == png
    assert fetch("data:text/plain,hello%20world", LOC, FetchLimits()) == b"hello world"


def test_data_uri_over_the_cap_is_refused_before_decoding() -> None:
    with pytest.raises(FileFetchError) as err:
        fetch(data_uri(b"x" * 5000), LOC, FetchLimits(max_bytes=1000))
    assert err.value.details[0]["loc"] == list(LOC)
    assert "larger than" in err.value.details[0]["msg"]


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "file:///etc/passwd", "nonsense"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(FileFetchError, match="unsupported URL scheme"):
        fetch(url, LOC, FetchLimits())


@pytest.fixture
def http_server() -> Iterator[str]:
    png = make_image(50, 50)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/big":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"x" * 200_000)
            elif self.path == "/img.png":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(png)
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_fetch_streams_with_a_cap_and_reports_status(http_server: str) -> None:
    assert fetch(f"{http_server}/img.png", LOC, FetchLimits())[:4] == b"\x89PNG"
    with pytest.raises(FileFetchError, match="larger than"):
        fetch(f"{http_server}/big", LOC, FetchLimits(max_bytes=100_000))
    with pytest.raises(FileFetchError, match="HTTP 404"):
        fetch(f"{http_server}/missing", LOC, FetchLimits())


def test_images_are_typed_by_content_not_name() -> None:
    jpeg = make_image(80, 60, fmt="JPEG")
    img = decode_image(jpeg, LOC)
    assert img.shape == (60, 80, 3) and img.dtype == np.uint8
    with pytest.raises(InputError, match="not a readable image"):
        decode_image(b"GIF89a-but-not-really", LOC)


def test_gif_is_refused_with_the_formats_we_take() -> None:
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (10, 10)).save(buf, format="GIF")
    with pytest.raises(InputError, match="use JPEG, PNG or WebP"):
        decode_image(buf.getvalue(), LOC)


def test_masks_decode_to_single_channel_from_luminance_or_alpha() -> None:
    mask = decode_mask(make_mask(40, 30, (10, 5, 20, 15)), LOC)
    assert mask.shape == (30, 40)
    assert mask[10, 15] == 255 and mask[0, 0] == 0
    from io import BytesIO

    from PIL import Image

    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[5:15, 10:20] = (255, 0, 0, 255)  # painted red where opaque; transparent elsewhere
    buf = BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    alpha_mask = decode_mask(buf.getvalue(), LOC)
    assert alpha_mask[10, 15] == 255 and alpha_mask[0, 0] == 0
