"""Workers claim requests from the store, run engines and write results."""

from vidserve.worker.pool import WorkerPool
from vidserve.worker.runner import Worker

__all__ = ["Worker", "WorkerPool"]
