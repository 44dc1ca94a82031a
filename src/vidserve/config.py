"""Settings: one frozen object, read from the environment and overridden by CLI flags."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vidserve.errors import ConfigError


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (1/0, true/false, yes/no, on/off)")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    if not env.get(name):
        return None
    value = _int(env, name, 0)
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def _prices(raw: str) -> dict[str, float]:
    """``VIDSERVE_PRICES``: ``{"endpoint id": USD per second, ...}``."""
    if not raw.strip():
        return {}
    try:
        prices = json.loads(raw)
    except ValueError:
        raise ConfigError("VIDSERVE_PRICES is not JSON") from None
    if not isinstance(prices, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in prices.values()
    ):
        raise ConfigError('VIDSERVE_PRICES must be {"endpoint id": USD per second (>= 0), ...}')
    return {str(k): float(v) for k, v in prices.items()}


#: fal's named object lifetimes (``X-Fal-Object-Lifecycle``), in seconds.
NAMED_LIFETIMES: dict[str, float | None] = {
    "immediate": 60.0,
    "1h": 3600.0,
    "1d": 86400.0,
    "7d": 7 * 86400.0,
    "30d": 30 * 86400.0,
    "1y": 365 * 86400.0,
    "never": None,
}


def _lifetime(raw: str) -> float | None:
    """``VIDSERVE_OUTPUT_LIFETIME``: seconds, or one of fal's names (1h, 7d, never, ...)."""
    if raw in ("", "never"):
        return None
    if raw in NAMED_LIFETIMES:
        return NAMED_LIFETIMES[raw]
    try:
        seconds = float(raw)
    except ValueError:
        names = ", ".join(NAMED_LIFETIMES)
        raise ConfigError(
            f"VIDSERVE_OUTPUT_LIFETIME={raw!r} is neither seconds nor one of {names}"
        ) from None
    if seconds <= 0:
        raise ConfigError(f"VIDSERVE_OUTPUT_LIFETIME must be positive, got {raw!r}")
    return seconds


@dataclass(frozen=True)
class Settings:
    """Everything a vidserve process needs to know about itself."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = field(default_factory=lambda: Path("data"))
    # How many in-process workers ``vidserve serve`` runs.
    workers: int = 1
    # A worker must heartbeat within this many seconds or its request runs again elsewhere.
    lease_seconds: float = 30.0
    # How often a running worker heartbeats and looks for a cancel (bounds cancel latency).
    heartbeat_interval: float = 0.25
    # How many times a request may be claimed before it completes with an error.
    max_attempts: int = 3
    # Input files: total fetch time and size cap.
    fetch_timeout: float = 20.0
    max_input_bytes: int = 10 * 1024 * 1024
    # Serve a non-loopback address although the store holds no API key (--insecure).
    insecure: bool = False
    # A log line per HTTP request (uvicorn's access log); --no-access-log or
    # VIDSERVE_ACCESS_LOG=0 turns it off, e.g. for busy servers answering many status polls.
    access_log: bool = True
    # Hosts and CIDRs (VIDSERVE_ALLOW_HOSTS, comma-separated) that input fetches and webhook
    # deliveries may reach although they are internal (loopback, private, link-local).
    allow_hosts: tuple[str, ...] = ()
    # Largest accepted request body (data URIs make bodies big).
    max_body_bytes: int = 64 * 1024 * 1024
    # Seconds a connection has to send a request's head (request line and headers), from
    # when it opens or the next request's first byte (VIDSERVE_HEADER_TIMEOUT; 0: no limit).
    # Slower clients are disconnected: uvicorn has no such timeout of its own (slowloris).
    header_timeout: float = 10.0
    # Largest file accepted through the storage upload routes.
    max_upload_bytes: int = 2 * 1024 * 1024 * 1024
    # Signs upload URLs and derives the webhook signing key. Empty: the one kept in the job
    # store, which every process on that store shares.
    secret: str = field(default="", repr=False)
    # The job store: a SQLite path or a postgresql:// URL. Empty: SQLite in the data dir.
    store: str = ""
    # File storage: a local folder or s3://bucket/prefix. Empty: a folder in the data dir.
    storage: str = ""
    # USD per second of video by endpoint id, over the seeds' prices (VIDSERVE_PRICES, a
    # JSON object).
    prices: Mapping[str, float] = field(default_factory=dict)
    # Per caller (an API key, or everyone on a server without keys): submissions per minute
    # and requests queued or running at once; None: no limit. A key may set its own.
    rate_per_minute: int | None = None
    max_concurrent: int | None = None
    # Seconds outputs are kept when a request does not say (None: for good).
    output_lifetime: float | None = None
    # Webhook deliveries: attempts before giving up, and the wait after the first failure
    # (doubling after each, capped at an hour: 10 attempts span about 2 hours, as fal's).
    webhook_attempts: int = 10
    webhook_first_delay: float = 15.0

    @property
    def store_url(self) -> str:
        """The store to open: ``store``, else SQLite in the data directory."""
        return self.store or str(self.data_dir / "vidserve.sqlite3")

    @property
    def storage_url(self) -> str:
        """The file storage to open: ``storage``, else a folder in the data directory."""
        return self.storage or str(self.data_dir / "files")

    @property
    def embedded_store(self) -> bool:
        """Whether the store is the data directory's own SQLite file (which the data
        directory lock then covers)."""
        return not self.store

    @property
    def uploads_dir(self) -> Path:
        """Where an uploaded body (or a multipart upload's part) is spooled on its way to
        file storage."""
        return self.data_dir / "uploads"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``VIDSERVE_*`` variables, then apply ``overrides`` whose value is not None."""
        env = os.environ if env is None else env
        base = cls()
        settings = cls(
            host=env.get("VIDSERVE_HOST") or base.host,
            port=_int(env, "VIDSERVE_PORT", base.port),
            data_dir=Path(env.get("VIDSERVE_DATA_DIR") or base.data_dir),
            workers=_int(env, "VIDSERVE_WORKERS", base.workers),
            lease_seconds=_float(env, "VIDSERVE_LEASE_SECONDS", base.lease_seconds),
            max_attempts=_int(env, "VIDSERVE_MAX_ATTEMPTS", base.max_attempts),
            fetch_timeout=_float(env, "VIDSERVE_FETCH_TIMEOUT", base.fetch_timeout),
            max_body_bytes=_int(env, "VIDSERVE_MAX_BODY_BYTES", base.max_body_bytes),
            header_timeout=_float(env, "VIDSERVE_HEADER_TIMEOUT", base.header_timeout),
            access_log=_flag(env, "VIDSERVE_ACCESS_LOG", base.access_log),
            secret=env.get("VIDSERVE_SECRET", ""),
            store=env.get("VIDSERVE_STORE", ""),
            allow_hosts=tuple(
                h.strip() for h in env.get("VIDSERVE_ALLOW_HOSTS", "").split(",") if h.strip()
            ),
            storage=env.get("VIDSERVE_STORAGE", ""),
            output_lifetime=_lifetime(env.get("VIDSERVE_OUTPUT_LIFETIME", "")),
            prices=_prices(env.get("VIDSERVE_PRICES", "")),
            rate_per_minute=_optional_int(env, "VIDSERVE_RATE_PER_MINUTE"),
            max_concurrent=_optional_int(env, "VIDSERVE_MAX_CONCURRENT"),
            webhook_attempts=_int(env, "VIDSERVE_WEBHOOK_ATTEMPTS", base.webhook_attempts),
            webhook_first_delay=_float(
                env, "VIDSERVE_WEBHOOK_FIRST_DELAY", base.webhook_first_delay
            ),
        )
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is outside 1..65535")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.webhook_attempts < 1:
            raise ConfigError(f"webhook_attempts must be >= 1, got {self.webhook_attempts}")
        if self.webhook_first_delay <= 0:
            raise ConfigError(f"webhook_first_delay must be > 0, got {self.webhook_first_delay}")
        if self.header_timeout < 0:
            raise ConfigError(f"header_timeout must be >= 0, got {self.header_timeout}")
        if self.heartbeat_interval * 4 > self.lease_seconds:
            raise ConfigError("lease_seconds must be at least 4 heartbeat intervals")
