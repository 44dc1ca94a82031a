"""Fetching input files: data URIs, http(s) URLs, and this server's own files.

http(s) fetches go through :mod:`vidserve.media.netguard`: each hop's host is resolved once,
every address is checked against the SSRF policy and the connection is pinned to a checked
address; redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each hop checked
again. The size cap is enforced while streaming, so a huge body is never held in memory, and
one deadline bounds the whole fetch, redirects included, down to each read.
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
from vidserve.media.netguard import BlockedHostError, HostPolicy, guarded_client

Loc = tuple[str | int, ...]
#: Reads one of this server's own files by URL; None when the URL is not ours.
LocalReader = Callable[[str, int], bytes | None]

#: Redirects followed per fetch; each hop is checked like the first.
MAX_REDIRECTS = 5
#: How refusals read: "... which vidserve does not fetch; ...".
ACTION = "fetch"
#: What a URL is cut to in messages (a signed URL can be very long).
_SHOWN_URL = 200


@dataclass(frozen=True)
class FetchLimits:
    """How long a fetch may take and how large the file may be."""

    timeout: float = 20.0
    max_bytes: int = 10 * 1024 * 1024
    #: Hosts and CIDRs that may be fetched although internal (``VIDSERVE_ALLOW_HOSTS``).
    allow_hosts: tuple[str, ...] = ()
    #: What a data URI may be typed (prefixes): the kind of file the field takes.
    media_types: tuple[str, ...] = ("image/",)


def fetch(url: str, loc: Loc, limits: FetchLimits, read_local: LocalReader | None = None) -> bytes:
    """The bytes behind ``url``; a :class:`FileFetchError` naming ``loc`` when that fails.

    A data URI must be typed ``image/*`` or ``application/octet-stream`` (what it holds is
    then judged by its content, as for any file). A URL of this server's own files is read
    through ``read_local``; any other http(s) URL is downloaded under the SSRF guard."""
    if url.startswith("data:"):
        return _decode_data_uri(url, loc, limits)
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
                loc, f"no such file on this server: {_shown(url)}", "file_download_error"
            ) from None
        except FileTooLargeError:
            raise _too_large(loc, limits.max_bytes) from None
        if data is not None:
            return data
    return _download(url, loc, limits)


def _shown(url: str) -> str:
    return url if len(url) <= _SHOWN_URL else url[:_SHOWN_URL] + "..."


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.3g} MB"


def _too_large(loc: Loc, max_bytes: int, size: int | None = None) -> FileFetchError:
    what = "the file is larger than" if size is None else f"the file is {_mb(size)}, over"
    return FileFetchError(
        [
            {
                "loc": list(loc),
                "msg": f"{what} the {_mb(max_bytes)} limit for an input file",
                "type": "file_too_large",
                "ctx": {"max_size": max_bytes},
            }
        ]
    )


def _download_error(loc: Loc, msg: str) -> FileFetchError:
    return FileFetchError.at(loc, msg, "file_download_error")


def _decode_data_uri(uri: str, loc: Loc, limits: FetchLimits) -> bytes:
    max_bytes = limits.max_bytes
    header, sep, payload = uri[5:].partition(",")
    if not sep:
        raise _download_error(loc, "malformed data URI: no ',' after the header")
    # RFC 2397: no media type means text/plain. Only the field's kind of media is taken: a
    # data URI typed text/html is somebody's page, not an input picture.
    media_type = header.split(";", 1)[0].strip().lower() or "text/plain"
    if not media_type.startswith((*limits.media_types, "application/octet-stream")):
        kinds = " or ".join(f"{t}*" for t in limits.media_types)
        raise _download_error(
            loc,
            f"the data URI is typed {media_type!r}; this input file must be {kinds} "
            "(or application/octet-stream)",
        )
    # base64 grows data by 4/3; refuse before decoding what would be too large.
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise _too_large(loc, max_bytes, len(payload) * 3 // 4)
    if header.lower().endswith(";base64"):
        try:
            data = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            raise _download_error(loc, "malformed data URI: invalid base64") from None
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    if len(data) > max_bytes:
        raise _too_large(loc, max_bytes, len(data))
    return data


def _download(url: str, loc: Loc, limits: FetchLimits) -> bytes:
    deadline = time.monotonic() + limits.timeout
    policy = HostPolicy.from_allow(limits.allow_hosts)
    try:
        with guarded_client(
            policy, action=ACTION, timeout=limits.timeout, deadline=deadline
        ) as client:
            return _follow(client, url, loc, limits, deadline)
    except httpx.TimeoutException:
        raise _download_error(
            loc, f"fetching {_shown(url)} took longer than {limits.timeout:g} s"
        ) from None
    except httpx.HTTPError as exc:
        raise _download_error(loc, f"fetching {_shown(url)} failed: {exc}") from None


def _follow(
    client: httpx.Client, url: str, loc: Loc, limits: FetchLimits, deadline: float
) -> bytes:
    # Images are compressed already; an encoded answer would only expand in memory.
    request = client.build_request("GET", url, headers={"Accept-Encoding": "identity"})
    for hop in range(MAX_REDIRECTS + 1):
        # Every hop goes through the guarded transport, which checks its URL and addresses.
        try:
            response = client.send(request, stream=True)
        except BlockedHostError as exc:
            where = f" (redirected to {_shown(str(request.url))})" if hop else ""
            raise _download_error(
                loc, f"fetching {_shown(url)}{where} was refused: {exc}"
            ) from None
        try:
            if response.next_request is None:
                return _read_body(response, url, loc, limits, deadline)
            request = response.next_request
        finally:
            response.close()
    raise _download_error(
        loc, f"fetching {_shown(url)} was redirected more than {MAX_REDIRECTS} times"
    )


def _read_body(
    response: httpx.Response, url: str, loc: Loc, limits: FetchLimits, deadline: float
) -> bytes:
    if not response.is_success:
        raise _download_error(
            loc, f"fetching {_shown(url)} failed with HTTP {response.status_code}"
        )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise _too_large(loc, limits.max_bytes, int(declared))
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limits.max_bytes:
            raise _too_large(loc, limits.max_bytes)
        # The transport bounds every read by the deadline; this catches a server that
        # keeps sending small chunks quickly until after it.
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the deadline passed")
        chunks.append(chunk)
    return b"".join(chunks)
