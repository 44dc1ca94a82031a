"""LoRAs from local ``.safetensors`` files on every family's tiny model, in this process: a
random LoRA on the attention layers changes the video and is named in the log, scale 0 is
no LoRA, requests switch LoRAs without reloading the base model, and a file that does not
fit, or lies outside the configured folders, is refused naming it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diffusion_fixtures import FAMILIES, FAST, RecordingContext, make_lora, video_request

from vidserve.engines.base import LoraWeight, VideoRequest
from vidserve.engines.diffusers import runtime
from vidserve.engines.diffusers.cogvideox import CogVideoXImageToVideoEngine
from vidserve.engines.diffusers.ltx import LTXImageToVideoEngine
from vidserve.engines.diffusers.wan import WanImageToVideoEngine
from vidserve.errors import ConfigError, EngineError
from vidserve.media.video import read_frames

ENGINES: dict[str, Any] = {
    "wan": WanImageToVideoEngine,
    "ltx": LTXImageToVideoEngine,
    "cogvideox": CogVideoXImageToVideoEngine,
}
#: One generation for each tiny model (CogVideoX 1.0's table holds 9 frames).
SHORT = 4.0


def request(*loras: dict[str, Any]) -> VideoRequest:
    """A request picking ``loras`` (``{"name" | "path", "scale"}``), as the API makes one."""
    picked = tuple(LoraWeight(**lora) for lora in loras)
    return dataclasses.replace(video_request(duration=SHORT), loras=picked)


@pytest.fixture(scope="module")
def loras(tiny: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{family}-{a,b}``: two random LoRAs per family, in one folder per family."""
    made = {}
    for family in FAMILIES:
        folder = tmp_path_factory.mktemp(f"loras-{family}")
        for name, seed in (("a", 1), ("b", 2)):
            made[f"{family}-{name}"] = make_lora(tiny[family], folder / f"{name}.safetensors", seed)
    return made


def frames(made: Any, req: VideoRequest, workdir: Path) -> tuple[list[np.ndarray], list[str]]:
    workdir.mkdir()
    ctx = RecordingContext(workdir)
    return read_frames(made.generate(req, ctx).path), ctx.logs


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all((x == y).all() for x, y in zip(a, b, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_loras_change_the_video_switch_per_request_and_load_the_model_once(
    tiny: dict[str, Path],
    loras: dict[str, Path],
    family: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loads: list[Any] = []
    real_load = runtime.load_pipeline

    def counting_load(*args: Any, **kwargs: Any) -> Any:
        loads.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(runtime, "load_pipeline", counting_load)
    a, b = loras[f"{family}-a"], loras[f"{family}-b"]
    configured = [{"name": "style", "path": str(a), "scale": 1.0}]
    made = ENGINES[family](tiny[family], **FAST, loras=configured, lora_dirs=[str(b.parent)])
    plain, _ = frames(made, request(), tmp_path / "plain")
    styled, logs = frames(made, request({"name": "style"}), tmp_path / "a")
    zero, _ = frames(made, request({"name": "style", "scale": 0.0}), tmp_path / "zero")
    other, other_logs = frames(made, request({"path": str(b), "scale": 1.0}), tmp_path / "b")
    again, _ = frames(made, request({"name": "style"}), tmp_path / "a-again")
    plain_again, _ = frames(made, request(), tmp_path / "plain-again")
    assert not same(plain, styled)  # the LoRA changes the video
    assert same(plain, zero)  # scale 0 is no LoRA
    assert not same(styled, other) and not same(plain, other)  # each its own
    assert same(styled, again) and same(plain, plain_again)  # switching back is exact
    assert any(f"LoRAs style ({a.name}) x 1" in line for line in logs), logs
    assert any(f"({b.name}) x 1" in line for line in other_logs), other_logs
    assert len(loads) == 1  # the base model, once, for all six requests


def test_a_lora_for_another_model_is_refused_naming_the_file(
    tiny: dict[str, Path], loras: dict[str, Path], tmp_path: Path
) -> None:
    wrong = loras["wan-a"]  # Wan's block names are not LTX's
    made = LTXImageToVideoEngine(tiny["ltx"], **FAST, lora_dirs=[str(wrong.parent)])
    with pytest.raises(EngineError, match=f"LoRA {wrong} does not fit this model") as caught:
        made.generate(request({"path": str(wrong)}), RecordingContext(tmp_path))
    assert caught.value.error_type == "validation_error"
    # The engine goes on: the next request renders without it.
    frames(made, request(), tmp_path / "after")


def test_a_configured_lora_that_does_not_fit_fails_the_load_naming_it(
    tiny: dict[str, Path], loras: dict[str, Path]
) -> None:
    wrong = loras["wan-a"]
    made = LTXImageToVideoEngine(tiny["ltx"], **FAST, loras=[{"path": str(wrong)}])
    with pytest.raises(ConfigError, match=f"LoRA {wrong} does not fit this model"):
        made.load()


def test_request_paths_stay_inside_the_configured_folders(
    tiny: dict[str, Path], loras: dict[str, Path], tmp_path: Path
) -> None:
    allowed = loras["ltx-a"].parent
    made = LTXImageToVideoEngine(tiny["ltx"], **FAST, lora_dirs=[str(allowed)])
    for path in (str(loras["wan-a"]), f"{allowed}/../{loras['wan-a'].parent.name}/a.safetensors"):
        with pytest.raises(EngineError, match="is not inside the LoRA folders") as caught:
            made.plan(request({"path": path}))
        assert caught.value.error_type == "validation_error"
    with pytest.raises(EngineError, match="no LoRA is named 'nope'"):
        made.plan(request({"name": "nope"}))
    with pytest.raises(EngineError, match="does not exist"):
        made.plan(request({"path": str(allowed / "missing.safetensors")}))


def test_a_step_distilled_lora_sets_steps_guidance_and_its_trigger(
    tiny: dict[str, Path], loras: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    real = runtime.run_pipeline

    def spy(pipe: Any, reporter: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(pipe, reporter, **kwargs)

    monkeypatch.setattr(runtime, "run_pipeline", spy)
    distilled = {
        "name": "fast", "path": str(loras["ltx-a"]), "steps": 3, "guidance": 1.0,
        "trigger": "fastvid", "default": True,
    }  # fmt: skip
    made = LTXImageToVideoEngine(tiny["ltx"], **FAST, loras=[distilled])
    plan = made.plan(request())  # names none: the default LoRA applies
    assert (plan.steps, plan.guidance_scale, [c.spec.name for c in plan.loras]) == (
        3, 1.0, ["fast"],
    )  # fmt: skip
    off = made.plan(request({"name": "fast", "scale": 0}))
    assert (off.steps, off.guidance_scale, off.loras) == (2, 3.0, ())
    made.generate(request(), RecordingContext(tmp_path))
    assert seen[0]["prompt"] == "fastvid, a cat walks on the road"
    assert seen[0]["num_inference_steps"] == 3


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"path": "/nowhere/x.safetensors"}, "does not exist"),
        ({"path": "relative.safetensors"}, "must be absolute"),
        ({"path": "/etc/hostname"}, "is not a .safetensors file"),
        ({"name": "x"}, "needs a 'path'"),
        ({"path": "/x.safetensors", "scale": "high"}, "scale must be a float"),
        ({"path": "/x.safetensors", "strength": 1}, "unknown key 'strength'"),
    ],
)
def test_lora_configuration_mistakes_stop_the_start(
    tiny: dict[str, Path], entry: dict[str, Any], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        LTXImageToVideoEngine(tiny["ltx"], loras=[entry])


def test_a_file_without_lora_weights_is_refused_at_start(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "not-a-lora.safetensors"
    save_file({"weight": np.zeros((2, 2), np.float32)}, str(path))
    with pytest.raises(ConfigError, match="holds no LoRA weights"):
        LTXImageToVideoEngine(tiny["ltx"], loras=[{"path": str(path)}])


def test_the_engines_toml_lists_loras_as_tables_and_folders(
    tiny: dict[str, Path], loras: dict[str, Path], tmp_path: Path
) -> None:
    from vidserve.engines.config import read_engines_config
    from vidserve.worker.pool import close_engines, create_engines

    path = tmp_path / "engines.toml"
    path.write_text(
        f"""default = "ltx"
[engines.ltx]
weights = "{tiny["ltx"]}"
preload = false
lora_dirs = ["{loras["ltx-b"].parent}"]

[[engines.ltx.loras]]
name = "fast"
path = "{loras["ltx-a"]}"
scale = 0.8
trigger = "fastvid"
steps = 4
guidance = 1.0
default = true
"""
    )
    engines = create_engines(None, read_engines_config(path))
    try:
        engine: Any = next(e for e in engines.values() if e.name == "ltx").engine
        (spec,) = engine.loras.specs.values()
        assert (spec.name, spec.scale, spec.trigger, spec.steps, spec.default) == (
            "fast", 0.8, "fastvid", 4, True,
        )  # fmt: skip
        assert engine.loras.folders == [loras["ltx-b"].parent.resolve()]
    finally:
        close_engines(list(engines.values()))
