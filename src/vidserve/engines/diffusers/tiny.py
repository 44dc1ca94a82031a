# mypy: disallow-untyped-calls=False
# (diffusers' and transformers' constructors are untyped.)
"""Tiny random-weight pipelines in the real on-disk layout, for tests and demos.

:func:`make_tiny` builds a Wan, LTX-Video or CogVideoX pipeline for one task (image-to-video,
text-to-video, or Wan VACE's references) from the small configs diffusers' own fast tests
use, with a T5 tokenizer built in code (no hub download), and saves it with
``save_pretrained``: ``model_index.json`` plus one folder per component, exactly as a real
model folder. The engines load it like any other weights folder, so the whole path
(configuration, loading, generation, encoding) runs on a CPU in seconds.

The weights are random: **the videos are noise**. Only shapes, frame counts and the plumbing
are meaningful.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidserve.engines.diffusers.common import offline_environment
from vidserve.engines.diffusers.options import FOLDER_DEFAULTS

#: What a folder is for: ``i2v`` image-to-video, ``t2v`` text-to-video, ``vace`` Wan VACE
#: (references, and start/end frames as a masked control video).
TASKS = ("i2v", "t2v", "vace")

#: Variants per family and task; the first is the default. They mirror the real
#: checkpoints' shapes: Wan 2.1 I2V (CLIP image encoder), Wan 2.1 FLF2V (CLIP over both
#: frames), Wan 2.2 A14B (two experts), Wan 2.2 TI2V-5B (first frame in the latent; its real
#: folder is a text-to-video one that also takes an image), Wan 2.1 T2V, Wan 2.1 VACE;
#: LTX-Video 0.9 (one folder for both tasks; the class named differs); CogVideoX 1.0 (the
#: image model learned positions for one fixed size) and 1.5 (rotary only: any size).
VARIANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "wan": {
        "i2v": ("2.2-a14b", "2.1-i2v", "2.1-flf2v", "2.2-ti2v-5b"),
        "t2v": ("2.1-t2v", "2.2-a14b", "2.2-ti2v-5b"),
        "vace": ("2.1-vace",),
    },
    "ltx": {"i2v": ("0.9",), "t2v": ("0.9",)},
    "cogvideox": {"i2v": ("1.0", "1.5"), "t2v": ("1.0", "1.5")},
}

# Enough pieces that any lowercase text tokenizes (letters are the fallback).
_WORDS = (
    "a an the of and in on to with at from is are cat dog car road street city woman man "
    "walks runs moves camera light snow tree flower water sky night day red blue green"
).split()
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
#: Hidden size of the tiny text encoders (the transformers' text_dim / caption_channels).
_TEXT_DIM = 32

#: What a tiny model renders by default (its ``vidserve.json``): frames small enough that a
#: request with no engine options finishes in seconds on a 2-core CPU, at most 128x128, at
#: 4 fps, in 2 steps. The engines read them as option defaults; the TOML's keys override.
SMOKE_DEFAULTS: dict[str, int] = {"steps": 2, "fps": 4, "max_area": 128 * 128}

NOISE_NOTE = (
    "# Tiny random-weight model (vidserve weights make-tiny)\n\n"
    "Family: {family}, task: {task}, variant: {variant}. Built from diffusers' test configs\n"
    "with random weights and a tokenizer made in code. It loads and runs like the real model,\n"
    "on a CPU, in seconds, but **its videos are noise**: use it to test configuration,\n"
    "loading, the API and encoding, never to judge quality.\n"
)


def make_tiny(
    directory: Path,
    family: str,
    variant: str | None = None,
    seed: int = 0,
    task: str = "i2v",
) -> Path:
    """Write a tiny ``family`` pipeline for ``task`` (``variant``, else the task's first) to
    ``directory``.

    The folder must not exist or be empty. Returns ``directory``.
    """
    if family not in VARIANTS:
        raise ValueError(f"unknown family {family!r}; one of {', '.join(VARIANTS)}")
    tasks = VARIANTS[family]
    if task not in tasks:
        raise ValueError(f"{family} has no {task!r} task; one of {', '.join(tasks)}")
    variant = variant or tasks[task][0]
    if variant not in tasks[task]:
        others = [t for t, names in tasks.items() if variant in names]
        hint = f" (it is a {' or '.join(others)} variant: add --task {others[0]})" if others else ""
        raise ValueError(
            f"unknown {family} {task} variant {variant!r}; one of {', '.join(tasks[task])}{hint}"
        )
    if directory.exists() and any(directory.iterdir()):
        raise ValueError(f"{directory} is not empty; make-tiny writes into a new folder")
    offline_environment()
    import diffusers
    import torch
    import transformers

    # A command-line tool: no shard-writing progress bars or library chatter.
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    torch.manual_seed(seed)
    builders: dict[str, Callable[[str, str], Any]] = {
        "wan": _wan,
        "ltx": _ltx,
        "cogvideox": _cogvideox,
    }
    pipe = builders[family](variant, task)
    directory.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(directory), safe_serialization=True)
    note = NOISE_NOTE.format(family=family, task=task, variant=variant)
    (directory / "README.md").write_text(note)
    write_smoke_defaults(directory, family, task, variant)
    return directory


def write_smoke_defaults(directory: Path, family: str, task: str, variant: str) -> None:
    """Mark the folder as a smoke-test model in ``vidserve.json``: the option defaults its
    tiny shapes need (see :func:`vidserve.engines.diffusers.options.folder_defaults`)."""
    import json

    data = {
        "smoke_test": True,
        "made_by": f"vidserve weights make-tiny --family {family} --task {task} "
        f"--variant {variant}",
        "defaults": SMOKE_DEFAULTS,
    }
    (directory / FOLDER_DEFAULTS).write_text(json.dumps(data, indent=2) + "\n")


def tiny_tokenizer() -> Any:
    """A small Unigram T5 tokenizer built in memory (``</s>`` = 1, ``<pad>`` = 0)."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(f"▁{word}", -1.0 - i * 0.01) for i, word in enumerate(_WORDS)]
    vocab += [(ch, -5.0) for ch in _LETTERS]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def _t5(tokenizer: Any, umt5: bool = False) -> Any:
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    sizes: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "d_model": _TEXT_DIM,
        "d_kv": 8,
        "d_ff": 37,
        "num_layers": 2,
        "num_heads": 4,
        "dropout_rate": 0.0,
    }
    if umt5:
        return UMT5EncoderModel(UMT5Config(**sizes)).eval()
    return T5EncoderModel(T5Config(**sizes)).eval()


def _wan(variant: str, task: str) -> Any:
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        UniPCMultistepScheduler,
        WanImageToVideoPipeline,
        WanPipeline,
        WanTransformer3DModel,
        WanVACEPipeline,
        WanVACETransformer3DModel,
    )

    tokenizer = tiny_tokenizer()
    five_b = variant == "2.2-ti2v-5b"
    if five_b:
        vae = AutoencoderKLWan(
            base_dim=3,
            z_dim=48,
            in_channels=12,
            out_channels=12,
            is_residual=True,
            patch_size=2,
            latents_mean=[0.0] * 48,
            latents_std=[1.0] * 48,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            scale_factor_spatial=16,
            scale_factor_temporal=4,
            temperal_downsample=[False, True, True],
        )
    else:
        vae = AutoencoderKLWan(
            base_dim=3,
            z_dim=16,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
        )

    def transformer(**extra: Any) -> Any:
        # Image-to-video stacks the image latents and a mask on the noise (16 + 16 + 4);
        # text-to-video and VACE (whose control runs beside) denoise the 16 alone.
        latent = 48 if five_b else 16
        inputs = 36 if task == "i2v" and not five_b else latent
        model = WanVACETransformer3DModel if task == "vace" else WanTransformer3DModel
        return model(
            patch_size=(1, 2, 2),
            num_attention_heads=2,
            attention_head_dim=12,
            in_channels=inputs,
            out_channels=latent,
            text_dim=_TEXT_DIM,
            freq_dim=256,
            ffn_dim=32,
            num_layers=2,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            rope_max_seq_len=32,
            **extra,
        )

    parts: dict[str, Any] = {"tokenizer": tokenizer, "text_encoder": _t5(tokenizer, umt5=True)}
    if task == "vace":
        # The control stream: inactive and reactive latents (16 + 16) and the mask folded
        # into the latent grid (8 x 8 pixels each: 64), fed into blocks 0 and 1.
        vace = transformer(vace_layers=[0, 1], vace_in_channels=96)
        parts |= {"transformer": vace, "scheduler": FlowMatchEulerDiscreteScheduler(shift=7.0)}
        return WanVACEPipeline(vae=vae, **parts)
    if variant.startswith("2.1") and task == "i2v":
        flf = variant == "2.1-flf2v"
        image_size = 4 if flf else 32
        extra = {"image_dim": 4, "pos_embed_seq_len": 2 * (4 * 4 + 1)} if flf else {"image_dim": 4}
        parts |= {
            "transformer": transformer(**extra),
            "image_encoder": _clip_vision(image_size),
            "image_processor": _clip_processor(image_size),
            "scheduler": FlowMatchEulerDiscreteScheduler(shift=7.0),
        }
    elif variant.startswith("2.1"):
        parts |= {
            "transformer": transformer(),
            "scheduler": FlowMatchEulerDiscreteScheduler(shift=7.0),
        }
    else:
        scheduler = UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
        )
        parts |= {"transformer": transformer(), "scheduler": scheduler}
        if five_b:
            parts |= {"expand_timesteps": True}
        else:
            parts |= {"transformer_2": transformer(), "boundary_ratio": 0.875}
    if task == "t2v":
        parts.pop("image_encoder", None)
        parts.pop("image_processor", None)
        return WanPipeline(vae=vae, **parts)
    return WanImageToVideoPipeline(vae=vae, **parts)


def _clip_vision(image_size: int) -> Any:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    config = CLIPVisionConfig(
        hidden_size=4,
        projection_dim=4,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        intermediate_size=16,
        patch_size=1,
    )
    return CLIPVisionModel(config).eval()


def _clip_processor(image_size: int) -> Any:
    # The PIL processor (transformers 5 without torchvision) is what the pipeline gets anyway.
    from transformers import CLIPImageProcessorPil

    return CLIPImageProcessorPil(crop_size=image_size, size=image_size)


def _ltx(variant: str, task: str) -> Any:
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    tokenizer = tiny_tokenizer()
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        # Two blocks, not the tests' one: FirstBlockCache needs a first and a last block.
        num_layers=2,
        caption_channels=_TEXT_DIM,
    )
    yes, no = True, False
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(yes, yes, no, no),
        decoder_spatio_temporal_scaling=(yes, yes, no, no),
        decoder_inject_noise=(no, no, no, no, no),
        upsample_residual=(no, no, no, no),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    # The same parts either way; a text-to-video folder names the text pipeline (as
    # Lightricks/LTX-Video does).
    pipeline_class = LTXPipeline if task == "t2v" else LTXConditionPipeline
    return pipeline_class(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=_t5(tokenizer),
        tokenizer=tokenizer,
        transformer=transformer,
    )


def _cogvideox(variant: str, task: str) -> Any:
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    tokenizer = tiny_tokenizer()
    v15 = variant == "1.5"
    image = task == "i2v"
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        # The image model takes the image latents as 4 more channels.
        in_channels=8 if image else 4,
        out_channels=4,
        time_embed_dim=2,
        # Only the 1.5 image model embeds its "ofs" (CogVideoXPipeline passes none).
        ofs_embed_dim=2 if v15 and image else None,
        text_embed_dim=_TEXT_DIM,
        # Two blocks, not the tests' one: FirstBlockCache needs a first and a last block.
        num_layers=2,
        # The 1.0 image model learns positions for one latent size (here 6x4: 48x32 px, 3:2
        # as 720x480); rotary positions (1.5, the 1.0 text model) reach up to the sample size
        # (here 128x128 px for 1.5).
        sample_width=16 if v15 else 6,
        sample_height=16 if v15 else 4,
        sample_frames=9,
        patch_size=2,
        patch_size_t=2 if v15 else None,
        temporal_compression_ratio=4,
        max_text_seq_length=16,
        use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=image and not v15,
    )
    vae = AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )
    pipeline_class = CogVideoXImageToVideoPipeline if image else CogVideoXPipeline
    return pipeline_class(
        tokenizer=tokenizer,
        text_encoder=_t5(tokenizer),
        vae=vae,
        transformer=transformer,
        scheduler=CogVideoXDDIMScheduler(),
    )
