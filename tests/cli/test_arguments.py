"""The CLI's flags as each catalog endpoint names its fields, and ``vidserve models``' listing,
without a server: the models come from the catalog as ``GET /models`` gives them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vidserve.api.meta import model_entry
from vidserve.cli import build_parser, remote
from vidserve.cli.remote import CliError, build_arguments, upload_local_files
from vidserve.endpoints import ENDPOINTS
from vidserve.engines.config import default_config
from vidserve.serving import plan_routes

ROUTES = plan_routes(default_config())


def entry(path: str) -> dict[str, Any]:
    """``/models``' entry of ``fal-ai/kling-video/<path>``, as it comes over the wire."""
    spec = ENDPOINTS[f"fal-ai/kling-video/{path}"]
    loaded: dict[str, Any] = json.loads(json.dumps(model_entry(spec, ROUTES[spec.endpoint_id])))
    return loaded


def arguments(path: str, *flags: str) -> dict[str, Any]:
    args, extra = build_parser().parse_known_args(["run", path, *flags])
    return build_arguments(entry(path), args, extra)


def test_image_goes_to_the_endpoints_own_field() -> None:
    assert arguments("v1/standard/image-to-video", "--image", "a.png") == {"image_url": "a.png"}
    assert arguments("v2.6/pro/image-to-video", "--image", "a.png", "--end-image", "b.png") == {
        "start_image_url": "a.png",
        "end_image_url": "b.png",
    }
    assert arguments("v1.6/pro/image-to-video", "--end-image", "b.png") == {
        "tail_image_url": "b.png"
    }


def test_image_lists_take_every_image_in_order() -> None:
    three = ["--image", "a.png", "--image", "b.png", "--image", "c.png"]
    assert arguments("v1.6/standard/elements", *three) == {
        "input_image_urls": ["a.png", "b.png", "c.png"]
    }
    assert arguments("v1.6/pro/effects", "--effect", "hug", "--image", "a", "--image", "b") == {
        "effect_scene": "hug",
        "input_image_urls": ["a", "b"],
    }
    # O3 reference-to-video: --image fills image_urls; the first frame is --start-image.
    assert arguments(
        "o3/standard/reference-to-video",
        *three[:4],
        "--start-image",
        "s.png",
        "--end-image",
        "e.png",
    ) == {"image_urls": ["a.png", "b.png"], "start_image_url": "s.png", "end_image_url": "e.png"}


def test_a_single_image_endpoint_refuses_several_and_names_itself() -> None:
    with pytest.raises(CliError, match=r"v1/standard/image-to-video takes one image \(image_url\)"):
        arguments("v1/standard/image-to-video", "--image", "a.png", "--image", "b.png")
    with pytest.raises(CliError, match="text-to-video takes no input image"):
        arguments("v1.6/standard/text-to-video", "--image", "a.png")
    with pytest.raises(CliError, match="reference-to-video takes no start image"):
        arguments("o1/standard/reference-to-video", "--start-image", "a.png")
    with pytest.raises(CliError, match="--image and --start-image both set start_image_url"):
        arguments("o1/standard/image-to-video", "--image", "a.png", "--start-image", "b.png")


def test_elements_are_a_frontal_image_then_references() -> None:
    uri = "data:image/png;base64,iVBORw0KGgo="
    got = arguments(
        "o1/standard/reference-to-video",
        "--element",
        "front.png,side.png,back.png",
        "--element",
        f"{uri},https://x.test/a.png",
    )
    assert got == {
        "elements": [
            {"frontal_image_url": "front.png", "reference_image_urls": ["side.png", "back.png"]},
            {"frontal_image_url": uri, "reference_image_urls": ["https://x.test/a.png"]},
        ]
    }
    assert arguments("v3/pro/image-to-video", "--element", "f.png")["elements"] == [
        {"frontal_image_url": "f.png"}
    ]
    with pytest.raises(CliError, match="takes no elements .*give its images with --image"):
        arguments("v1.6/pro/elements", "--element", "f.png")
    with pytest.raises(CliError, match="no empty image"):
        arguments("o1/reference-to-video", "--element", "f.png,")


def test_effect_needs_an_effects_endpoint() -> None:
    assert arguments("v1/standard/effects", "--effect", "squish")["effect_scene"] == "squish"
    with pytest.raises(CliError, match=r"image-to-video takes no effect \(--effect\)"):
        arguments("v1.6/standard/image-to-video", "--effect", "squish")


def test_storyboard_as_json_or_file_or_shots(tmp_path: Path) -> None:
    shots = [{"prompt": "wide", "duration": "2"}, {"prompt": "close", "duration": 3}]
    v3 = "v3/standard/image-to-video"
    assert arguments(v3, "--storyboard", json.dumps(shots))["multi_prompt"] == shots
    board = tmp_path / "board.json"
    board.write_text(json.dumps(shots))
    assert arguments(v3, "--storyboard", f"@{board}")["multi_prompt"] == shots
    # The text form: the last ":SECONDS" is the duration; without one, the default.
    assert arguments(
        "o3/pro/image-to-video",
        "--shot",
        "Scene 1: the road:2",
        "--shot",
        "stop : 4s",
        "--shot",
        "x",
    )["multi_prompt"] == [
        {"prompt": "Scene 1: the road", "duration": "2"},
        {"prompt": "stop", "duration": "4"},
        {"prompt": "x"},
    ]


def test_storyboard_mistakes_are_named() -> None:
    v3 = "v3/standard/image-to-video"
    with pytest.raises(CliError, match="takes no storyboard"):
        arguments("v1.6/pro/image-to-video", "--shot", "x:3")
    with pytest.raises(CliError, match="--storyboard must be a JSON list of shots"):
        arguments(v3, "--storyboard", '{"prompt": "x"}')
    with pytest.raises(CliError, match="--storyboard: not JSON"):
        arguments(v3, "--storyboard", "[{")
    with pytest.raises(CliError, match="--storyboard: cannot read 'nope.json'"):
        arguments(v3, "--storyboard", "@nope.json")
    with pytest.raises(SystemExit):
        build_parser().parse_known_args(["run", v3, "--storyboard", "[]", "--shot", "x"])


def test_local_files_in_lists_and_elements_are_uploaded(tmp_path: Path) -> None:
    class Uploads:
        def upload_file(self, path: str) -> str:
            return f"https://files.test/{Path(path).name}"

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    given = {
        "image_urls": [str(a), "https://x.test/keep.png"],
        "elements": [{"frontal_image_url": str(a), "reference_image_urls": [str(b)]}],
        "prompt": str(a),
    }
    assert upload_local_files(Uploads(), given) == {  # type: ignore[arg-type]
        "image_urls": ["https://files.test/a.png", "https://x.test/keep.png"],
        "elements": [
            {
                "frontal_image_url": "https://files.test/a.png",
                "reference_image_urls": ["https://files.test/b.png"],
            }
        ],
        "prompt": str(a),
    }


def test_endpoint_names_resolve_by_whole_segments_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    models = [entry(path.split("kling-video/")[1]) for path in ENDPOINTS]
    monkeypatch.setattr(remote, "_models", lambda client: models)
    resolve = remote.resolve_endpoint
    assert resolve(None, "v1.6/pro/effects")["kind"] == "effects"  # type: ignore[arg-type]
    # turbo/pro/image-to-video: v3's (whole segments), not also v2.5-turbo's.
    got = resolve(None, "turbo/pro/image-to-video")  # type: ignore[arg-type]
    assert got["endpoint_id"] == "fal-ai/kling-video/v3/turbo/pro/image-to-video"
    with pytest.raises(CliError) as ambiguous:
        resolve(None, "v1.6/pro")  # type: ignore[arg-type]
    assert str(ambiguous.value).splitlines() == [
        "'v1.6/pro' matches 4 endpoints; name one:",
        "  fal-ai/kling-video/v1.6/pro/image-to-video",
        "  fal-ai/kling-video/v1.6/pro/text-to-video",
        "  fal-ai/kling-video/v1.6/pro/elements",
        "  fal-ai/kling-video/v1.6/pro/effects",
    ]
    with pytest.raises(CliError, match="'v9' matches no endpoint here"):
        resolve(None, "v9")  # type: ignore[arg-type]


def models_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *flags: str
) -> str:
    models = [entry(path.split("kling-video/")[1]) for path in ENDPOINTS]
    monkeypatch.setattr(remote, "_models", lambda client: models)
    args, extra = build_parser().parse_known_args(["models", *flags])
    assert remote.cmd_models(args, extra) == 0
    return capsys.readouterr().out


def test_models_lists_kind_serving_and_price_with_no_none(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = models_output(monkeypatch, capsys)
    assert "None" not in out and "null" not in out
    lines = out.splitlines()
    assert sum(line.startswith("fal-ai/kling-video/") for line in lines) == len(ENDPOINTS)
    at = lines.index(
        "fal-ai/kling-video/v3/standard/image-to-video  image-to-video, 720p, 24 fps, 3-15 s, "
        "$0.084/s, $0.126/s with audio (second-hand)"
    )
    assert lines[at + 1] == "    served by the motion engine"
    at = lines.index(
        "fal-ai/kling-video/v1.6/standard/text-to-video  text-to-video, 720p, 24 fps, 5/10 s, "
        "price not published"
    )
    assert lines[at + 1] == (
        "    not served: makes text-to-video video, which the motion engine (this server's "
        "default) cannot; engines that can: cogvideox, ltx, wan"
    )
    assert "    --seed  integer" in lines  # no default shown where there is none
    assert '    --duration  string one of 5, 10 (default "5")' in lines
    assert (
        "    --effect-scene  string one of 198 (hug, kiss, heart_gesture, squish, expansion, ...)"
        " required  (or --effect)"
    ) in lines
    assert "    --multi-prompt  list of object  (or --storyboard or --shot)" in lines
    assert lines[-1] == "16 not served here; vidserve models ENDPOINT says how to serve one."


def test_models_of_one_endpoint_in_full(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    effects = models_output(monkeypatch, capsys, "v1.6/pro/effects").splitlines()
    assert effects[0].startswith("fal-ai/kling-video/v1.6/pro/effects  effects, 1080p")
    scenes = next(line for line in effects if line.startswith("    --effect-scene"))
    assert "bullet_time_360" in scenes and "..." not in scenes  # one endpoint: all 198
    t2v = models_output(monkeypatch, capsys, "o3/pro/text-to-video").splitlines()
    assert t2v[1].endswith(
        "Map the endpoint to one in the engines configuration (VIDSERVE_ENGINES_CONFIG)"
    )
    several = models_output(monkeypatch, capsys, "reference-to-video")
    assert several.count("\nfal-ai/") + 1 == 5
    assert "    --start-image-url  string  (or --start-image)" in several.splitlines()
