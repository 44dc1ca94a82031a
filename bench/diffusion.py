"""Benchmark the diffusion engines: seconds per denoising step and peak GPU memory, plain
diffusers against vidserve's settings (step cache, torch.compile, attention backend), in the
same run.

    .venv/bin/python bench/diffusion.py --device cuda     # full-size models, 480p and 720p
    .venv/bin/python bench/diffusion.py                   # CPU: the tiny make-tiny models

On a GPU each family's transformer is built from its published config with random weights,
directly on the device in bfloat16: the time of a step depends on the shapes, not on the
values. The text encoder, image encoder and VAE around it are small stand-ins with the
same interfaces (their cost is outside the denoising loop), and the pipelines return latents,
so the VAE never decodes. Each setting gets a fresh pipeline, a 2-step warm-up call (which
compiles, where compile is on) and a timed call; a step is the time between two
``callback_on_step_end`` calls, with the GPU synchronised. Prints a markdown table.

Besides the speed settings it compares the weights' forms: ``lora`` (a random rank-32 LoRA
on the attention projections, loaded and active as the engines load one), ``int8`` and
``fp8`` (torchao weight-only quantization of the transformer, as ``quantize = "int8"``
does) and ``gguf`` (the transformer written as a Q8_0 GGUF file and loaded back
through diffusers' GGUF loader, as ``transformer_gguf`` does).

``--full --layers 1`` runs the full-size interfaces with one transformer block, to check the
full-size path on a machine without a big GPU. ``--readme`` writes the table into
``bench/README.md`` (between its ``diffusion-results`` markers).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# bench/ holds scripts, not modules: as sys.path[0] its queue.py would shadow the standard
# library's (which torch and vidserve import).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from vidserve.engines.diffusers.common import offline_environment  # noqa: E402
from vidserve.engines.diffusers.options import DiffusionOptions  # noqa: E402

# Transformer configs as published in each model's transformer/config.json.
WAN_14B_I2V = {  # Wan-AI/Wan2.1-I2V-14B-480P-Diffusers (the 720P model has the same shape)
    "added_kv_proj_dim": 5120,
    "attention_head_dim": 128,
    "cross_attn_norm": True,
    "eps": 1e-06,
    "ffn_dim": 13824,
    "freq_dim": 256,
    "image_dim": 1280,
    "in_channels": 36,
    "num_attention_heads": 40,
    "num_layers": 40,
    "out_channels": 16,
    "patch_size": [1, 2, 2],
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 1024,
    "text_dim": 4096,
}
LTX_2B = {  # Lightricks/LTX-Video-0.9.5
    "activation_fn": "gelu-approximate",
    "attention_bias": True,
    "attention_head_dim": 64,
    "attention_out_bias": True,
    "caption_channels": 4096,
    "cross_attention_dim": 2048,
    "in_channels": 128,
    "norm_elementwise_affine": False,
    "norm_eps": 1e-06,
    "num_attention_heads": 32,
    "num_layers": 28,
    "out_channels": 128,
    "patch_size": 1,
    "patch_size_t": 1,
    "qk_norm": "rms_norm_across_heads",
}
COGVIDEOX_15_I2V = {  # THUDM/CogVideoX1.5-5B-I2V (1.0 renders 720x480 only)
    "activation_fn": "gelu-approximate",
    "attention_bias": True,
    "attention_head_dim": 64,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 32,
    "max_text_seq_length": 226,
    "norm_elementwise_affine": True,
    "norm_eps": 1e-05,
    "num_attention_heads": 48,
    "num_layers": 42,
    "ofs_embed_dim": 512,
    "out_channels": 16,
    "patch_bias": False,
    "patch_size": 2,
    "patch_size_t": 2,
    "sample_frames": 81,
    "sample_height": 300,
    "sample_width": 300,
    "spatial_interpolation_scale": 1.875,
    "temporal_compression_ratio": 4,
    "temporal_interpolation_scale": 1.0,
    "text_embed_dim": 4096,
    "time_embed_dim": 512,
    "timestep_activation_fn": "silu",
    "use_learned_positional_embeddings": False,
    "use_rotary_positional_embeddings": True,
}


@dataclass(frozen=True)
class Model:
    """One benchmarked model: its full-size transformer, frames and sizes per resolution."""

    family: str
    label: str
    transformer: dict[str, Any]
    frames: int
    sizes: dict[str, tuple[int, int]]
    guidance: float
    tiny_variant: str


MODELS = {
    "wan": Model(
        "wan", "Wan 2.1 I2V-14B", WAN_14B_I2V, 81,
        {"480p": (832, 480), "720p": (1280, 720)}, 5.0, "2.1-i2v",
    ),
    "ltx": Model(
        "ltx", "LTX-Video 0.9.5 (2B)", LTX_2B, 121,
        {"480p": (832, 480), "720p": (1280, 704)}, 3.0, "0.9",
    ),
    "cogvideox": Model(
        "cogvideox", "CogVideoX 1.5 5B I2V", COGVIDEOX_15_I2V, 81,
        {"480p": (848, 480), "720p": (1280, 720)}, 6.0, "1.5",
    ),
}  # fmt: skip
TINY_SIZES = {"tiny 64x32": (64, 32), "tiny 128x64": (128, 64)}


@dataclass(frozen=True)
class Result:
    """One timed call."""

    model: str
    size: str
    frames: int
    setting: str
    seconds_per_step: float
    peak_gib: float | None
    #: What the transformer's weights take in memory (all its tensors, as stored).
    weights_mib: float


def settings(device: str, attention: str | None) -> dict[str, DiffusionOptions]:
    """The compared settings: plain diffusers, each of vidserve's, and all of them; the
    weight forms (``lora``, ``int8``, ``fp8``, ``gguf``) run on plain diffusers' settings
    and are applied by :func:`apply_weights`."""
    compile_mode = "regional" if device.startswith("cuda") else "none"
    backend = attention or ("_native_cudnn" if device.startswith("cuda") else "native")
    cache = DiffusionOptions(cache="first_block")
    plain = DiffusionOptions()
    return {
        "diffusers": plain,
        "cache": cache,
        "compile": DiffusionOptions(compile=compile_mode),
        "attention": DiffusionOptions(attention_backend=backend),
        "vidserve": DiffusionOptions(
            cache="first_block", compile=compile_mode, attention_backend=backend
        ),
        **{form: plain for form in WEIGHT_FORMS},
    }


#: Settings that change the transformer's weights rather than how it runs.
WEIGHT_FORMS = ("lora", "int8", "fp8", "gguf")
#: The rank of the benchmark's LoRA (the LightX2V step-distillation LoRAs use 32 to 64).
LORA_RANK = 32


def check_settings(names: list[str], device: str) -> None:
    """Exit with a sentence before building anything when a setting cannot run here."""
    known = settings(device, None)
    for name in names:
        if name not in known:
            sys.exit(f"bench/diffusion.py: unknown setting {name!r}; one of {', '.join(known)}")
        package = {"int8": "torchao", "fp8": "torchao", "lora": "peft", "gguf": "gguf"}.get(name)
        if package and importlib.util.find_spec(package) is None:
            sys.exit(
                f"bench/diffusion.py: setting {name!r} needs {package} (pip install {package})"
            )


def apply_weights(pipe: Any, form: str, folder: Path, dtype: Any) -> Any:
    """``pipe`` with its transformer in the weight form ``form`` (see the module docstring).
    ``folder`` is scratch space for the GGUF file and its config."""
    if form == "lora":
        from peft import LoraConfig

        lora = LoraConfig(
            r=LORA_RANK,
            lora_alpha=LORA_RANK,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
            init_lora_weights=False,
        )
        pipe.transformer.add_adapter(lora, adapter_name="bench")
        pipe.transformer.set_adapters(["bench"], weights=[1.0])
    elif form in ("int8", "fp8"):
        import torchao.quantization as ao

        config = ao.Int8WeightOnlyConfig() if form == "int8" else ao.Float8WeightOnlyConfig()
        ao.quantize_(pipe.transformer, config)
    elif form == "gguf":
        pipe.transformer = gguf_copy(pipe.transformer, folder, dtype)
    return pipe


def gguf_copy(model: Any, folder: Path, dtype: Any) -> Any:
    """``model`` written as a GGUF file (Q8_0 for the linear weights whose rows fit its
    blocks, as published conversions do) and loaded back by the engines' GGUF loader."""
    import gguf
    import numpy as np

    from vidserve.engines.diffusers.quantized import load_gguf_transformer

    (folder / "transformer").mkdir(parents=True, exist_ok=True)
    model.save_config(folder / "transformer")
    path = folder / "transformer.gguf"
    writer = gguf.GGUFWriter(str(path), arch="vidserve-bench")
    for name, tensor in model.state_dict().items():
        array = tensor.detach().float().cpu().numpy()
        if name.endswith(".weight") and array.ndim == 2 and array.shape[-1] % 32 == 0:
            q8 = gguf.GGMLQuantizationType.Q8_0
            data = gguf.quants.quantize(array, q8)
            writer.add_tensor(name, data, raw_shape=data.shape, raw_dtype=q8)
        else:
            writer.add_tensor(name, np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return load_gguf_transformer(folder, "transformer", path, dtype)


# --- building pipelines -------------------------------------------------------------------


def on_device(factory: Callable[[], Any], device: str, dtype: Any) -> Any:
    """Build a module with its parameters created on ``device`` in ``dtype`` (a 14B model
    initialised in float32 on the CPU first would need 56 GB and minutes)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            return factory()
    finally:
        torch.set_default_dtype(previous)


def text_encoder(tokenizer: Any, width: int, umt5: bool = False) -> Any:
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    sizes: dict[str, Any] = {
        "vocab_size": len(tokenizer), "d_model": width, "d_kv": 64, "d_ff": 256,
        "num_layers": 1, "num_heads": 8, "dropout_rate": 0.0,
    }  # fmt: skip
    model = UMT5EncoderModel(UMT5Config(**sizes)) if umt5 else T5EncoderModel(T5Config(**sizes))
    return model.eval()


def full_pipeline(model: Model, layers: int | None, device: str, dtype: Any) -> Any:
    """The full-size transformer (random weights) with small stand-ins around it."""
    import diffusers
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel

    from vidserve.engines.diffusers.tiny import tiny_tokenizer

    config = dict(model.transformer)
    if layers:
        config["num_layers"] = layers
    tokenizer = tiny_tokenizer()
    if model.family == "wan":
        transformer = on_device(lambda: diffusers.WanTransformer3DModel(**config), device, dtype)
        clip = CLIPVisionConfig(
            hidden_size=1280, intermediate_size=512, num_hidden_layers=2,
            num_attention_heads=16, image_size=224, patch_size=14,
        )  # fmt: skip
        return diffusers.WanImageToVideoPipeline(
            tokenizer=tokenizer,
            text_encoder=text_encoder(tokenizer, 4096, umt5=True),
            vae=diffusers.AutoencoderKLWan(
                base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                temperal_downsample=[False, True, True],
            ),  # fmt: skip
            scheduler=diffusers.UniPCMultistepScheduler(
                prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
            ),
            image_processor=CLIPImageProcessorPil(crop_size=224, size=224),
            image_encoder=CLIPVisionModel(clip).eval(),
            transformer=transformer,
        )
    if model.family == "ltx":
        transformer = on_device(
            lambda: diffusers.LTXVideoTransformer3DModel(**config), device, dtype
        )
        yes, no = True, False
        vae = diffusers.AutoencoderKLLTXVideo(
            latent_channels=128, block_out_channels=(8, 8, 8, 8),
            decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
            decoder_layers_per_block=(1, 1, 1, 1, 1),
            spatio_temporal_scaling=(yes, yes, yes, no),
            decoder_spatio_temporal_scaling=(yes, yes, yes, no),
            decoder_inject_noise=(no, no, no, no, no), upsample_residual=(no, no, no, no),
            upsample_factor=(1, 1, 1, 1), timestep_conditioning=False, patch_size=4,
            patch_size_t=1,
        )  # fmt: skip
        return diffusers.LTXConditionPipeline(
            scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
            vae=vae,
            text_encoder=text_encoder(tokenizer, 4096),
            tokenizer=tokenizer,
            transformer=transformer,
        )
    transformer = on_device(
        lambda: diffusers.CogVideoXTransformer3DModel(**config), device, dtype
    )
    return diffusers.CogVideoXImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder(tokenizer, 4096),
        vae=diffusers.AutoencoderKLCogVideoX(
            block_out_channels=(8, 8, 8, 8), latent_channels=16, layers_per_block=1,
            norm_num_groups=2, temporal_compression_ratio=4,
        ),  # fmt: skip
        transformer=transformer,
        scheduler=diffusers.CogVideoXDDIMScheduler(),
    )


def tiny_pipeline(model: Model, folder: Path, dtype: Any) -> Any:
    """The make-tiny model of the family, loaded as diffusers loads any folder."""
    import diffusers

    classes = {
        "wan": diffusers.WanImageToVideoPipeline,
        "ltx": diffusers.LTXConditionPipeline,
        "cogvideox": diffusers.CogVideoXImageToVideoPipeline,
    }
    return classes[model.family].from_pretrained(str(folder), dtype=dtype, local_files_only=True)


# --- timing -------------------------------------------------------------------------------


def call(
    pipe: Any, model: Model, size: tuple[int, int], frames: int, steps: int, hook: Any
) -> None:
    """One pipeline call returning latents (no VAE decode)."""
    import torch
    from PIL import Image

    width, height = size
    picture = Image.new("RGB", (width, height), (120, 90, 60))
    common: dict[str, Any] = {
        "prompt": "a cat walks on the road",
        "negative_prompt": "blurry",
        "height": height,
        "width": width,
        "num_frames": frames,
        "num_inference_steps": steps,
        "guidance_scale": model.guidance,
        "generator": torch.Generator("cpu").manual_seed(0),
        "output_type": "latent",
        "callback_on_step_end": hook,
    }
    if model.family == "ltx":
        from diffusers.pipelines.ltx.pipeline_ltx_condition import (
            LTXVideoCondition,
            linear_quadratic_schedule,
        )

        schedule: Any = linear_quadratic_schedule
        pipe(
            conditions=[LTXVideoCondition(image=picture, frame_index=0)],
            timesteps=(schedule(steps) * 1000).tolist(),
            **common,
        )
    elif model.family == "cogvideox":
        max_text = pipe.transformer.config.max_text_seq_length
        pipe(image=picture, max_sequence_length=max_text, **common)
    else:
        pipe(image=picture, **common)


def measure(
    pipe: Any, model: Model, size: tuple[int, int], frames: int, steps: int, device: str
) -> tuple[float, float | None]:
    """Seconds per step (mean over the steps after the first) and peak GPU GiB."""
    import torch

    cuda = device.startswith("cuda")
    stamps: list[float] = []

    def hook(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        if cuda:
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        return {}

    call(pipe, model, size, frames, 2, hook)  # warm-up (and compilation)
    stamps.clear()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    call(pipe, model, size, frames, steps, hook)
    # A cache makes steps uneven (some skip the transformer's tail): the mean, not a median.
    per_step = statistics.fmean(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    return per_step, peak


def weight_bytes(model: Any) -> int:
    """Bytes of ``model``'s parameters and buffers as stored: a torchao tensor's int8/fp8
    data and scales, a GGUF parameter's quantized blocks, a LoRA's adapters."""
    total = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        flatten = getattr(type(tensor), "__tensor_flatten__", None)
        if flatten is None:
            total += tensor.nbytes
        else:
            names, _ = tensor.__tensor_flatten__()
            total += sum(getattr(tensor, name).nbytes for name in names)
    return total


def parse_size(model: Model, name: str) -> tuple[int, int]:
    """``480p`` / ``720p`` (the model's size for it) or ``WIDTHxHEIGHT``."""
    if name in model.sizes:
        return model.sizes[name]
    width, _, height = name.partition("x")
    return int(width), int(height)


def run(args: argparse.Namespace) -> list[Result]:
    """Every model x size x setting the arguments select."""
    import diffusers
    import torch
    import transformers

    from vidserve.engines.diffusers.runtime import accelerate
    from vidserve.engines.diffusers.tiny import make_tiny

    offline_environment()
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    device = args.device
    full = args.full or device.startswith("cuda")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    if device == "cpu":
        torch.set_num_threads(args.threads)
    chosen = settings(device, args.attention_backend)
    check_settings(args.settings.split(","), device)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="vidserve-bench-") as tmp:
        for family in args.families.split(","):
            model = MODELS[family]
            folder = Path(tmp) / family
            if not full:
                make_tiny(folder, family, model.tiny_variant)
            sizes = (
                {name: parse_size(model, name) for name in args.sizes.split(",")}
                if full
                else TINY_SIZES
            )
            frames = args.frames or (model.frames if full else 9)
            for size_name, size in sizes.items():
                for setting in args.settings.split(","):
                    if setting == "gguf" and family == "cogvideox":
                        # diffusers has no single-file loader for CogVideoX (nor do the engines).
                        print(f"  {family} {size_name} gguf: skipped (no GGUF loader)")
                        continue
                    pipe = (
                        full_pipeline(model, args.layers, device, dtype)
                        if full
                        else tiny_pipeline(model, folder, dtype)
                    )
                    pipe.set_progress_bar_config(disable=True)
                    if setting in WEIGHT_FORMS:
                        scratch = Path(tmp) / f"{family}-{size_name}-{setting}"
                        pipe = apply_weights(pipe, setting, scratch, dtype)
                    pipe.to(device)
                    accelerate(pipe, chosen[setting])
                    seconds, peak = measure(pipe, model, size, frames, args.steps, device)
                    stored = weight_bytes(pipe.transformer) / 2**20
                    label = model.label if full else f"tiny {family} ({model.tiny_variant})"
                    if full and args.layers:
                        label += f", {args.layers} layer(s)"
                    results.append(
                        Result(label, size_name, frames, setting, seconds, peak, stored)
                    )
                    print(f"  {label} {size_name} {setting}: {seconds:.3f} s/step", flush=True)
                    del pipe
                    if device.startswith("cuda"):
                        torch.cuda.empty_cache()
    return results


def table(results: list[Result]) -> str:
    """The results as a markdown table, each row against plain diffusers."""
    base = {(r.model, r.size): r.seconds_per_step for r in results if r.setting == "diffusers"}
    lines = [
        "| model | size | frames | setting | s/step | vs diffusers | transformer weights "
        "| peak GPU memory |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ref = base.get((r.model, r.size))
        speedup = f"{ref / r.seconds_per_step:.2f}x" if ref else "-"
        peak = f"{r.peak_gib:.1f} GiB" if r.peak_gib is not None else "-"
        lines.append(
            f"| {r.model} | {r.size} | {r.frames} | {r.setting} | "
            f"{r.seconds_per_step:.3f} | {speedup} | {r.weights_mib:.2f} MiB | {peak} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (tiny models) or cuda[:N]")
    parser.add_argument("--families", default="wan,ltx,cogvideox")
    parser.add_argument(
        "--settings",
        default="diffusers,vidserve,lora,gguf",
        help="comma list of diffusers, cache, compile, attention, vidserve (all three), "
        "lora, int8, fp8, gguf",
    )
    parser.add_argument(
        "--sizes", default="480p,720p", help="full-size runs: 480p, 720p or WIDTHxHEIGHT"
    )
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 8; 6 on CPU)")
    parser.add_argument("--frames", type=int, default=None, help="override the frame count")
    parser.add_argument(
        "--attention-backend",
        default=None,
        help="vidserve's attention backend (default: _native_cudnn on CUDA, native on CPU)",
    )
    parser.add_argument("--full", action="store_true", help="full-size configs on any device")
    parser.add_argument("--layers", type=int, default=None, help="truncate full configs")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (one is steadiest on 2 cores)"
    )
    parser.add_argument(
        "--readme", action="store_true", help="write the table into bench/README.md"
    )
    args = parser.parse_args()
    args.steps = args.steps or (8 if args.device.startswith("cuda") else 6)
    started = time.perf_counter()
    results = run(args)
    print()
    print(table(results))
    summary = f"{len(results)} runs in {time.perf_counter() - started:.0f} s on {args.device}"
    print(f"\n{summary}")
    if args.readme:
        write_readme(table(results), f"{summary} ({describe_machine(args.device)})")
    return 0


README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- diffusion-results:start -->", "<!-- diffusion-results:end -->"


def describe_machine(device: str) -> str:
    """The GPU's name, or "CPU", for the table's caption."""
    import torch

    if device.startswith("cuda"):
        return str(torch.cuda.get_device_name(torch.device(device)))
    return "CPU, tiny models: a smoke test, not a measure"


def write_readme(markdown: str, caption: str) -> None:
    """Replace what lies between the README's result markers with this run's table."""
    text = README.read_text()
    if START not in text or END not in text:
        sys.exit(f"bench/diffusion.py: {README} has no {START} ... {END} markers")
    block = f"{START}\n{caption}:\n\n{markdown}\n{END}"
    pattern = re.escape(START) + ".*?" + re.escape(END)
    README.write_text(re.sub(pattern, lambda _: block, text, flags=re.S))
    print(f"wrote the table into {README}")


if __name__ == "__main__":
    sys.exit(main())
