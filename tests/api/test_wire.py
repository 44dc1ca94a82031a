"""Reading requests straight from the ASGI scope gives what Starlette's Request gives."""

from __future__ import annotations

from typing import Any

import pytest
from starlette._utils import get_route_path
from starlette.requests import Request

from vidserve.api.wire import base_url_of, query_param, route_path, scope_header


def scope(
    headers: list[tuple[bytes, bytes]],
    server: tuple[str, int] | None = ("10.0.0.5", 8000),
    scheme: str = "http",
    root_path: str = "",
    query: bytes = b"",
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "scheme": scheme,
        "server": server,
        "path": root_path + "/queue/a/b/requests/r/status",
        "root_path": root_path,
        "query_string": query,
        "headers": headers,
    }


@pytest.mark.parametrize(
    "case",
    [
        scope([(b"host", b"example.com:8443")]),
        scope([(b"host", b"[::1]:8000")]),
        scope([]),
        scope([], server=("api.internal", 80)),
        scope([], server=("api.internal", 443), scheme="https"),
        scope([], server=("api.internal", 80), scheme="https"),
        scope([(b"host", b"example.com")], scheme="https", root_path="/vidserve"),
        scope([(b"accept", b"*/*"), (b"host", b"first"), (b"host", b"second")]),
    ],
)
def test_base_url_and_route_path_match_starlettes(case: dict[str, Any]) -> None:
    assert base_url_of(case) == str(Request(case).base_url).rstrip("/")
    assert route_path(case) == get_route_path(case) == "/queue/a/b/requests/r/status"


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"logs=1",
        b"logs=",
        b"logs",
        b"a=1&logs=true&b=2",
        b"logs=0&logs=1",
        b"l%6Fgs=%31",
        b"x",
    ],
)
def test_query_param_matches_starlettes(query: bytes) -> None:
    case = scope([], query=query)
    assert query_param(case, "logs") == Request(case).query_params.get("logs")


def test_scope_header_is_the_first_of_its_name() -> None:
    case = scope([(b"authorization", b"Key a:b"), (b"authorization", b"Key c:d")])
    assert scope_header(case, b"authorization") == Request(case).headers.get("authorization")
    assert scope_header(case, b"x-missing") is None
