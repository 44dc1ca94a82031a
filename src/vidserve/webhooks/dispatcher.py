"""Delivers due webhooks from the store's outbox, a few at a time, without ever waiting on
a receiver: each delivery runs on a small thread pool, and a round only claims as many as
there are free slots. A dead receiver thus holds one slot for at most the delivery timeout,
and never holds up a cancel, a claim or another request's webhook for longer.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from vidserve.config import Settings
from vidserve.media.netguard import PUBLIC_ONLY, HostPolicy
from vidserve.store import Job, JobStore
from vidserve.webhooks.body import encode_body, webhook_body
from vidserve.webhooks.delivery import DEFAULT_TIMEOUT, RetryPolicy, deliver
from vidserve.webhooks.signing import WebhookSigner

logger = logging.getLogger(__name__)

#: The user id signed into every delivery until requests carry their API key's id.
USER_ID = "vidserve"


class WebhookDispatcher:
    """Claims due deliveries (leased, so many dispatchers can share one store) and sends
    them signed; records each attempt, with the next try from ``policy``. ``host_policy``
    says which internal hosts may receive webhooks (default: none)."""

    def __init__(
        self,
        store: JobStore,
        signer: WebhookSigner,
        policy: RetryPolicy,
        *,
        concurrency: int = 4,
        timeout: float = DEFAULT_TIMEOUT,
        host_policy: HostPolicy = PUBLIC_ONLY,
    ) -> None:
        self.store = store
        self.signer = signer
        self.policy = policy
        self.host_policy = host_policy
        self.timeout = timeout
        # Longer than one attempt can take, so a live dispatcher never loses its claim.
        self.lease_seconds = 4 * timeout
        self._concurrency = concurrency
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="vidserve-webhook")
        self._in_flight = 0
        self._lock = threading.Lock()

    @classmethod
    def create(cls, store: JobStore, settings: Settings) -> WebhookDispatcher:
        """A dispatcher signing with the deployment's key, retrying as configured and
        delivering to internal hosts only where ``VIDSERVE_ALLOW_HOSTS`` allows (a bad entry
        raises ValueError naming it)."""
        policy = RetryPolicy(
            attempts=settings.webhook_attempts,
            first_delay=settings.webhook_first_delay,
            max_delay=max(3600.0, settings.webhook_first_delay),
        )
        return cls(
            store,
            WebhookSigner.from_secret(settings.secret),
            policy,
            host_policy=HostPolicy.from_allow(settings.allow_hosts),
        )

    def run_once(self) -> int:
        """Start deliveries for as many due webhooks as there are free slots."""
        with self._lock:
            free = self._concurrency - self._in_flight
        if free <= 0:
            return 0
        jobs = self.store.claim_webhooks(free, self.lease_seconds)
        with self._lock:
            self._in_flight += len(jobs)
        for job in jobs:
            self._executor.submit(self._deliver, job)
        return len(jobs)

    def close(self) -> None:
        """Wait for deliveries in flight (each bounded by the timeout)."""
        self._executor.shutdown(wait=True)

    def _deliver(self, job: Job) -> None:
        try:
            self.deliver(job)
        except Exception:
            # The claim's lease runs out and another round tries again.
            logger.exception("webhook for %s failed unexpectedly", job.request_id)
        finally:
            with self._lock:
                self._in_flight -= 1

    def deliver(self, job: Job) -> None:
        """One attempt for one claimed request, recorded in the store and its log."""
        assert job.webhook_url is not None  # noqa: S101 - only such requests are claimed
        body = encode_body(webhook_body(job))
        headers = self.signer.sign(job.request_id, USER_ID, int(time.time()), body)
        result = deliver(
            job.webhook_url, body, headers, timeout=self.timeout, policy=self.host_policy
        )
        attempt = job.webhook_attempts + 1
        if result.ok:
            self.store.record_webhook_attempt(
                job.request_id, delivered=True, error=None, retry_at=None
            )
            self.store.add_log(job.request_id, f"Webhook delivered (attempt {attempt})")
            return
        delay = self.policy.delay(attempt, job.request_id)
        retry_at = None if delay is None else time.time() + delay
        self.store.record_webhook_attempt(
            job.request_id, delivered=False, error=result.error, retry_at=retry_at
        )
        then = "giving up" if delay is None else f"next try in {delay:.0f} s"
        message = f"Webhook attempt {attempt} failed: {result.error}; {then}"
        self.store.add_log(job.request_id, message, "WARN")
        logger.warning("request %s: %s", job.request_id, message)
