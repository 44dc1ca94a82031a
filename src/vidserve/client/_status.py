"""Request statuses, as fal_client's ``Queued``/``InProgress``/``Completed``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vidserve.schema import StatusBody


@dataclass
class Status:
    """Base of the three statuses."""


@dataclass
class Queued(Status):
    """Waiting; ``position`` is the number of requests ahead (0-based)."""

    position: int


@dataclass
class InProgress(Status):
    """Running. ``logs`` when asked for; ``progress`` in [0, 1] (a vidserve addition)."""

    logs: list[dict[str, Any]] | None = field()
    progress: float | None = None


@dataclass
class Completed(Status):
    """Done; ``error``/``error_type`` are set when it failed."""

    logs: list[dict[str, Any]] | None = field()
    metrics: dict[str, Any] = field()
    error: str | None = field(default=None)
    error_type: str | None = field(default=None)


def parse_status(data: StatusBody) -> Status:
    """A status object from its JSON (:class:`vidserve.schema.StatusBody`)."""
    status = data["status"]
    if status == "IN_QUEUE":
        return Queued(position=data["queue_position"])
    if status == "IN_PROGRESS":
        return InProgress(logs=data.get("logs"), progress=data.get("progress"))
    if status == "COMPLETED":
        return Completed(
            logs=data.get("logs"),
            metrics=data.get("metrics", {}),
            error=data.get("error"),
            error_type=data.get("error_type"),
        )
    raise ValueError(f"Unknown status: {status}")
