"""``vidserve models`` and ``vidserve models ENDPOINT`` never print a literal ``None`` (or
``null``): a field without a default shows no default, a missing engine or price says so in
words. The models come from the catalog as ``GET /models`` gives them, over JSON."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from vidserve.api.meta import model_entry
from vidserve.cli import build_parser, remote
from vidserve.endpoints import ENDPOINTS
from vidserve.engines.config import default_config
from vidserve.serving import plan_routes

ROUTES = plan_routes(default_config())
NONE = re.compile(r"\b(None|null)\b")


def wire_models() -> list[dict[str, Any]]:
    """Every endpoint's ``/models`` entry, as it comes over the wire."""
    entries = [model_entry(spec, ROUTES[eid]) for eid, spec in ENDPOINTS.items()]
    loaded: list[dict[str, Any]] = json.loads(json.dumps(entries))
    return loaded


def listing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    models: list[dict[str, Any]],
    *flags: str,
) -> str:
    monkeypatch.setattr(remote, "_models", lambda client: models)
    args, extra = build_parser().parse_known_args(["models", *flags])
    assert remote.cmd_models(args, extra) == 0
    return capsys.readouterr().out


def test_the_whole_listing_prints_no_none(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = listing(monkeypatch, capsys, wire_models())
    assert out.count("\nfal-ai/") + 1 == len(ENDPOINTS)
    assert not NONE.findall(out), [line for line in out.splitlines() if NONE.search(line)]


@pytest.mark.parametrize("endpoint_id", list(ENDPOINTS))
def test_each_endpoint_in_full_prints_no_none(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], endpoint_id: str
) -> None:
    out = listing(monkeypatch, capsys, wire_models(), endpoint_id)
    assert out.startswith(endpoint_id + "  ")
    assert not NONE.findall(out), [line for line in out.splitlines() if NONE.search(line)]


def test_nones_from_a_server_are_shown_in_words_or_not_at_all(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server (another version, say) may send null where this one sends a value."""
    model = {
        "endpoint_id": "fal-ai/kling-video/v9/test",
        "kind": "image-to-video",
        "served": True,
        "engine": None,
        "price": {"per_second": None, "with_audio_per_second": None, "source": None},
        "output": {"summary": "720p, 24 fps, 5/10 s"},
        "input_schema": {
            "required": ["prompt"],
            "properties": {
                "prompt": {"type": "string"},
                "seed": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
                "mode": {"enum": ["fast", None], "default": None},
                "tail": {
                    "anyOf": [{"enum": ["a", "b"], "type": "string"}, {"type": "null"}],
                    "default": None,
                },
            },
        },
    }
    out = listing(monkeypatch, capsys, [model], "v9/test")
    assert out.splitlines() == [
        "fal-ai/kling-video/v9/test  image-to-video, 720p, 24 fps, 5/10 s, price not published",
        "    served by the configured engine",
        "    --prompt  string required",
        "    --seed  integer",
        "    --mode  any one of fast",
        "    --tail  string one of a, b",
    ]
