"""LoRAs from local ``.safetensors`` files: the ones an engine's TOML names, and the ones a
request picks (``loras: [{"name" | "path", "scale"}]``, the shape fal's LoRA endpoints use).

Configured LoRAs are tables in the engine's ``loras`` list::

    [[engines.wan.loras]]
    name = "lightx2v"                 # what requests call it (default: the file's stem)
    path = "/models/loras/lightx2v_4step.safetensors"
    scale = 1.0                       # the default strength
    trigger = "lightx2v style"        # put before the prompt when it is not in it
    steps = 4                         # step-distilled LoRAs: their step count ...
    guidance = 1.0                    # ... and guidance scale (1.0: no CFG)
    default = true                    # on for requests that name no LoRAs
    expert = "both"                   # Wan 2.2 A14B: high, low or both experts

and ``lora_dirs`` lists the folders a request may name files in by ``path``. A request that
names LoRAs gets exactly those (a scale of 0 leaves one out); one that names none gets the
``default`` ones. The torch-free half (this module's top) is checked when the engine is
made; :class:`LoraSlots` (in the child process) loads each file once into the loaded model
as a peft adapter and switches adapters between requests without reloading the base model.
"""

from __future__ import annotations

import json
import struct
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidserve.engines.base import LoraWeight, RunContext, VideoRequest
from vidserve.engines.diffusers.common import GuidanceRange
from vidserve.engines.diffusers.options import DiffusionOptions
from vidserve.errors import ConfigError, EngineError
from vidserve.schema import ErrorType

#: Request-named LoRAs kept loaded at once (configured ones always stay); the oldest goes.
MAX_CACHED = 8
EXPERTS = ("high", "low", "both")
_KEYS = {
    "name": str,
    "path": str,
    "scale": float,
    "trigger": str,
    "steps": int,
    "guidance": float,
    "default": bool,
    "expert": str,
}


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA file and how to use it."""

    name: str
    path: Path
    scale: float = 1.0
    trigger: str = ""
    steps: int | None = None
    guidance: float | None = None
    default: bool = False
    #: Wan 2.2 A14B: which expert(s) it loads into; None: both where there are two.
    expert: str | None = None


@dataclass(frozen=True)
class LoraChoice:
    """A LoRA picked for one request, at a strength."""

    spec: LoraSpec
    scale: float

    def describe(self) -> str:
        """``name (file) x scale``, for the log."""
        return f"{self.spec.name} ({self.spec.path.name}) x {self.scale:g}"


def read_safetensors_keys(path: Path) -> list[str]:
    """The tensor names in a ``.safetensors`` file, from its JSON header only (no torch)."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        if length > 100_000_000:
            raise ValueError("the header is implausibly large")
        header = json.loads(file.read(length))
    return [key for key in header if key != "__metadata__"]


def check_lora_file(path: Path) -> str | None:
    """What is wrong with ``path`` as a LoRA file, or None."""
    if path.suffix != ".safetensors":
        return "is not a .safetensors file"
    if not path.is_file():
        return "does not exist"
    try:
        keys = read_safetensors_keys(path)
    except (OSError, ValueError, struct.error) as exc:
        return f"is not a readable safetensors file ({exc})"
    if not any("lora" in key for key in keys):
        return "holds no LoRA weights (no lora_A/lora_B or lora_down/lora_up tensors)"
    return None


def parse_lora(engine: str, raw: Mapping[str, Any]) -> LoraSpec:
    """One ``loras`` table; ConfigError naming the key or the file."""
    where = f"engine {engine}: loras"
    for key, value in raw.items():
        wanted = _KEYS.get(key)
        if wanted is None:
            raise ConfigError(f"{where}: unknown key {key!r}; known: {', '.join(sorted(_KEYS))}")
        types: tuple[type, ...] = (float, int) if wanted is float else (wanted,)
        if isinstance(value, bool) is not (wanted is bool) or not isinstance(value, types):
            raise ConfigError(f"{where}: {key} must be a {wanted.__name__}; got {value!r}")
    if "path" not in raw:
        raise ConfigError(f"{where}: each LoRA needs a 'path' (a .safetensors file)")
    path = Path(raw["path"]).expanduser()
    if not path.is_absolute():
        raise ConfigError(f"{where}: path {raw['path']!r} must be absolute")
    problem = check_lora_file(path)
    if problem:
        raise ConfigError(f"{where}: {path} {problem}")
    expert = raw.get("expert")
    if expert is not None and expert not in EXPERTS:
        raise ConfigError(f"{where}: expert = {expert!r}; one of {', '.join(EXPERTS)}")
    steps = raw.get("steps")
    if steps is not None and steps < 1:
        raise ConfigError(f"{where}: steps must be >= 1; got {steps}")
    return LoraSpec(
        name=str(raw.get("name") or path.stem),
        path=path,
        scale=float(raw.get("scale", 1.0)),
        trigger=str(raw.get("trigger", "")),
        steps=steps,
        guidance=None if raw.get("guidance") is None else float(raw["guidance"]),
        default=bool(raw.get("default", False)),
        expert=expert,
    )


class LoraCatalog:
    """An engine's configured LoRAs and the folders requests may pick files from; turns a
    request's ``loras`` into choices (no torch)."""

    def __init__(
        self, engine: str, loras: Sequence[Mapping[str, Any]], folders: Sequence[str]
    ) -> None:
        self.engine = engine
        self.specs: dict[str, LoraSpec] = {}
        for raw in loras:
            spec = parse_lora(engine, raw)
            if spec.name in self.specs:
                raise ConfigError(f"engine {engine}: two LoRAs are named {spec.name!r}")
            self.specs[spec.name] = spec
        self.folders: list[Path] = []
        for folder in folders:
            path = Path(folder).expanduser()
            if not path.is_absolute() or not path.is_dir():
                raise ConfigError(
                    f"engine {engine}: lora_dirs: {folder!r} is not an absolute folder"
                )
            self.folders.append(path.resolve())

    def defaults(self) -> list[LoraSpec]:
        """The LoRAs on for requests that name none (``default``, at a scale above 0)."""
        return [s for s in self.specs.values() if s.default and s.scale]

    def file_spec(self, path: str) -> LoraSpec:
        """The configured LoRA of the file ``path``, else a new one named after the file
        (an effect scene's LoRA given as a file); ConfigError naming a bad file or a name
        already taken by another file."""
        for spec in self.specs.values():
            if str(spec.path) == path:
                return spec
        spec = parse_lora(self.engine, {"path": path})
        other = self.specs.get(spec.name)
        if other is not None:
            raise ConfigError(
                f"engine {self.engine}: {path} would be named {spec.name!r}, which names "
                f"{other.path}; list it in loras with a name of its own"
            )
        self.specs[spec.name] = spec
        return spec

    def select(self, request: VideoRequest) -> tuple[LoraChoice, ...]:
        """The LoRAs ``request`` renders with: those it names (its ``loras``), else the
        configured defaults; LoRAs at scale 0 are left out. EngineError
        (``validation_error``) for a name or a path this engine does not allow."""
        wanted = request.loras
        if not wanted:
            return tuple(LoraChoice(s, s.scale) for s in self.defaults())
        choices = [self._choice(item) for item in wanted]
        return tuple(choice for choice in choices if choice.scale != 0)

    def _choice(self, item: LoraWeight) -> LoraChoice:
        name, path, scale = item.name, item.path, item.scale
        if name is not None:
            spec = self.specs.get(name)
            if spec is None:
                known = ", ".join(sorted(self.specs)) or "none are configured"
                raise _refused(f"no LoRA is named {name!r} on this engine (known: {known})")
        elif path is not None:
            spec = self._by_path(path)
        else:
            raise _refused("each entry of loras needs a 'name' or a 'path'")
        return LoraChoice(spec, spec.scale if scale is None else scale)

    def _by_path(self, raw: str) -> LoraSpec:
        for spec in self.specs.values():
            if str(spec.path) == raw:
                return spec
        path = Path(raw).expanduser()
        resolved = path.resolve() if path.is_absolute() else None
        if resolved is None or not any(resolved.is_relative_to(f) for f in self.folders):
            where = ", ".join(map(str, self.folders)) or "none are configured (lora_dirs)"
            raise _refused(f"LoRA path {raw!r} is not inside the LoRA folders ({where})")
        problem = check_lora_file(resolved)
        if problem:
            raise _refused(f"LoRA {resolved} {problem}")
        return LoraSpec(name=resolved.stem, path=resolved)


def _refused(message: str) -> EngineError:
    return EngineError(message, ErrorType.VALIDATION)


def apply_trigger(prompt: str, choices: Sequence[LoraChoice]) -> str:
    """The prompt with each chosen LoRA's trigger words before it, unless already there."""
    missing = [c.spec.trigger for c in choices if c.spec.trigger and c.spec.trigger not in prompt]
    return ", ".join([*missing, prompt]) if missing else prompt


def override(choices: Sequence[LoraChoice], key: str) -> Any:
    """The first chosen LoRA's ``steps`` or ``guidance``, or None."""
    for choice in choices:
        value = getattr(choice.spec, key)
        if value is not None:
            return value
    return None


def steps_and_guidance(
    choices: Sequence[LoraChoice],
    options: DiffusionOptions,
    family: GuidanceRange,
    default_steps: int,
    cfg_scale: float,
) -> tuple[int, float]:
    """The denoising steps and guidance scale a request runs with: a chosen step-distilled
    LoRA's, else the engine's options, else the family's (guidance from Kling's
    ``cfg_scale`` over the family's range, or the configured ends of it)."""
    guidance = GuidanceRange(
        family.low if options.guidance_min is None else options.guidance_min,
        family.high if options.guidance_max is None else options.guidance_max,
    )
    scale = override(choices, "guidance") or guidance.scale(cfg_scale)
    steps = override(choices, "steps") or options.steps or default_steps
    return steps, scale


# --- the torch side (in the engine's process, over a loaded pipeline) ----------------------


class LoraSlots:
    """The LoRAs loaded into one pipeline as peft adapters, each file once: :meth:`activate`
    loads what a request needs (the configured ones were loaded with the model), sets each
    adapter's strength, and turns LoRA off entirely for a request with none, leaving the
    base weights untouched."""

    def __init__(self, pipe: Any, engine: str, configured: Iterable[LoraSpec] = ()) -> None:
        self.pipe = pipe
        self.engine = engine
        #: file -> adapter name; request-named files in the order they were last used.
        self.loaded: OrderedDict[Path, str] = OrderedDict()
        self.pinned: set[Path] = set()
        self._count = 0
        self.preload(configured)

    def preload(self, specs: Iterable[LoraSpec]) -> None:
        """Load the configured LoRAs (ConfigError naming a file that does not fit)."""
        for spec in specs:
            try:
                self._load(spec)
            except EngineError as exc:
                raise ConfigError(f"engine {self.engine}: {exc}") from None
            self.pinned.add(spec.path)

    def activate(self, choices: Sequence[LoraChoice], ctx: RunContext | None = None) -> None:
        """Make exactly ``choices`` active, at their scales (and name them in ``ctx``'s log)."""
        from vidserve.engines.diffusers.runtime import transformers_of

        names = [self._load(choice.spec) for choice in choices]
        scales = dict(zip(names, (c.scale for c in choices), strict=True))
        for model in transformers_of(self.pipe):
            present = set(getattr(model, "peft_config", {}) or {})
            mine = [name for name in names if name in present]
            if mine:
                model.enable_lora()
                model.set_adapters(mine, weights=[scales[n] for n in mine])
            elif present:
                model.disable_lora()
        if ctx is not None and choices:
            ctx.log(f"{self.engine}: LoRAs {', '.join(c.describe() for c in choices)}")

    def _load(self, spec: LoraSpec) -> str:
        if spec.path in self.loaded:
            self.loaded.move_to_end(spec.path)
            return self.loaded[spec.path]
        self._evict()
        self._count += 1
        name = f"lora_{self._count}"
        try:
            self._load_file(spec, name)
        except Exception as exc:
            self._forget(name)
            raise EngineError(
                f"LoRA {spec.path} does not fit this model: {_first_line(exc)}",
                ErrorType.VALIDATION,
            ) from exc
        self.loaded[spec.path] = name
        return name

    def _load_file(self, spec: LoraSpec, name: str) -> None:
        import importlib.util
        import warnings

        if importlib.util.find_spec("peft") is None:
            raise ValueError("LoRAs need the peft package (pip install peft)")
        with warnings.catch_warnings():
            # peft warns on every adapter after the first; several adapters are the point.
            warnings.filterwarnings("ignore", "Already found a `peft_config`", UserWarning)
            self._load_into_experts(spec, name)

    def _load_into_experts(self, spec: LoraSpec, name: str) -> None:
        from vidserve.engines.diffusers.runtime import transformers_of

        two = getattr(self.pipe, "transformer_2", None) is not None
        expert = spec.expert or ("both" if two else "high")
        if expert in ("high", "both"):
            self.pipe.load_lora_weights(str(spec.path), adapter_name=name)
        if expert in ("low", "both"):
            if not two:
                raise ValueError(f"expert = {expert!r} needs a model with two experts")
            self.pipe.load_lora_weights(
                str(spec.path), adapter_name=name, load_into_transformer_2=True
            )
        models = transformers_of(self.pipe)
        if not any(name in (getattr(m, "peft_config", {}) or {}) for m in models):
            raise ValueError("none of its weights matches a layer of the transformer")

    def _evict(self) -> None:
        spare = [path for path in self.loaded if path not in self.pinned]
        while len(spare) >= MAX_CACHED:
            path = spare.pop(0)
            self._forget(self.loaded.pop(path))

    def _forget(self, name: str) -> None:
        from vidserve.engines.diffusers.runtime import transformers_of

        for model in transformers_of(self.pipe):
            if name in (getattr(model, "peft_config", {}) or {}):
                model.delete_adapters(name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
