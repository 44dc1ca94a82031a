"""The engines configuration (TOML and environment) and what a worker does with it at start:
defaults unchanged, every mistake a ConfigError naming the file, key or path, a missing
weights folder failing start-up, and no network access or torch import on the way."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from diffusion_fixtures import O1, V1, write_config

from vidserve.endpoints import ENDPOINTS
from vidserve.engines.base import Kind
from vidserve.engines.config import load_engines_config, read_engines_config
from vidserve.engines.motion import MotionEngine
from vidserve.engines.registry import MOTION_CAPABILITIES
from vidserve.errors import ConfigError
from vidserve.worker.child import ChildEngine
from vidserve.worker.pool import close_engines, create_engines

from helpers import ServerProcess


def test_without_a_file_every_endpoint_gets_one_built_in_engine_in_process() -> None:
    engines = create_engines(None, load_engines_config({}))
    # The motion engine where it can make the kind (no text-to-video: it cannot draw from
    # words); speech and talking go to the built-in engines that make them.
    makeable = {e for e, spec in ENDPOINTS.items() if spec.kind in MOTION_CAPABILITIES.kinds}
    assert {e for e, engine in engines.items() if isinstance(engine, MotionEngine)} == makeable
    assert set(engines) == {e for e, s in ENDPOINTS.items() if s.kind is not Kind.TEXT_TO_VIDEO}
    assert sorted({engine.name for engine in engines.values()}) == ["motion", "speech", "talk"]
    assert len({id(e) for e in engines.values()}) == 3


def test_endpoints_map_to_tables_that_share_one_instance(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    path = write_config(
        tmp_path / "engines.toml",
        {"video": {"engine": "ltx", "weights": tiny["ltx"], "preload": False, "steps": 3}},
        endpoints={V1: "video", O1: "video"},
    )
    engines = create_engines(None, read_engines_config(path))
    try:
        assert engines[V1] is engines[O1]
        assert isinstance(engines[V1], ChildEngine)
        assert engines[V1].engine.options.steps == 3
        assert engines[V1].starts == 0  # preload = false
        others = {e.name for k, e in engines.items() if k not in (V1, O1)}
        assert others == {"motion", "speech", "talk"}  # the rest: the built-in engines
    finally:
        close_engines(list(engines.values()))


def test_weights_are_relative_to_the_file_and_isolate_can_be_turned_off(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "models").symlink_to(tiny["wan"].parent)
    path = write_config(
        tmp_path / "engines.toml",
        {"wan": {"weights": "models/wan", "isolate": False, "offload": "none"}},
        default="wan",
    )
    spec = read_engines_config(path).engine_for(V1)
    assert spec.weights == tmp_path / "models" / "wan"
    engine = create_engines([V1], read_engines_config(path))[V1]
    assert type(engine).__name__ == "WanImageToVideoEngine"  # in this process, not loaded
    assert engine.pipeline is None  # type: ignore[attr-defined]


def test_environment_variables_set_the_default_engine_and_the_device(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    path = write_config(tmp_path / "e.toml", {"fast": {"engine": "motion", "crf": 30}})
    config = load_engines_config(
        {
            "VIDSERVE_ENGINES_CONFIG": str(path),
            "VIDSERVE_ENGINE": "cogvideox",
            "VIDSERVE_ENGINE_WEIGHTS": str(tiny["cogvideox"]),
            "VIDSERVE_ENGINE_DEVICE": "cuda:1",
        }
    )
    spec = config.engine_for(V1)
    assert (spec.engine, spec.weights, spec.options) == (
        "cogvideox",
        tiny["cogvideox"],
        {"device": "cuda:1"},
    )
    assert config.engines["fast"].options == {"crf": 30}  # no weights, no device
    with pytest.raises(ConfigError, match="VIDSERVE_ENGINE_WEIGHTS is set without"):
        load_engines_config({"VIDSERVE_ENGINE_WEIGHTS": "/models/wan"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("default = [", "not valid TOML"),
        ('defualt = "wan"', "unknown key(s) defualt"),
        ('default = "nope"', "'default': unknown engine 'nope'; known engines: cogvideox, ltx"),
        ('default = "wan"', "'default' names 'wan', which needs a weights folder"),
        ("[engines.wan]\nsteps = 4", "engine 'wan' needs a weights folder"),
        ('[engines.x]\nengine = "motion"\nweights = "/m"', "engine 'motion' takes no weights"),
        ('[engines.x]\nengine = "motion"\nbogus = 1', "engine 'motion': MotionEngine.__init__"),
        ("[engines.x]\nengine = 3", "'engine' must be a string"),
        ('[engines.x]\nengine = "motion"\ncancel_timeout = 0', "'cancel_timeout' must be"),
        ('[endpoints]\n"fal-ai/nope" = "motion"', "unknown endpoint id(s) fal-ai/nope"),
        ('[engines.w]\nengine = "wan"\nweights = "/m"\nstepz = 2', "unknown option 'stepz'"),
        ('[engines.w]\nengine = "wan"\nweights = "/m"', "weights folder /m: does not exist"),
    ],
)
def test_configuration_mistakes_fail_with_a_sentence_naming_them(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "engines.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as caught:
        create_engines(None, read_engines_config(path))
    assert message in str(caught.value)


def test_a_missing_weights_folder_fails_with_its_path_and_the_layout_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    missing = tmp_path / "models" / "Wan2.2-I2V-A14B-Diffusers"
    for family, pipeline in [
        ("wan", "WanImageToVideoPipeline"),
        ("ltx", "LTXConditionPipeline"),
        ("cogvideox", "CogVideoXImageToVideoPipeline"),
    ]:
        path = write_config(tmp_path / "e.toml", {family: {"weights": missing}}, default=family)
        with pytest.raises(ConfigError) as caught:
            create_engines(None, read_engines_config(path))
        message = str(caught.value)
        assert message.startswith(f"weights folder {missing}: does not exist")
        assert f'model_index.json  {{"_class_name": "{pipeline}"' in message
    assert attempts == []


def test_the_worker_pool_imports_no_torch_for_a_diffusion_config(tmp_path: Path) -> None:
    # The check of a weights folder is JSON only: a worker fails fast, and the API process
    # (``serve`` runs workers beside it) never loads torch.
    path = write_config(tmp_path / "e.toml", {"ltx": {"weights": tmp_path / "x"}}, default="ltx")
    code = (
        "import sys\n"
        "from vidserve.worker.pool import create_engines\n"
        "from vidserve.errors import ConfigError\n"
        "create_engines()  # motion only: no torch\n"
        "assert 'torch' not in sys.modules\n"
        f"import os; os.environ['VIDSERVE_ENGINES_CONFIG'] = {str(path)!r}\n"
        "try:\n"
        "    create_engines()\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
        "print('torch' in sys.modules, 'diffusers' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.splitlines()[0] == f"weights folder {tmp_path / 'x'}: does not exist"
    assert out.splitlines()[-1] == "False False"


def test_serve_with_a_missing_weights_folder_fails_at_start_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    path = write_config(tmp_path / "e.toml", {"wan": {"weights": missing}}, default="wan")
    server = ServerProcess(
        tmp_path / "data",
        env={"VIDSERVE_ENGINES_CONFIG": str(path), "HF_HUB_OFFLINE": "", "HF_ENDPOINT": ""},
    )
    with pytest.raises(RuntimeError, match="exited early") as caught:
        server.start(timeout=60)
    assert server.proc is not None and server.proc.returncode == 2
    log = str(caught.value)
    assert f"vidserve: weights folder {missing}: does not exist" in log
    assert "expected a diffusers WanImageToVideoPipeline folder" in log
    assert "huggingface" not in log.lower()


def test_lora_paths_are_relative_to_the_file_as_weights_are(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "engines.toml"
    path.write_text(
        'default = "wan"\n'
        "[engines.wan]\n"
        'weights = "models/wan"\n'
        'lora_dirs = ["loras", "/srv/shared-loras"]\n'
        "[[engines.wan.loras]]\n"
        'name = "style"\n'
        'path = "loras/style.safetensors"\n'
        "[[engines.wan.loras]]\n"
        'name = "fast"\n'
        'path = "/srv/shared-loras/fast.safetensors"\n'
    )
    spec = read_engines_config(path).engines["wan"]
    assert spec.weights == folder / "models/wan"
    assert spec.options["lora_dirs"] == [str(folder / "loras"), "/srv/shared-loras"]
    assert [lora["path"] for lora in spec.options["loras"]] == [
        str(folder / "loras/style.safetensors"),
        "/srv/shared-loras/fast.safetensors",
    ]


def test_lora_paths_are_absolute_when_the_file_is_named_relatively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "engines.toml").write_text(
        '[engines.wan]\nweights = "wan"\nlora_dirs = ["loras"]\n'
        '[[engines.wan.loras]]\npath = "loras/style.safetensors"\n'
    )
    monkeypatch.chdir(tmp_path)
    options = read_engines_config(Path("engines.toml")).engines["wan"].options
    assert options["lora_dirs"] == [str(tmp_path / "loras")]
    assert options["loras"][0]["path"] == str(tmp_path / "loras/style.safetensors")
