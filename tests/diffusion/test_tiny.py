"""``vidserve weights make-tiny``: a tiny random-weight model folder in the real diffusers
layout, with a tokenizer made in code, that the engines accept; and a whole ``vidserve
serve`` process rendering from one."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import httpx
import pytest
from diffusion_fixtures import FAST, V1, write_config

from vidserve.cli import weights
from vidserve.media.video import probe

from helpers import ServerProcess, data_uri, make_image

PIPELINES = {
    "wan": "WanImageToVideoPipeline",
    "ltx": "LTXConditionPipeline",
    "cogvideox": "CogVideoXImageToVideoPipeline",
}


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    weights.register(parser.add_subparsers(dest="command"))
    return weights.run(parser.parse_args(["weights", "make-tiny", *argv]))


@pytest.mark.parametrize("family", sorted(PIPELINES))
def test_make_tiny_writes_the_real_layout_and_says_it_makes_noise(
    tiny: dict[str, Path], family: str
) -> None:
    folder = tiny[family]
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == PIPELINES[family]
    for name in ("transformer", "vae", "text_encoder"):
        assert (folder / name / "config.json").is_file()
        assert any(p.suffix == ".safetensors" for p in (folder / name).iterdir())
    assert (folder / "tokenizer" / "tokenizer.json").is_file()
    assert (folder / "scheduler" / "scheduler_config.json").is_file()
    assert "its videos are noise" in (folder / "README.md").read_text()


def test_the_tokenizer_made_in_code_reloads_offline(tiny: dict[str, Path]) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny["ltx"] / "tokenizer", local_files_only=True)
    ids = tokenizer("a cat walks on the road")["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in ids


def test_make_tiny_refuses_a_folder_in_use_and_unknown_variants(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(str(tiny["wan"]), "--family", "wan") == 2
    assert "is not empty" in capsys.readouterr().err
    assert cli(str(tmp_path / "x"), "--family", "ltx", "--variant", "2.0") == 2
    assert "unknown ltx i2v variant '2.0'; one of 0.9" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(str(tmp_path / "y"), "--family", "hunyuan")


def test_make_tiny_tasks_name_the_pipeline_a_real_folder_of_that_task_names(
    tiny_text: dict[str, Path],
) -> None:
    classes = {
        name: json.loads((folder / "model_index.json").read_text())["_class_name"]
        for name, folder in tiny_text.items()
    }
    assert classes == {
        "wan": "WanPipeline",
        "wan-5b": "WanPipeline",  # as Wan-AI/Wan2.2-TI2V-5B-Diffusers: text, and images too
        "vace": "WanVACEPipeline",
        "ltx": "LTXPipeline",
        "cogvideox": "CogVideoXPipeline",
    }
    vace = json.loads((tiny_text["vace"] / "transformer" / "config.json").read_text())
    assert vace["_class_name"] == "WanVACETransformer3DModel"


def test_make_tiny_refuses_a_task_the_family_lacks_and_hints_at_the_right_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(str(tmp_path / "x"), "--family", "ltx", "--task", "vace") == 2
    assert "ltx has no 'vace' task; one of i2v, t2v" in capsys.readouterr().err
    assert cli(str(tmp_path / "y"), "--family", "wan", "--variant", "2.1-t2v") == 2
    assert "(it is a t2v variant: add --task t2v)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.slow
def test_vidserve_serve_renders_from_a_tiny_folder_named_in_the_environment(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "engines.toml", {"ltx": {"weights": tiny["ltx"], **FAST}}, default="ltx"
    )
    server = ServerProcess(
        tmp_path / "data", env={"VIDSERVE_ENGINES_CONFIG": str(config)}
    ).start(timeout=60)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            body = {"prompt": "a cat walks", "image_url": data_uri(make_image(640, 360))}
            job = client.post(f"/queue/{V1}", json=body).json()
            deadline = time.monotonic() + 120
            while client.get(job["status_url"]).json()["status"] != "COMPLETED":
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.2)
            result = client.get(job["response_url"])
            assert result.status_code == 200, result.text
            path = tmp_path / "out.mp4"
            path.write_bytes(client.get(result.json()["video"]["url"]).content)
        info = probe(path)
        assert (info.width, info.height, info.num_frames, info.fps) == (64, 32, 13, 2.0)
        assert "runs in a child process" in server.log()
    finally:
        server.stop()
