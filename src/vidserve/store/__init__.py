"""The job store: requests, their logs, results and leases, behind :class:`JobStore`."""

from vidserve.store.base import (
    ApiKey,
    CancelOutcome,
    Heartbeat,
    Job,
    JobStore,
    LogRecord,
    NewJob,
    Priority,
    StatusRead,
    StatusView,
    UsageRow,
    WebhookState,
    WorkStats,
)

__all__ = [
    "ApiKey",
    "CancelOutcome",
    "Heartbeat",
    "Job",
    "JobStore",
    "LogRecord",
    "NewJob",
    "Priority",
    "StatusRead",
    "StatusView",
    "UsageRow",
    "WebhookState",
    "WorkStats",
]
