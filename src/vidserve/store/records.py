"""The store's records besides the queue, written once for every SQL backend: the webhook
outbox, expiring files, the deployment's secret and API keys, and usage; and
:class:`SqlJobStore`, the whole store over a backend's pieces (:mod:`.sql`)."""

from __future__ import annotations

import abc
import secrets
from collections.abc import Collection

from vidserve.store.base import (
    ApiKey,
    FileLedger,
    Job,
    JobStore,
    KeyStore,
    UsageLedger,
    UsageRow,
    WebhookOutbox,
    new_key_material,
    secret_hash,
    webhook_state_after,
)
from vidserve.store.queue import SqlQueue
from vidserve.store.sql import SqlBackend

__all__ = ["SqlFileLedger", "SqlJobStore", "SqlKeyStore", "SqlUsageLedger", "SqlWebhookOutbox"]

# Due deliveries, leased in the same statement (rows another claimer holds are skipped).
_CLAIM_WEBHOOKS = """
UPDATE {requests} SET webhook_next_at = :lease
WHERE request_id IN (
    SELECT request_id FROM {requests}
    WHERE webhook_state = 'PENDING' AND status = 'COMPLETED'
      AND COALESCE(webhook_next_at, 0) <= :now
    ORDER BY completed_at LIMIT :limit {skip_locked}
)
RETURNING *
"""


class SqlWebhookOutbox(SqlBackend, WebhookOutbox):
    """:class:`~vidserve.store.base.WebhookOutbox` over SQL: the outbox is columns of the
    request row, so a request enters it in the statement that completes it."""

    def claim_webhooks(self, limit: int, lease_seconds: float) -> list[Job]:
        """Due webhook deliveries, leased (see :meth:`WebhookOutbox.claim_webhooks`)."""
        now = self._clock()
        rows = self.rows(
            _CLAIM_WEBHOOKS, {"lease": now + lease_seconds, "now": now, "limit": limit}
        )
        return sorted((self.job(row) for row in rows), key=lambda job: job.completed_at or 0)

    def record_webhook_attempt(
        self, request_id: str, *, delivered: bool, error: str | None, retry_at: float | None
    ) -> None:
        """Count a delivery attempt (see :meth:`WebhookOutbox.record_webhook_attempt`)."""
        state = webhook_state_after(delivered, retry_at)
        self.count(
            """
            UPDATE {requests} SET webhook_attempts = webhook_attempts + 1,
                webhook_state = :state, webhook_error = :error, webhook_next_at = :retry_at
            WHERE request_id = :id AND webhook_state = 'PENDING'
            """,
            {"state": state.value, "error": error, "retry_at": retry_at, "id": request_id},
        )

    def pending_webhooks(self) -> int:
        """Webhooks still to deliver (see :meth:`WebhookOutbox.pending_webhooks`)."""
        row = self.one(
            "SELECT COUNT(*) AS n FROM {requests}"
            " WHERE webhook_state = 'PENDING' AND status = 'COMPLETED'"
        )
        return int(row["n"])


class SqlFileLedger(SqlBackend, FileLedger):
    """:class:`~vidserve.store.base.FileLedger` over SQL."""

    def add_expiring_file(self, key: str, expires_at: float) -> None:
        """Remember a file to delete after ``expires_at`` (a later call moves the time)."""
        self.count(
            "INSERT INTO {expiring_files} (key, expires_at) VALUES (:key, :at)"
            " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at",
            {"key": key, "at": expires_at},
        )

    def expired_files(self, limit: int) -> list[str]:
        """Keys of files past their expiry, oldest first."""
        rows = self.rows(
            "SELECT key FROM {expiring_files} WHERE expires_at < :now"
            " ORDER BY expires_at LIMIT :limit",
            {"now": self._clock(), "limit": limit},
        )
        return [row["key"] for row in rows]

    def forget_files(self, keys: Collection[str]) -> None:
        """Drop deleted files from the expiry list."""
        if keys:
            self.count(
                "DELETE FROM {expiring_files} WHERE key {in_list}", {"list": self.array(keys)}
            )


class SqlKeyStore(SqlBackend, KeyStore):
    """:class:`~vidserve.store.base.KeyStore` over SQL."""

    def deployment_secret(self) -> str:
        """The store's secret, made on first use (the first writer's wins)."""
        with self.connection() as conn:
            self.run(
                conn,
                "INSERT INTO {deployment} (name, value) VALUES ('secret', :value)"
                " ON CONFLICT (name) DO NOTHING",
                {"value": secrets.token_hex(32)},
            )
            row = self.run(conn, "SELECT value FROM {deployment} WHERE name = 'secret'")
            return str(row.fetchone()["value"])

    def create_key(
        self, name: str, *, rate_per_minute: int | None = None, max_concurrent: int | None = None
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (kept only as a hash)."""
        key_id, secret = new_key_material()
        row = self.one(
            "INSERT INTO {api_keys} (id, name, secret_hash, created_at, rate_per_minute,"
            " max_concurrent) VALUES (:id, :name, :hash, :now, :rate, :concurrent) RETURNING *",
            {
                "id": key_id,
                "name": name,
                "hash": secret_hash(secret),
                "now": self._clock(),
                "rate": rate_per_minute,
                "concurrent": max_concurrent,
            },
        )
        return ApiKey.from_row(row), secret

    def keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        rows = self.rows("SELECT * FROM {api_keys} ORDER BY created_at, id")
        return [ApiKey.from_row(row) for row in rows]

    def revoke_key(self, key_id: str) -> bool:
        """Revoke an active key."""
        return (
            self.count(
                "UPDATE {api_keys} SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
                {"now": self._clock(), "id": key_id},
            )
            > 0
        )

    def find_key(self, secret: str) -> ApiKey | None:
        """The active key with this secret."""
        row = self.one(
            "SELECT * FROM {api_keys} WHERE secret_hash = :hash AND revoked_at IS NULL",
            {"hash": secret_hash(secret)},
        )
        return None if row is None else ApiKey.from_row(row)

    def get_key(self, key_id: str) -> ApiKey | None:
        """The key with this id, revoked or not."""
        row = self.one("SELECT * FROM {api_keys} WHERE id = :id", {"id": key_id})
        return None if row is None else ApiKey.from_row(row)

    def has_keys(self) -> bool:
        """Whether any key was ever created."""
        return self.one("SELECT 1 AS one FROM {api_keys} LIMIT 1") is not None


class SqlUsageLedger(SqlBackend, UsageLedger):
    """:class:`~vidserve.store.base.UsageLedger` over SQL: usage is columns of the request
    row, written by the statement that completes it."""

    def usage(
        self, owner: str | None, since: float, until: float, *, all_owners: bool = False
    ) -> list[UsageRow]:
        """Completed requests with a result, summed per owner and endpoint."""
        rows = self.rows(
            """
            SELECT owner, endpoint_id, COUNT(*) AS n, SUM(video_seconds) AS seconds,
                   SUM(cost) AS cost
            FROM {requests}
            WHERE completed_at >= :since AND completed_at < :until
              AND video_seconds IS NOT NULL
              AND (:all OR owner IS NOT DISTINCT FROM :owner)
            GROUP BY owner, endpoint_id ORDER BY owner, endpoint_id
            """,
            {"since": since, "until": until, "all": all_owners, "owner": owner},
        )
        return [
            UsageRow(r["owner"], r["endpoint_id"], r["n"], r["seconds"] or 0.0, r["cost"] or 0.0)
            for r in rows
        ]


class SqlJobStore(SqlQueue, SqlWebhookOutbox, SqlFileLedger, SqlKeyStore, SqlUsageLedger, JobStore):
    """The whole :class:`~vidserve.store.base.JobStore` over SQL: a backend subclasses it
    and supplies :class:`~vidserve.store.sql.SqlBackend`'s pieces, its schema and its
    connections."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close every connection; the store is unusable afterwards."""
