# mypy: disallow-untyped-calls=False
# (diffusers' model and quantization classes are untyped.)
"""Transformers loaded another way than from the weights folder's own files: from a GGUF
file (``transformer_gguf``, ``transformer_2_gguf``: quantized tensors that stay quantized in
memory and are dequantized layer by layer as they run) or quantized weight-only while they
load (``quantize``: int8/fp8 through torchao, on a GPU or a CPU; nf4 through bitsandbytes,
GPU only).

Imported only when an engine loads (in its child process); the packages are optional and a
missing one is a ConfigError naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidserve.engines.diffusers.common import read_component_config
from vidserve.engines.diffusers.options import DiffusionOptions
from vidserve.errors import ConfigError


def transformer_overrides(path: Path, options: DiffusionOptions, dtype: Any) -> dict[str, Any]:
    """The transformer(s) loaded another way than from the folder's weights: from a GGUF
    file (``transformer_gguf``, ``transformer_2_gguf``) or quantized while loading
    (``quantize``); passed to ``from_pretrained`` by component name."""
    files = {"transformer": options.transformer_gguf, "transformer_2": options.transformer_2_gguf}
    made: dict[str, Any] = {}
    for name, file in files.items():
        if file:
            made[name] = load_gguf_transformer(path, name, Path(file).expanduser(), dtype)
    if options.quantize != "none":
        for name in ("transformer", "transformer_2"):
            if name not in made and (path / name / "config.json").is_file():
                made[name] = load_quantized_transformer(path, name, options.quantize, dtype)
    return made


def _model_class(path: Path, component: str) -> Any:
    import diffusers

    class_name = read_component_config(path, component).get("_class_name", "")
    model_class = getattr(diffusers, str(class_name), None)
    if model_class is None:
        raise ConfigError(f"weights folder {path}: {component} is an unknown {class_name!r}")
    return model_class


def load_gguf_transformer(path: Path, component: str, file: Path, dtype: Any) -> Any:
    """``component`` of the folder ``path`` with its weights from the GGUF ``file``
    (quantized tensors stay quantized in memory and are dequantized as each layer runs)."""
    import diffusers

    model_class = _model_class(path, component)
    if not hasattr(model_class, "from_single_file"):
        raise ConfigError(f"{model_class.__name__} cannot load a single file (GGUF) in diffusers")
    try:
        config = diffusers.GGUFQuantizationConfig(compute_dtype=dtype)
        return model_class.from_single_file(
            str(file),
            config=str(path),
            subfolder=component,
            quantization_config=config,
            torch_dtype=dtype,
            local_files_only=True,
        )
    except ImportError as exc:
        raise ConfigError(
            f"{component}_gguf needs the gguf package (pip install gguf): {exc}"
        ) from exc
    except Exception as exc:
        raise ConfigError(f"{component}_gguf {file} could not be loaded: {exc}") from exc


def load_quantized_transformer(path: Path, component: str, kind: str, dtype: Any) -> Any:
    """``component`` quantized weight-only while it loads: ``int8``/``fp8`` (torchao) or
    ``nf4`` (bitsandbytes, GPU only); the packages are optional."""
    import diffusers

    try:
        if kind == "nf4":
            config: Any = diffusers.BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype
            )
        else:
            import importlib

            # Optional, untyped.
            torchao: Any = importlib.import_module("torchao.quantization")
            quant_class = "Int8WeightOnlyConfig" if kind == "int8" else "Float8WeightOnlyConfig"
            config = diffusers.TorchAoConfig(getattr(torchao, quant_class)())
    except ImportError as exc:
        package = "bitsandbytes" if kind == "nf4" else "torchao"
        raise ConfigError(f"quantize = {kind!r} needs {package} (pip install {package})") from exc
    try:
        return _model_class(path, component).from_pretrained(
            str(path),
            subfolder=component,
            quantization_config=config,
            torch_dtype=dtype,
            local_files_only=True,
        )
    except Exception as exc:
        raise ConfigError(f"quantize = {kind!r}: {component} could not be loaded: {exc}") from exc
