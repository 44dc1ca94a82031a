"""The options every diffusion engine takes, checked when the configuration is read.

They come from an engine's table in the engines TOML (see ``docs/diffusion.md``); an unknown
key or a wrong type is a :class:`ConfigError` naming the key, so a typo fails at start rather
than being ignored. A weights folder may carry defaults of its own in ``vidserve.json``
(:func:`folder_defaults`: ``make-tiny`` writes the small sizes its models are built for);
the TOML's keys override them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from vidserve.errors import ConfigError

DTYPES = ("auto", "bfloat16", "float16", "float32")
OFFLOADS = ("none", "model", "sequential", "group")
CACHES = ("none", "first_block", "taylorseer", "pab")
COMPILES = ("none", "regional", "full")
#: Weight-only quantization of the transformer(s): ``int8`` and ``fp8`` through torchao (GPU
#: or CPU), ``nf4`` through bitsandbytes (GPU only).
QUANTIZES = ("none", "int8", "fp8", "nf4")
#: The file in a weights folder with vidserve's defaults for it.
FOLDER_DEFAULTS = "vidserve.json"
#: Keys whose values are structured (checked by :mod:`.loras` and :mod:`.effects`), not
#: scalars.
_STRUCTURED = ("loras", "lora_dirs", "effects")

_CHOICES: dict[str, tuple[str, ...]] = {
    "dtype": DTYPES,
    "vae_dtype": DTYPES,
    "offload": OFFLOADS,
    "cache": CACHES,
    "compile": COMPILES,
    "quantize": QUANTIZES,
}


@dataclass(frozen=True)
class DiffusionOptions:
    """How to load and run one diffusion engine. ``None`` means the model family's default."""

    #: ``auto`` (cuda when available, else cpu), ``cuda``, ``cuda:1``, ``cpu``, ``mps``.
    device: str = "auto"
    #: Weights dtype: ``auto`` is bfloat16 on a GPU, float32 on a CPU.
    dtype: str = "auto"
    #: The VAE's dtype; None: the family's default (Wan: float32, as its docs advise; else
    #: ``dtype``).
    vae_dtype: str | None = None
    #: ``model`` (whole models to the GPU in turn), ``sequential`` (layer by layer, slowest,
    #: least memory), ``group`` (blocks streamed to the GPU), or ``none``.
    offload: str = "none"
    #: Decode the video in tiles: far less memory for 720p and long clips, a little slower.
    vae_tiling: bool = False
    #: diffusers' ``enable_cache``: ``first_block`` (FirstBlockCache), ``taylorseer``,
    #: ``pab`` (PyramidAttentionBroadcast), or ``none``. Faster, slightly different output.
    cache: str = "none"
    #: FirstBlockCache's threshold (higher: more reuse, faster, lower quality).
    cache_threshold: float = 0.05
    #: torch.compile: ``regional`` (the repeated transformer blocks), ``full``, or ``none``.
    compile: str = "none"
    #: diffusers attention backend (``flash``, ``sage``, ``_native_cudnn``...); None: native.
    attention_backend: str | None = None
    #: Denoising steps.
    steps: int | None = None
    #: Frames per second the model renders (and the MP4 plays) at.
    fps: int | None = None
    #: Largest output in pixels (width x height); the request's aspect ratio is kept.
    max_area: int | None = None
    #: Longest clip in frames (rounded down to a valid count).
    max_frames: int | None = None
    #: The guidance scale at Kling's ``cfg_scale`` 0 and 1 (linear in between).
    guidance_min: float | None = None
    guidance_max: float | None = None
    #: The flow-matching scheduler's shift (Wan: 3 for 480p, 5 for 720p).
    flow_shift: float | None = None
    #: torch's CPU threads (``torch.set_num_threads``); None: torch's default.
    cpu_threads: int | None = None
    #: A GGUF file of the transformer (and of Wan 2.2's second expert) to load instead of the
    #: folder's weights: quantized weights, dequantized layer by layer as they run.
    transformer_gguf: str | None = None
    transformer_2_gguf: str | None = None
    #: Weight-only quantization of the transformer(s) when loading.
    quantize: str = "none"
    #: LoRAs the engine knows by name (TOML tables: path, name, scale, trigger, steps,
    #: guidance, default); raw here, checked by :func:`.loras.parse_loras`.
    loras: tuple[Mapping[str, Any], ...] = ()
    #: Folders a request may name LoRA files in (``loras: [{"path": ...}]``).
    lora_dirs: tuple[str, ...] = ()
    #: Effect scene -> its table (lora, prompt, negative_prompt, scale); raw here, checked
    #: by :class:`.effects.EffectCatalog`.
    effects: Mapping[str, Any] = field(default_factory=dict)
    #: Options only one family knows (checked by that family's engine).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, raw: Mapping[str, Any], engine: str, family_keys: Mapping[str, type] | None = None
    ) -> DiffusionOptions:
        """Options from a configuration table; ``family_keys`` are the family's own keys and
        their types. ConfigError names the first bad key."""
        family_keys = family_keys or {}
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in raw.items():
            if key in _STRUCTURED:
                values[key] = _structured(engine, key, value)
            elif key in known:
                values[key] = _checked(engine, key, value, _field_types(key))
            elif key in family_keys:
                wanted = family_keys[key]
                types = (float, int) if wanted is float else (wanted,)
                extra[key] = _checked(engine, key, value, types)
            else:
                names = ", ".join(sorted([*known, *family_keys]))
                raise ConfigError(f"engine {engine}: unknown option {key!r}; known: {names}")
        options = cls(**values, extra=extra)
        options.validate(engine)
        return options

    def validate(self, engine: str) -> None:
        """Check the values' ranges and choices (ConfigError naming the option)."""
        for key, choices in _CHOICES.items():
            value = getattr(self, key)
            if value is not None and value not in choices:
                raise ConfigError(
                    f"engine {engine}: {key} = {value!r}; one of {', '.join(choices)}"
                )
        for key in ("steps", "fps", "max_area", "max_frames", "cpu_threads"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"engine {engine}: {key} must be >= 1; got {value}")
        if self.attention_backend and self.attention_backend.endswith("_hub"):
            raise ConfigError(
                f"engine {engine}: attention_backend {self.attention_backend!r} downloads "
                "kernels from the Hugging Face hub; vidserve runs offline (install the kernel "
                "package and name the local backend, e.g. 'flash' or 'sage')"
            )
        if self.device == "cpu" and self.offload != "none":
            raise ConfigError(f"engine {engine}: offload = {self.offload!r} needs a GPU device")
        if self.device == "cpu" and self.quantize == "nf4":
            raise ConfigError(
                f"engine {engine}: quantize = 'nf4' (bitsandbytes) needs a GPU device; int8 "
                "and fp8 (torchao) also run on a CPU"
            )
        for key in ("transformer_gguf", "transformer_2_gguf"):
            value = getattr(self, key)
            if value is not None and not Path(value).expanduser().is_file():
                raise ConfigError(f"engine {engine}: {key} = {value!r}: no such file")
        if self.transformer_gguf and self.quantize != "none":
            raise ConfigError(
                f"engine {engine}: transformer_gguf is already quantized; remove quantize"
            )


def folder_defaults(weights: Path, engine: str) -> dict[str, Any]:
    """The option defaults a weights folder carries in ``vidserve.json`` (``{"defaults":
    {"steps": 2, ...}}``), or none. They are engine options like the TOML's, which override
    them; ConfigError names the file when it is malformed."""
    path = weights / FOLDER_DEFAULTS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"engine {engine}: {path} is unreadable ({exc})") from None
    defaults = data.get("defaults", {}) if isinstance(data, dict) else None
    if not isinstance(defaults, dict):
        raise ConfigError(f"engine {engine}: {path}: 'defaults' must be an object of options")
    return defaults


def merged_options(weights: Path, engine: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The folder's defaults with the configured ``options`` over them."""
    return {**folder_defaults(weights, engine), **options}


def _structured(engine: str, key: str, value: Any) -> Any:
    """``loras`` (a list of tables) or ``lora_dirs`` (a list of paths), as tuples;
    ``effects`` (a table of tables) as it is."""
    if key == "effects":
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"engine {engine}: effects must be a table of scenes, each a table "
                f"([engines.NAME.effects.SCENE]); got {value!r}"
            )
        return dict(value)
    if not isinstance(value, list | tuple):
        raise ConfigError(f"engine {engine}: {key} must be a list; got {value!r}")
    wanted: type = dict if key == "loras" else str
    for item in value:
        if not isinstance(item, wanted):
            kind = "a table ({path = ..., name = ...})" if key == "loras" else "a folder path"
            raise ConfigError(f"engine {engine}: each entry of {key} must be {kind}; got {item!r}")
    return tuple(value)


def _field_types(key: str) -> tuple[type, ...]:
    if key in ("vae_tiling",):
        return (bool,)
    if key in ("steps", "fps", "max_area", "max_frames", "cpu_threads"):
        return (int,)
    if key in ("cache_threshold", "guidance_min", "guidance_max", "flow_shift"):
        return (float, int)
    return (str,)


def _checked(engine: str, key: str, value: Any, types: tuple[type, ...]) -> Any:
    # TOML booleans are ints to isinstance(); a flag given as 1 is a mistake worth naming.
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        wanted = " or ".join(t.__name__ for t in types)
        raise ConfigError(f"engine {engine}: {key} must be a {wanted}; got {value!r}")
    return float(value) if float in types and not isinstance(value, bool) else value
