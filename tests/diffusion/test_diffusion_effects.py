"""Kling's effect scenes on the diffusion engines: each scene an engine's TOML names renders
as image-to-video with the scene's prompt and LoRA (frame for frame what that image-to-video
request makes), the two-photo scenes from the photos side by side; the scenes configured are
the ones the API accepts at submit, and every configuration mistake stops the start naming
the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diffusion_fixtures import FAMILIES, FAST, RecordingContext, image, make_lora, video_request

from vidserve.engines.base import Kind, LoraWeight, VideoRequest
from vidserve.engines.config import read_engines_config
from vidserve.engines.diffusers.cogvideox import CogVideoXImageToVideoEngine
from vidserve.engines.diffusers.effects import side_by_side
from vidserve.engines.diffusers.ltx import LTXImageToVideoEngine
from vidserve.engines.diffusers.runtime import cover_fit
from vidserve.engines.diffusers.wan import WanImageToVideoEngine
from vidserve.engines.registry import capabilities_of
from vidserve.errors import ConfigError, EngineError
from vidserve.media.video import probe, read_frames
from vidserve.serving import plan_routes
from vidserve.worker import Worker
from vidserve.worker.pool import close_engines, create_engines

from fakes import Harness
from helpers import data_uri, make_image

ENGINES: dict[str, Any] = {
    "wan": WanImageToVideoEngine,
    "ltx": LTXImageToVideoEngine,
    "cogvideox": CogVideoXImageToVideoEngine,
}
#: One generation for each tiny model (CogVideoX 1.0's table holds 9 frames).
SHORT = 4.0
PROMPT = "the subject is squished flat like soft clay"
EFFECTS_ENDPOINT = "fal-ai/kling-video/v1.6/standard/effects"


@pytest.fixture(scope="module")
def loras(tiny: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """family -> a random LoRA on its tiny transformer's attention layers."""
    folder = tmp_path_factory.mktemp("effect-loras")
    return {f: make_lora(tiny[f], folder / f"{f}-squish.safetensors", seed=3) for f in FAMILIES}


def effect_request(scene: str, *photos: np.ndarray[Any, Any]) -> VideoRequest:
    """An effects request as the adapter makes one: the photos as references, the first also
    the start image, no prompt."""
    return video_request(
        kind=Kind.EFFECTS,
        effect=scene,
        prompt="",
        reference_images=photos,
        start_image=photos[0],
        duration=SHORT,
    )


def rendered(made: Any, req: VideoRequest, workdir: Path) -> tuple[list[Any], list[str]]:
    workdir.mkdir()
    ctx = RecordingContext(workdir)
    return read_frames(made.generate(req, ctx).path), ctx.logs


def same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all((x == y).all() for x, y in zip(a, b, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_a_scene_renders_as_image_to_video_with_its_prompt_and_lora(
    tiny: dict[str, Path], loras: dict[str, Path], family: str, tmp_path: Path
) -> None:
    made = ENGINES[family](
        tiny[family],
        **FAST,
        loras=[{"name": "squish", "path": str(loras[family])}],
        effects={"squish": {"lora": "squish", "prompt": PROMPT}},
    )
    assert Kind.EFFECTS in made.capabilities.kinds
    assert made.capabilities.effects == {"squish"}
    photo = image(seed=5)
    effect, logs = rendered(made, effect_request("squish", photo), tmp_path / "effect")
    plain = video_request(start_image=photo, prompt=PROMPT, duration=SHORT)
    styled = dataclasses.replace(plain, loras=(LoraWeight(name="squish"),))
    by_hand, _ = rendered(made, styled, tmp_path / "by-hand")
    without, _ = rendered(made, plain, tmp_path / "without")
    assert same(effect, by_hand)  # the scene is its prompt and LoRA on the photo, exactly
    assert not same(effect, without)  # and the LoRA is what makes it
    assert any("effect 'squish' as image-to-video from one photo" in line for line in logs)
    assert any(f"LoRAs squish ({loras[family].name}) x 1" in line for line in logs), logs


@pytest.mark.slow
def test_a_two_photo_scene_starts_from_the_photos_side_by_side(
    tiny: dict[str, Path], loras: dict[str, Path], tmp_path: Path
) -> None:
    made = WanImageToVideoEngine(
        tiny["wan"], **FAST, effects={"hug": {"lora": str(loras["wan"]), "prompt": "they hug"}}
    )
    left, right = image(90, 160, seed=1), image(120, 120, seed=2)
    req = effect_request("hug", left, right)
    effect, logs = rendered(made, req, tmp_path / "effect")
    pair = side_by_side((left, right), req)
    by_hand = video_request(
        start_image=pair,
        prompt="they hug",
        duration=SHORT,
        loras=(LoraWeight(name=loras["wan"].stem),),
    )
    assert same(effect, rendered(made, by_hand, tmp_path / "by-hand")[0])
    assert any("from 2 photos side by side" in line for line in logs), logs


def test_side_by_side_fills_each_half_with_one_photo() -> None:
    left, right = image(90, 160, seed=1), image(300, 100, seed=2)
    req = video_request(width=321, height=180)
    pair = side_by_side((left, right), req)
    assert pair.shape == (180, 321, 3)
    assert (pair[:, :160] == cover_fit(left, 160, 180)).all()
    assert (pair[:, 160:] == cover_fit(right, 161, 180)).all()


def test_a_scene_not_configured_is_refused_naming_those_that_are(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    made = LTXImageToVideoEngine(tiny["ltx"], **FAST, effects={"squish": {"prompt": PROMPT}})
    with pytest.raises(EngineError, match="no effect scene 'hug' is configured") as caught:
        made.generate(effect_request("hug", image(), image(seed=1)), RecordingContext(tmp_path))
    assert caught.value.error_type == "unsupported_input"
    assert "it renders: squish" in str(caught.value)


def test_a_lora_file_named_by_a_scene_joins_the_engines_loras(
    tiny: dict[str, Path], loras: dict[str, Path]
) -> None:
    path = loras["ltx"]
    made = LTXImageToVideoEngine(
        tiny["ltx"], **FAST, effects={"squish": {"lora": str(path), "prompt": PROMPT}}
    )
    assert made.loras.specs[path.stem].path == path
    assert made.effects.specs["squish"].lora == path.stem
    # Named in the list too: the same LoRA, by its configured name.
    listed = LTXImageToVideoEngine(
        tiny["ltx"],
        loras=[{"name": "sq", "path": str(path)}],
        effects={"squish": {"lora": str(path), "prompt": PROMPT}},
    )
    assert list(listed.loras.specs) == ["sq"] and listed.effects.specs["squish"].lora == "sq"


@pytest.mark.parametrize(
    ("effects", "error"),
    [
        ({"squish": {"lora": "nope", "prompt": PROMPT}}, "lora 'nope' is neither a LoRA"),
        ({"squish": {"lora": "/nowhere/x.safetensors", "prompt": PROMPT}}, "does not exist"),
        ({"squish": {}}, "give the prompt the scene renders with"),
        ({"squish": {"prompt": PROMPT, "strength": 2}}, "unknown key 'strength'"),
        ({"squish": {"prompt": PROMPT, "scale": "max"}}, "scale must be a float"),
        ({"squish": "squished"}, "effects.squish must be a table"),
        ("squish", "effects must be a table of scenes"),
    ],
)
def test_effect_configuration_mistakes_stop_the_start(
    tiny: dict[str, Path], effects: Any, error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        LTXImageToVideoEngine(tiny["ltx"], effects=effects)


def test_a_text_only_folder_cannot_take_effects(tiny_text: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="Wan 2.1 T2V makes no image-to-video"):
        WanImageToVideoEngine(tiny_text["wan"], effects={"squish": {"prompt": PROMPT}})


def test_the_api_plans_effects_from_the_configured_scenes(
    tiny: dict[str, Path], loras: dict[str, Path], tmp_path: Path
) -> None:
    assert capabilities_of("wan", {}).effects == frozenset()  # type: ignore[union-attr]
    caps = capabilities_of("wan", {"effects": {"squish": {}, "hug": {}}})
    assert caps is not None and Kind.EFFECTS in caps.kinds and caps.effects == {"squish", "hug"}

    def routes_of(text: str) -> Any:
        path = tmp_path / "engines.toml"
        path.write_text(text)
        return plan_routes(read_engines_config(path))

    table = f'[engines.wan]\nweights = "{tiny["wan"]}"\n'
    # Without scenes the effects endpoints stay on the motion engine ...
    assert routes_of(f'default = "wan"\n{table}')[EFFECTS_ENDPOINT].engine == "motion"
    # ... with them they go to the engine, which renders those scenes only.
    scene = '[engines.wan.effects.squish]\nprompt = "squished"\n'
    route = routes_of(f'default = "wan"\n{table}{scene}')[EFFECTS_ENDPOINT]
    assert route.engine == "wan" and route.capabilities.effects == {"squish"}
    with pytest.raises(ConfigError, match="'squishy' is not a Kling effect scene"):
        routes_of(f'{table}[engines.wan.effects.squishy]\nprompt = "x"\n')
    mapped = f'[endpoints]\n"{EFFECTS_ENDPOINT}" = "wan"\n{table}'
    with pytest.raises(ConfigError, match=r"give 'wan' effect scenes: a table"):
        routes_of(mapped)
    # A scene's LoRA file is found relative to the TOML, as weights are.
    relative = f'{table}[engines.wan.effects.squish]\nlora = "loras/x.safetensors"\nprompt = "x"\n'
    (tmp_path / "engines.toml").write_text(relative)
    options = read_engines_config(tmp_path / "engines.toml").engines["wan"].options
    assert options["effects"]["squish"]["lora"] == str(tmp_path / "loras/x.safetensors")


@pytest.mark.slow
def test_an_effects_endpoint_served_by_wan_end_to_end(
    tiny: dict[str, Path], loras: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Submit (an unconfigured scene refused with a 422 naming the field), a worker with the
    engines the TOML makes (Wan in its child process, as served), and the MP4 of the planned
    size and length."""
    config = tmp_path / "engines.toml"
    fast = "\n".join(f"{key} = {value}" for key, value in FAST.items())
    config.write_text(
        f'default = "wan"\n[engines.wan]\nweights = "{tiny["wan"]}"\n{fast}\n'
        f'[engines.wan.effects.squish]\nlora = "{loras["wan"]}"\nprompt = "{PROMPT}"\n'
    )
    monkeypatch.setenv("VIDSERVE_ENGINES_CONFIG", str(config))
    photo = data_uri(make_image(640, 360, seed=1))
    harness = Harness(tmp_path / "data")
    engines = create_engines(None, read_engines_config(config))
    try:
        with harness.client as client:
            models = {m["endpoint_id"]: m for m in client.get("/models").json()}
            listed = models[EFFECTS_ENDPOINT]
            assert (listed["engine"], listed["effect_scenes"]) == ("wan", ["squish"])
            refused = client.post(
                f"/queue/{EFFECTS_ENDPOINT}",
                json={"effect_scene": "bloombloom", "input_image_urls": [photo]},
            )
            assert refused.status_code == 422, refused.text
            detail = refused.json()["detail"][0]
            assert detail["loc"] == ["body", "effect_scene"]
            assert "cannot render the effect 'bloombloom'; it renders: squish" in detail["msg"]
            job = client.post(
                f"/queue/{EFFECTS_ENDPOINT}",
                json={"effect_scene": "squish", "input_image_urls": [photo]},
            ).json()
            worker = Worker(harness.store, harness.storage, harness.settings, engines)
            assert worker.drain() == 1
            state = client.get(job["status_url"], params={"logs": 1}).json()
            assert (state["status"], state.get("error")) == ("COMPLETED", None)
            messages = [line["message"] for line in state["logs"]]
            assert any("effect 'squish'" in m for m in messages), messages
            video = client.get(job["response_url"]).json()["video"]
            path = tmp_path / "effect.mp4"
            path.write_bytes(client.get(video["url"]).content)
    finally:
        close_engines(list(engines.values()))
        harness.store.close()
    info = probe(path)
    # 16:9 within FAST's 64x32 box; 5 s at 2 fps in Wan's 4k+1 frames: 13.
    assert (info.width, info.height, info.num_frames) == (64, 32, 13)
