"""Settings: one frozen object, read from the environment and overridden by CLI flags."""

from __future__ import annotations

import os
import secrets
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


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


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
    # Largest accepted request body (data URIs make bodies big).
    max_body_bytes: int = 64 * 1024 * 1024
    # Largest file accepted through the storage upload routes.
    max_upload_bytes: int = 2 * 1024 * 1024 * 1024
    # Signs upload URLs and tokens; processes that share files must share it. Empty: the
    # embedded server keeps one in the data directory.
    secret: str = field(default="", repr=False)

    @property
    def store_path(self) -> Path:
        return self.data_dir / "vidserve.sqlite3"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def uploads_dir(self) -> Path:
        """Where multipart upload parts wait until their upload completes."""
        return self.data_dir / "uploads"

    def with_secret(self) -> Settings:
        """These settings with a signing secret: the configured one, else one kept (and
        created on first use) in the data directory."""
        if self.secret:
            return self
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return replace(self, secret=path.read_text().strip())

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
            secret=env.get("VIDSERVE_SECRET", ""),
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
        if self.heartbeat_interval * 4 > self.lease_seconds:
            raise ConfigError("lease_seconds must be at least 4 heartbeat intervals")
