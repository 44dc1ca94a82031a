"""Fetching input files: data URIs, http(s) URLs, and this server's own files.

The size cap is enforced while streaming, so a huge body is never held in memory; the whole
fetch has one deadline.
"""

from __future__ import annotations

import base64
import binascii
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from vidserve.errors import FileFetchError, FileTooLargeError, NotFoundError

Loc = tuple[str | int, ...]
#: Reads one of this server's own files by URL; None when the URL is not ours.
LocalReader = Callable[[str, int], bytes | None]


@dataclass(frozen=True)
class FetchLimits:
    """How long a fetch may take and how large the file may be."""

    timeout: float = 20.0
    max_bytes: int = 10 * 1024 * 1024
    #: Hosts and CIDRs that may be fetched although internal (``VIDSERVE_ALLOW_HOSTS``).
    allow_hosts: tuple[str, ...] = ()


def fetch(url: str, loc: Loc, limits: FetchLimits, read_local: LocalReader | None = None) -> bytes:
    """The bytes behind ``url``; a :class:`FileFetchError` naming ``loc`` when that fails."""
    if url.startswith("data:"):
        return _decode_data_uri(url, loc, limits.max_bytes)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise FileFetchError.at(
            loc,
            f"unsupported URL scheme {scheme or '(none)'!r}; use http(s) or a data URI",
            "file_download_error",
        )
    if read_local is not None:
        try:
            data = read_local(url, limits.max_bytes)
        except NotFoundError:
            raise FileFetchError.at(
                loc, f"no such file on this server: {url}", "file_download_error"
            ) from None
        except FileTooLargeError:
            raise _too_large(loc, limits.max_bytes) from None
        if data is not None:
            return data
    return _download(url, loc, limits)


def _too_large(loc: Loc, max_bytes: int) -> FileFetchError:
    return FileFetchError.at(
        loc, f"file is larger than {max_bytes // (1024 * 1024)} MB", "file_too_large"
    )


def _decode_data_uri(uri: str, loc: Loc, max_bytes: int) -> bytes:
    header, sep, payload = uri[5:].partition(",")
    if not sep:
        raise FileFetchError.at(
            loc, "malformed data URI: no ',' after the header", "file_download_error"
        )
    # base64 grows data by 4/3; refuse before decoding what would be too large.
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise _too_large(loc, max_bytes)
    if header.endswith(";base64"):
        try:
            data = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            raise FileFetchError.at(
                loc, "malformed data URI: invalid base64", "file_download_error"
            ) from None
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    if len(data) > max_bytes:
        raise _too_large(loc, max_bytes)
    return data


def _download(url: str, loc: Loc, limits: FetchLimits) -> bytes:
    deadline = time.monotonic() + limits.timeout
    chunks: list[bytes] = []
    size = 0
    try:
        with (
            httpx.Client(timeout=limits.timeout, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise FileFetchError.at(
                    loc,
                    f"fetching {url} failed with HTTP {response.status_code}",
                    "file_download_error",
                )
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limits.max_bytes:
                    raise _too_large(loc, limits.max_bytes)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("deadline passed")
                chunks.append(chunk)
    except httpx.TimeoutException:
        raise FileFetchError.at(
            loc, f"fetching {url} took longer than {limits.timeout:g} s", "file_download_error"
        ) from None
    except httpx.HTTPError as exc:
        raise FileFetchError.at(
            loc, f"fetching {url} failed: {exc}", "file_download_error"
        ) from None
    return b"".join(chunks)
