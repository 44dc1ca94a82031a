"""Quantized weights: a GGUF file of the tiny transformer, written here with the gguf
package's own writer (Q8_0 for the linear layers whose rows fit its 32-value blocks, as the
published GGUF conversions do), loads through diffusers' GGUF loader and renders; torchao's
int8 and fp8 weight-only quantization loads every family's transformer with its linear
weights stored in 8 bits and renders close to full precision; bitsandbytes' nf4, GPU only,
is refused on a CPU by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diffusion_fixtures import FAMILIES, FAST, RecordingContext, video_request

from vidserve.engines.diffusers.cogvideox import CogVideoXImageToVideoEngine
from vidserve.engines.diffusers.ltx import LTXImageToVideoEngine
from vidserve.engines.diffusers.wan import WanImageToVideoEngine
from vidserve.errors import ConfigError
from vidserve.media.video import read_frames

ENGINES: dict[str, Any] = {
    "wan": WanImageToVideoEngine,
    "ltx": LTXImageToVideoEngine,
    "cogvideox": CogVideoXImageToVideoEngine,
}
#: torchao's weight tensor subclass and its storage dtype for each ``quantize``.
TORCHAO = {"int8": ("Int8Tensor", "int8"), "fp8": ("Float8Tensor", "float8_e4m3fn")}


def write_gguf(folder: Path, path: Path) -> tuple[Path, int]:
    """The transformer of ``folder`` as a GGUF file; returns it and how many tensors are
    quantized."""
    import gguf
    from safetensors.numpy import load_file

    weights: dict[str, np.ndarray] = {}
    for part in sorted((folder / "transformer").glob("*.safetensors")):
        weights |= load_file(part)
    writer = gguf.GGUFWriter(str(path), arch="vidserve-test")
    quantized = 0
    for name, tensor in weights.items():
        array = tensor.astype(np.float32)
        if name.endswith(".weight") and array.ndim == 2 and array.shape[-1] % 32 == 0:
            q8 = gguf.GGMLQuantizationType.Q8_0
            data = gguf.quants.quantize(array, q8)
            writer.add_tensor(name, data, raw_shape=data.shape, raw_dtype=q8)
            quantized += 1
        else:
            writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path, quantized


@pytest.mark.parametrize("family", ["wan", "ltx"])  # CogVideoX has no single-file loader
def test_a_gguf_transformer_loads_quantized_and_renders(
    tiny: dict[str, Path], family: str, tmp_path: Path
) -> None:
    path, quantized = write_gguf(tiny[family], tmp_path / "transformer.gguf")
    assert quantized > 0
    # Wan 2.2 A14B has two experts: the same file serves both here.
    second = {"transformer_2_gguf": str(path)} if family == "wan" else {}
    made = ENGINES[family](tiny[family], **FAST, transformer_gguf=str(path), **second)
    made.load()
    kinds = {type(p).__name__ for p in made.pipeline.transformer.parameters()}
    assert "GGUFParameter" in kinds  # quantized in memory, dequantized as each layer runs
    workdir = tmp_path / "gguf"
    workdir.mkdir()
    rendered = made.generate(video_request(duration=4.0), RecordingContext(workdir))
    plain = ENGINES[family](tiny[family], **FAST)
    (tmp_path / "plain").mkdir()
    reference = plain.generate(video_request(duration=4.0), RecordingContext(tmp_path / "plain"))
    ours, theirs = read_frames(rendered.path), read_frames(reference.path)
    assert len(ours) == len(theirs) == 9
    # 8-bit weights: close to the full-precision model, not the same.
    assert any((a != b).any() for a, b in zip(ours, theirs, strict=True))


def render(made: Any, workdir: Path) -> list[np.ndarray]:
    workdir.mkdir()
    return read_frames(made.generate(video_request(duration=4.0), RecordingContext(workdir)).path)


def psnr(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    a, b = np.stack(ours).astype(np.float64), np.stack(theirs).astype(np.float64)
    return float(10 * np.log10(255.0**2 / max(((a - b) ** 2).mean(), 1e-12)))


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_torchao_int8_and_fp8_store_the_weights_in_8_bits_and_render_close_to_full(
    tiny: dict[str, Path], family: str, tmp_path: Path
) -> None:
    import torch

    full = render(ENGINES[family](tiny[family], **FAST), tmp_path / "full")
    for kind, (tensor, storage) in TORCHAO.items():
        made = ENGINES[family](tiny[family], **FAST, device="cpu", quantize=kind)
        frames = render(made, tmp_path / kind)
        linears = [
            m for m in made.pipeline.transformer.modules() if isinstance(m, torch.nn.Linear)
        ]
        quantized = [m.weight for m in linears if type(m.weight).__name__ == tensor]
        # Every linear layer but those too small for torchao's kernels.
        assert len(quantized) >= 0.8 * len(linears), (kind, len(quantized), len(linears))
        assert {str(w.qdata.dtype) for w in quantized} == {f"torch.{storage}"}
        assert len(frames) == len(full) == 9
        # 8-bit weights: a video of its own, near the full-precision one (measured: 32 to
        # 46 dB across the families; 8-bit noise through random weights).
        assert any((a != b).any() for a, b in zip(frames, full, strict=True))
        assert psnr(frames, full) > 28, (kind, psnr(frames, full))


def test_gguf_and_gpu_quantization_mistakes_stop_the_start(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="transformer_gguf = '/nowhere.gguf': no such file"):
        WanImageToVideoEngine(tiny["wan"], transformer_gguf="/nowhere.gguf")
    with pytest.raises(ConfigError, match="quantize = 'nf4' \\(bitsandbytes\\) needs a GPU"):
        WanImageToVideoEngine(tiny["wan"], device="cpu", quantize="nf4")
    with pytest.raises(ConfigError, match="quantize = 'int4'; one of none, int8, fp8, nf4"):
        WanImageToVideoEngine(tiny["wan"], quantize="int4")
    path, _ = write_gguf(tiny["ltx"], tmp_path / "t.gguf")
    with pytest.raises(ConfigError, match="cannot load a CogVideoX transformer from a single"):
        CogVideoXImageToVideoEngine(tiny["cogvideox"], transformer_gguf=str(path))
