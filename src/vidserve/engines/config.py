"""Which engine serves which endpoint: a TOML file and a few environment variables.

``VIDSERVE_ENGINES_CONFIG`` names the file::

    default = "wan"                      # the engine for endpoints not listed below

    [endpoints]
    "fal-ai/kling-video/o1/standard/image-to-video" = "ltx"

    [engines.wan]                        # a table per configured engine
    engine = "wan"                       # registered name (default: the table's name)
    weights = "/models/Wan2.2-I2V-A14B-Diffusers"   # relative paths: to the file's folder
    dtype = "bfloat16"                   # every other key is an engine option
    offload = "model"

Without a file every endpoint gets the built-in ``motion`` engine, as before. The variables
``VIDSERVE_ENGINE`` and ``VIDSERVE_ENGINE_WEIGHTS`` set the default engine (and its folder)
without a file, or over the file's ``default``; ``VIDSERVE_ENGINE_DEVICE`` (``cuda:1``) sets
the device of every engine that loads weights, to give each worker process its own GPU.
Reading the file imports no engine; :mod:`vidserve.worker.pool` builds them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vidserve.engines.registry import DEFAULT_ENGINE, engine_entry
from vidserve.errors import ConfigError

ENV_CONFIG = "VIDSERVE_ENGINES_CONFIG"
ENV_ENGINE = "VIDSERVE_ENGINE"
ENV_WEIGHTS = "VIDSERVE_ENGINE_WEIGHTS"
ENV_DEVICE = "VIDSERVE_ENGINE_DEVICE"

#: Keys of an engine table that are about hosting the engine, not options passed to it.
_HOSTING_KEYS = ("engine", "weights", "isolate", "cancel_timeout", "preload")
#: The table the environment variables define.
_ENV_TABLE = "env"


@dataclass(frozen=True)
class EngineSpec:
    """One configured engine: what to build, from which weights, and how to host it."""

    #: The table's name (endpoints refer to it).
    name: str
    #: A registered engine name or ``module:Factory``.
    engine: str
    weights: Path | None = None
    #: Passed to the engine's factory as keywords.
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Run in a child process; None: the engine's default (diffusion engines: yes).
    isolate: bool | None = None
    #: Seconds a child gets to stop after a cancel before it is killed and replaced.
    cancel_timeout: float = 120.0
    #: Start the child (load the model) when the worker starts, not at the first request.
    preload: bool = True

    @property
    def isolated(self) -> bool:
        """Whether this engine runs in a child process."""
        return engine_entry(self.engine).isolate if self.isolate is None else self.isolate


@dataclass(frozen=True)
class EnginesConfig:
    """The engines and which endpoint uses which; ``source`` says where it came from."""

    engines: Mapping[str, EngineSpec]
    endpoints: Mapping[str, str] = field(default_factory=dict)
    default: str = DEFAULT_ENGINE
    source: str = "the built-in default"

    def engine_for(self, endpoint_id: str) -> EngineSpec:
        """The engine that serves ``endpoint_id``."""
        return self.engines[self.endpoints.get(endpoint_id, self.default)]


def default_config() -> EnginesConfig:
    """The motion engine on every endpoint."""
    return EnginesConfig({DEFAULT_ENGINE: EngineSpec(DEFAULT_ENGINE, DEFAULT_ENGINE)})


def load_engines_config(env: Mapping[str, str] | None = None) -> EnginesConfig:
    """The configuration ``env`` (default: the process environment) points at."""
    env = os.environ if env is None else env
    path = env.get(ENV_CONFIG, "")
    config = read_engines_config(Path(path)) if path else default_config()
    if env.get(ENV_ENGINE):
        weights = env.get(ENV_WEIGHTS)
        spec = EngineSpec(_ENV_TABLE, env[ENV_ENGINE], Path(weights) if weights else None)
        _check_engine_name(spec.engine, f"{ENV_ENGINE}={spec.engine}")
        config = replace(
            config,
            engines={**config.engines, _ENV_TABLE: spec},
            default=_ENV_TABLE,
            source=f"{config.source} and {ENV_ENGINE}",
        )
    elif env.get(ENV_WEIGHTS):
        raise ConfigError(f"{ENV_WEIGHTS} is set without {ENV_ENGINE} (wan, ltx or cogvideox)")
    device = env.get(ENV_DEVICE)
    if device:
        engines = {
            name: replace(spec, options={**spec.options, "device": device})
            if engine_entry(spec.engine).needs_weights
            else spec
            for name, spec in config.engines.items()
        }
        config = replace(config, engines=engines)
    return config


def read_engines_config(path: Path) -> EnginesConfig:
    """Parse an engines TOML file; ConfigError naming the file and the bad key."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{ENV_CONFIG}: {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{ENV_CONFIG}: {path} is unreadable ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"default", "endpoints", "engines"})
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}")
    engines = {DEFAULT_ENGINE: EngineSpec(DEFAULT_ENGINE, DEFAULT_ENGINE)}
    tables = _table(data.get("engines", {}), f"{path}: [engines]")
    for name, table in tables.items():
        engines[name] = _engine_spec(name, _table(table, f"{path}: [engines.{name}]"), path)
    default = data.get("default", DEFAULT_ENGINE)
    endpoints = {
        str(k): v for k, v in _table(data.get("endpoints", {}), f"{path}: [endpoints]").items()
    }
    for where, ref in [("default", default), *endpoints.items()]:
        if not isinstance(ref, str):
            raise ConfigError(f"{path}: {where!r} must name an engine table; got {ref!r}")
        if ref not in engines:
            # A registered engine that needs nothing configured ("motion") may be named as is.
            _check_engine_name(ref, f"{path}: {where!r}")
            if engine_entry(ref).needs_weights:
                raise ConfigError(f"{path}: {where!r} names {ref!r}, which needs a weights "
                                  f"folder: add an [engines.{ref}] table with 'weights'")
            engines[ref] = EngineSpec(ref, ref)
    return EnginesConfig(engines, endpoints, default, source=str(path))


def _engine_spec(name: str, table: Mapping[str, Any], path: Path) -> EngineSpec:
    where = f"{path}: [engines.{name}]"
    engine = table.get("engine", name)
    if not isinstance(engine, str):
        raise ConfigError(f"{where}: 'engine' must be a string")
    _check_engine_name(engine, where)
    weights = table.get("weights")
    if weights is not None and not isinstance(weights, str):
        raise ConfigError(f"{where}: 'weights' must be a path (a string)")
    isolate = table.get("isolate")
    if isolate is not None and not isinstance(isolate, bool):
        raise ConfigError(f"{where}: 'isolate' must be true or false")
    preload = table.get("preload", True)
    if not isinstance(preload, bool):
        raise ConfigError(f"{where}: 'preload' must be true or false")
    timeout = table.get("cancel_timeout", 120.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"{where}: 'cancel_timeout' must be a positive number of seconds")
    options = {k: v for k, v in table.items() if k not in _HOSTING_KEYS}
    return EngineSpec(
        name=name,
        engine=engine,
        # Relative to the file, so a config and its models can move together.
        weights=None if weights is None else (path.parent / Path(weights).expanduser()),
        options=_files_relative_to(path.parent, options),
        isolate=isolate,
        cancel_timeout=float(timeout),
        preload=preload,
    )


def _files_relative_to(folder: Path, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the LoRA paths in them (``lora_dirs``, ``loras[].path``, an effect
    scene's ``lora`` file) taken relative to the TOML file's ``folder``, as ``weights`` is;
    anything malformed is left for the engine to refuse by name."""
    out = dict(options)

    def place(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        # Absolute, as LoRA paths must be, even when the file was named relatively.
        return str((folder / Path(value).expanduser()).absolute())

    if isinstance(out.get("lora_dirs"), list):
        out["lora_dirs"] = [place(folder_) for folder_ in out["lora_dirs"]]
    if isinstance(out.get("loras"), list):
        out["loras"] = [
            {**lora, "path": place(lora["path"])}
            if isinstance(lora, dict) and "path" in lora
            else lora
            for lora in out["loras"]
        ]
    if isinstance(out.get("effects"), dict):
        out["effects"] = {
            scene: {**table, "lora": place(table["lora"])}
            if isinstance(table, dict) and str(table.get("lora", "")).endswith(".safetensors")
            else table
            for scene, table in out["effects"].items()
        }
    return out


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


def _check_engine_name(engine: str, where: str) -> None:
    try:
        engine_entry(engine)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
