"""The job store: requests, their logs, results and leases, behind :class:`JobStore`."""

from vidserve.store.base import (
    CancelOutcome,
    Heartbeat,
    Job,
    JobStore,
    LogRecord,
    NewJob,
    Priority,
    WebhookState,
)

__all__ = [
    "CancelOutcome",
    "Heartbeat",
    "Job",
    "JobStore",
    "LogRecord",
    "NewJob",
    "Priority",
    "WebhookState",
]
