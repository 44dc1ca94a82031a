"""The queue's rules, written once for every SQL backend: submission (idempotency keys and
limits in the same step), claim order and priority, attempts, leases and their expiry,
cancel at every stage, start deadlines, logs, and what a status poll reads.

See :mod:`vidserve.store.base` for the life of a request and :mod:`.sql` for what a backend
supplies. Statuses appear in the SQL as literals (fixed wire strings) so that PostgreSQL's
planner can match its partial indexes' predicates.

**Queue positions** are exact and cost about the same with a thousand or a hundred thousand
requests queued. ``queue_counts`` holds how many requests are queued per priority in each
block of :data:`QUEUE_BUCKET` consecutive ``seq`` numbers (level 0) and in each group of
:data:`GROUP_BLOCKS` blocks (level 1), changed in the same transaction as every move into or
out of the queue (submit, claim, release, cancel, start deadline). A request's position is
the sum of the groups ahead of its own (a handful of rows: 7 with 100,000 queued), of the
blocks ahead of its own in its group (at most 31) and a count of the queued rows ahead of
it in its own block (at most 1023 index entries), read in one statement, so one snapshot.
A counter that reaches zero is deleted, so the table holds only blocks and groups with
requests in them. Claimers take consecutive requests at the head of the queue, so the head's
counters are rows every claim changes, and a transaction holds a row's lock until its commit
is on disk: with one row per block, claims would queue behind each other's commits (84
claims a second where 526 ran without counters, in ``bench/fleet.py``). So on a backend
with row locks each counter is split in ``QUEUE_LANES`` lanes by ``seq`` (consecutive
requests, consecutive lanes): claimers of neighbouring requests change different rows, and
a read sums the lanes. (SQLite writers take turns anyway: one lane.) Counters are
changed last before the commit, and every writer changes them in one order (level,
priority, bucket, lane), so two writers cannot deadlock on them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from vidserve.schema import ErrorType, LogLevel, Status
from vidserve.store.base import (
    IDEMPOTENCY_SECONDS,
    CancelOutcome,
    Dialect,
    Heartbeat,
    IdempotentRequest,
    Job,
    LogLine,
    LogRecord,
    NewJob,
    Queue,
    RenderFigures,
    StatusRead,
    StatusView,
    SubmitLimits,
    WebhookState,
    WorkStats,
    limit_exceeded,
    timeout_message,
)
from vidserve.store.sql import Connection, Row, SqlBackend, log_records

__all__ = ["SqlQueue"]

CANCELLED_MESSAGE = "Request was cancelled"

#: Consecutive ``seq`` numbers per block of ``queue_counts``. Migrations fill the table with
#: this size; a store on an empty database may be given another (tests use small blocks).
QUEUE_BUCKET = 1024
#: Blocks per group (``queue_counts`` level 1).
GROUP_BLOCKS = 32

# A change of one counter; a counter emptied is deleted.
_COUNT = """
INSERT INTO {queue_counts} (level, priority, bucket, lane, queued)
VALUES (:level, :priority, :bucket, :lane, :delta)
ON CONFLICT (level, priority, bucket, lane)
DO UPDATE SET queued = {queue_counts}.queued + excluded.queued
RETURNING queued
"""
# The counters as the requests queued now make them (migration 6 does this at its sizes).
_RECOUNT = """
INSERT INTO {queue_counts} (level, priority, bucket, lane, queued)
SELECT :level, priority, seq / :span, seq % :lanes, COUNT(*) FROM {requests}
WHERE status = 'IN_QUEUE' GROUP BY priority, seq / :span, seq % :lanes
"""
_DROP_EMPTY = """
DELETE FROM {queue_counts}
WHERE level = :level AND priority = :priority AND bucket = :bucket AND lane = :lane
  AND queued = 0
"""

_INSERT = """
INSERT INTO {requests}
    (request_id, endpoint_id, input, base_url, status, priority, created_at, webhook_url,
     webhook_state, start_deadline, output_lifetime, owner, dialect, dialect_fields)
VALUES (:request_id, :endpoint_id, :input, :base_url, 'IN_QUEUE', :priority, :now,
        :webhook_url, :webhook_state, :start_deadline, :output_lifetime, :owner, :dialect,
        :dialect_fields)
RETURNING *
"""

_BY_ID = "SELECT * FROM {requests} WHERE request_id = :id"

# Keys older than a day no longer count; the same transaction drops them.
_FORGET_KEYS = "DELETE FROM {idempotency_keys} WHERE created_at < :before"
# A concurrent submit with the same key waits on the key until the other commits, then
# conflicts with it.
_TAKE_KEY = """
INSERT INTO {idempotency_keys} (owner, key, request_id, body_hash, created_at)
VALUES (:owner, :key, :id, :hash, :now) ON CONFLICT (owner, key) DO NOTHING RETURNING 1
"""
_KEY = """
SELECT request_id, body_hash FROM {idempotency_keys}
WHERE owner = :owner AND key = :key AND created_at >= :since
"""

# An owner's submissions within the window (how many, the oldest) and requests still
# active: three index ranges.
_OWNER_LOAD = """
SELECT (SELECT COUNT(*) FROM {requests}
        WHERE owner IS NOT DISTINCT FROM :owner AND created_at > :since) AS recent,
       (SELECT MIN(created_at) FROM {requests}
        WHERE owner IS NOT DISTINCT FROM :owner AND created_at > :since) AS oldest,
       (SELECT COUNT(*) FROM {requests}
        WHERE owner IS NOT DISTINCT FROM :owner AND status IN ('IN_QUEUE', 'IN_PROGRESS'))
           AS active
"""

#: A page of an owner's requests in one dialect, after a cursor request (if any).
_LIST = """
SELECT * FROM {{requests}}
WHERE owner IS NOT DISTINCT FROM :owner AND dialect = :dialect AND deleted_at IS NULL
  AND (CAST(:after AS TEXT) IS NULL
       OR seq {} (SELECT seq FROM {{requests}} WHERE request_id = :after))
ORDER BY seq {} LIMIT :limit
"""
_LIST_NEWEST_FIRST = _LIST.format("<", "DESC")
_LIST_OLDEST_FIRST = _LIST.format(">", "ASC")

# Queued, or running on a lost lease; never a request that missed its start deadline.
_CLAIMABLE = """
SELECT request_id, status, priority, seq, attempts, cancel_requested FROM {requests}
WHERE (status = 'IN_QUEUE' OR (status = 'IN_PROGRESS' AND lease_expires_at < :now))
  AND (start_deadline IS NULL OR started_at IS NOT NULL OR start_deadline >= :now)
"""
_CLAIM_ORDER = " ORDER BY priority, seq LIMIT 1"
#: (probe, locking select) for claims without and with an endpoint filter.
_CLAIM_SQL: dict[bool, tuple[str, str]] = {
    only: (
        _CLAIMABLE + (" AND endpoint_id {in_list}" if only else "") + _CLAIM_ORDER,
        _CLAIMABLE
        + (" AND endpoint_id {in_list}" if only else "")
        + _CLAIM_ORDER
        + " {skip_locked}",
    )
    for only in (False, True)
}

_TAKE = """
UPDATE {requests} SET
    status = 'IN_PROGRESS', worker_id = :worker, lease_expires_at = :lease,
    attempts = attempts + 1, started_at = COALESCE(started_at, :now), progress = NULL
WHERE request_id = :id
RETURNING *
"""

# Completes a request with an error on the store's behalf (no worker involved).
_FINISH = """
UPDATE {requests} SET
    status = 'COMPLETED', completed_at = :now, error = :error, error_type = :error_type,
    worker_id = NULL, lease_expires_at = NULL
WHERE request_id = :id
"""

# Log numbers come from a counter on the request row, bumped in the transaction that adds
# the lines: the row's lock orders writers, so numbers are gap-free. An unknown request
# updates no row and its lines are dropped.
_BUMP_LOG_SEQ = """
UPDATE {requests} SET log_seq = log_seq + :n WHERE request_id = :id RETURNING log_seq
"""
_ADD_LOG = """
INSERT INTO {logs} (request_id, seq, timestamp, level, message)
VALUES (:id, :seq, :ts, :level, :message)
"""
_LOGS = """
SELECT seq, timestamp, level, message FROM {logs}
WHERE request_id = :id AND seq > :after ORDER BY seq
"""
#: The lines of several reads: ``(request_id = :id0 AND seq > :after0) OR ...``.
_LOG_LINES = """
SELECT request_id, seq, timestamp, level, message FROM {{logs}}
WHERE {} ORDER BY request_id, seq
"""

_RENDER_FIGURES = """
SELECT endpoint_id, COUNT(*) AS n,
       AVG(CAST(metrics ->> 'inference_time' AS DOUBLE PRECISION)) AS mean_time,
       AVG(CAST(metrics ->> 'seconds_per_step' AS DOUBLE PRECISION)) AS mean_step,
       MAX(CAST(metrics ->> 'peak_gpu_memory_mb' AS DOUBLE PRECISION)) AS peak
FROM {requests}
WHERE completed_at >= :since AND result IS NOT NULL
GROUP BY endpoint_id ORDER BY endpoint_id
"""

_HEARTBEAT = """
UPDATE {requests} SET lease_expires_at = :lease
WHERE request_id = :id AND status = 'IN_PROGRESS' AND worker_id = :worker
RETURNING cancel_requested
"""

_COMPLETE = """
UPDATE {requests} SET
    status = 'COMPLETED', completed_at = :now, result = :result, error = :error,
    error_type = :error_type, error_detail = :error_detail, metrics = :metrics,
    video_seconds = :video_seconds, cost = :cost, worker_id = NULL, lease_expires_at = NULL
WHERE request_id = :id AND status = 'IN_PROGRESS' AND worker_id = :worker
"""

_RELEASE = """
UPDATE {requests} SET
    status = 'IN_QUEUE', worker_id = NULL, lease_expires_at = NULL, progress = NULL,
    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
WHERE request_id = :id AND status = 'IN_PROGRESS' AND worker_id = :worker
RETURNING priority, seq
"""

_OVERDUE = """
SELECT request_id, priority, seq, start_deadline - created_at AS timeout FROM {requests}
WHERE status = 'IN_QUEUE' AND started_at IS NULL AND start_deadline < :now {skip_locked}
"""

#: A status poll's columns and, while queued, the position: the counts of the groups ahead,
#: of the blocks ahead in its group, and of the queued rows ahead in its own block (a range
#: of the queued rows' index).
_STATUS_COLUMNS = """
SELECT x.i, r.request_id, r.endpoint_id, r.owner, r.status, r.progress, r.error,
       r.error_type, r.dialect, r.deleted_at,
       CAST(r.metrics ->> 'inference_time' AS DOUBLE PRECISION) AS inference_time,
       CASE WHEN r.status = 'IN_QUEUE' THEN (
           SELECT COALESCE(SUM(c.queued), 0) FROM {{queue_counts}} AS c
           WHERE c.level = 1 AND (c.priority < r.priority
                                  OR (c.priority = r.priority AND c.bucket < r.seq / :group))
       ) + (
           SELECT COALESCE(SUM(c.queued), 0) FROM {{queue_counts}} AS c
           WHERE c.level = 0 AND c.priority = r.priority
             AND c.bucket >= r.seq / :group * :blocks AND c.bucket < r.seq / :bucket
       ) + (
           SELECT COUNT(*) FROM {{requests}} AS o
           WHERE o.status = 'IN_QUEUE' AND o.priority = r.priority
             AND o.seq >= r.seq / :bucket * :bucket AND o.seq < r.seq
       ) END AS position
FROM (SELECT {} ) AS x
JOIN {{requests}} AS r ON r.request_id = x.id
"""


class SqlQueue(SqlBackend, Queue):
    """:class:`~vidserve.store.base.Queue` over a :class:`~vidserve.store.sql.SqlBackend`."""

    #: ``queue_counts``' block size (see the module's docstring).
    queue_bucket = QUEUE_BUCKET
    #: The status and log-lines statements per number of reads (a poll builds neither).
    _status_texts: dict[int, str]
    _log_texts: dict[int, str]

    def __init__(self) -> None:
        super().__init__()
        self._status_texts = {}
        self._log_texts = {}

    # -- submitting ---------------------------------------------------------------------

    def create(self, job: NewJob) -> Job:
        """Record a new IN_QUEUE request, or find the one its idempotency key names (see
        :meth:`Queue.create`); a duplicate ``request_id`` raises the driver's integrity
        error."""
        now = self._clock()
        with self.transaction() as conn:
            if job.idempotency is not None:
                earlier = self._take_idempotency_key(conn, job, now)
                if earlier is not None:
                    return self.job(self.run(conn, _BY_ID, {"id": earlier}).fetchone())
            if job.limits is not None:
                self._check_limits(conn, job.owner, job.limits, now)
            params = {
                "request_id": job.request_id,
                "endpoint_id": job.endpoint_id,
                "input": self.json_in(job.input),
                "base_url": job.base_url,
                "priority": int(job.priority),
                "now": now,
                "webhook_url": job.webhook_url,
                "webhook_state": None if job.webhook_url is None else WebhookState.PENDING.value,
                "start_deadline": None if job.start_timeout is None else now + job.start_timeout,
                "output_lifetime": job.output_lifetime,
                "owner": job.owner,
                "dialect": job.dialect.value,
                "dialect_fields": self.json_in(job.dialect_fields or None),
            }
            row = self.run(conn, _INSERT, params).fetchone()
            self._count(conn, [(row["priority"], row["seq"], 1)])
            return self.job(row)

    def _count(self, conn: Connection, moves: Sequence[tuple[int, int, int]]) -> None:
        """Inside the transaction that moves requests into (+1) or out of (-1) the queue:
        change their blocks' and groups' counters, ``moves`` being (priority, seq, delta),
        in the one order every writer uses."""
        deltas: dict[tuple[int, int, int, int], int] = {}
        for priority, seq, delta in moves:
            block, lane = int(seq) // self.queue_bucket, int(seq) % self.QUEUE_LANES
            for level, bucket in ((0, block), (1, block // GROUP_BLOCKS)):
                counter = (level, int(priority), bucket, lane)
                deltas[counter] = deltas.get(counter, 0) + delta
        for (level, priority, bucket, lane), delta in sorted(deltas.items()):
            if delta == 0:
                continue
            where = {"level": level, "priority": priority, "bucket": bucket, "lane": lane}
            if self.run(conn, _COUNT, {**where, "delta": delta}).fetchone()["queued"] == 0:
                self.run(conn, _DROP_EMPTY, where)

    def recount_queue(self) -> None:
        """Rebuild ``queue_counts`` from the requests queued now (for requests written
        around the store, e.g. bulk-loaded by a benchmark)."""
        with self.transaction() as conn:
            self.run(conn, "DELETE FROM {queue_counts}")
            for level, span in ((0, self.queue_bucket), (1, self.queue_bucket * GROUP_BLOCKS)):
                params = {"level": level, "span": span, "lanes": self.QUEUE_LANES}
                self.run(conn, _RECOUNT, params)

    def _take_idempotency_key(self, conn: Connection, job: NewJob, now: float) -> str | None:
        """Inside the create's transaction: the id of the request ``job``'s key already
        names (checking the body hash), or None after recording the key for ``job``."""
        assert job.idempotency is not None  # noqa: S101 - the caller checks
        key = {"owner": job.owner or "", "key": job.idempotency.key}
        self.run(conn, _FORGET_KEYS, {"before": now - IDEMPOTENCY_SECONDS})
        taken = self.run(
            conn,
            _TAKE_KEY,
            {**key, "id": job.request_id, "hash": job.idempotency.body_hash, "now": now},
        ).fetchone()
        if taken is not None:
            return None
        row = self.run(conn, _KEY, {**key, "since": now - IDEMPOTENCY_SECONDS}).fetchone()
        return IdempotentRequest(row["request_id"], row["body_hash"]).check(
            job.idempotency.body_hash
        )

    def _check_limits(
        self, conn: Connection, owner: str | None, limits: SubmitLimits, now: float
    ) -> None:
        """Inside the create's transaction: LimitExceededError if the request breaks
        ``limits``; the owner's lock makes the count and the insert one step."""
        self.lock_owner(conn, owner)
        row = self.run(conn, _OWNER_LOAD, {"owner": owner, "since": now - limits.window})
        load = row.fetchone()
        exceeded = limit_exceeded(limits, now, load["recent"], load["oldest"], load["active"])
        if exceeded is not None:
            raise exceeded

    def idempotent(self, owner: str | None, key: str) -> IdempotentRequest | None:
        """The request ``owner``'s key names, if used within the last day."""
        since = self._clock() - IDEMPOTENCY_SECONDS
        row = self.one(_KEY, {"owner": owner or "", "key": key, "since": since})
        return None if row is None else IdempotentRequest(row["request_id"], row["body_hash"])

    # -- reading ------------------------------------------------------------------------

    def get(self, request_id: str) -> Job | None:
        """The request, or None if unknown."""
        row = self.one(_BY_ID, {"id": request_id})
        return None if row is None else self.job(row)

    def list_requests(
        self,
        owner: str | None,
        dialect: Dialect,
        *,
        after: str | None = None,
        limit: int = 20,
        newest_first: bool = True,
    ) -> list[Job]:
        """``owner``'s requests in ``dialect`` (see :meth:`Queue.list_requests`)."""
        rows = self.rows(
            _LIST_NEWEST_FIRST if newest_first else _LIST_OLDEST_FIRST,
            {"owner": owner, "dialect": dialect.value, "after": after, "limit": limit},
        )
        return [self.job(row) for row in rows]

    def status_views(self, reads: Sequence[StatusRead]) -> list[StatusView | None]:
        """For each read, its :class:`StatusView` (None if unknown): one statement for every
        row and position, then, if any read asks for them, one for the log lines."""
        if not reads:
            return []
        with self.connection() as conn:
            rows = conn.execute(*self.status_query(reads)).fetchall()
            logs = self.logs_query(reads)
            lines = [] if logs is None else conn.execute(*logs).fetchall()
        return self.status_views_of(reads, rows, lines)

    def status_query(self, reads: Sequence[StatusRead]) -> tuple[str, dict[str, Any]]:
        """The statement reading ``reads``' rows and positions, and its parameters."""
        params: dict[str, Any] = {f"id{i}": rid for i, (rid, _) in enumerate(reads)}
        params.update(
            bucket=self.queue_bucket,
            group=self.queue_bucket * GROUP_BLOCKS,
            blocks=GROUP_BLOCKS,
        )
        return self._status_text(len(reads)), params

    def _status_text(self, count: int) -> str:
        """:data:`_STATUS_COLUMNS` for ``count`` reads, as this backend's text (kept: a poll
        should not build its statement)."""
        text = self._status_texts.get(count)
        if text is None:
            ids = " UNION ALL SELECT ".join(
                f"{i} AS i, CAST(:id{i} AS TEXT) AS id" if i == 0 else f"{i}, :id{i}"
                for i in range(count)
            )
            text = self._status_texts[count] = self.sql(_STATUS_COLUMNS.format(ids))
        return text

    def logs_query(self, reads: Sequence[StatusRead]) -> tuple[str, dict[str, Any]] | None:
        """The statement reading the log lines ``reads`` ask for (None if none asks), run
        after :meth:`status_query`'s so a COMPLETED request's lines are all there."""
        if all(after is None for _, after in reads):
            return None
        params: dict[str, Any] = {}
        for i, (request_id, after) in enumerate(reads):
            # A read that asks for no lines has after NULL: ``seq > NULL`` matches none.
            params.update({f"id{i}": request_id, f"after{i}": after})
        text = self._log_texts.get(len(reads))
        if text is None:
            where = " OR ".join(
                f"(request_id = :id{i} AND seq > :after{i})" for i in range(len(reads))
            )
            text = self._log_texts[len(reads)] = self.sql(_LOG_LINES.format(where))
        return text, params

    @staticmethod
    def status_views_of(
        reads: Sequence[StatusRead], rows: Sequence[Row], lines: Sequence[Row]
    ) -> list[StatusView | None]:
        """The views of ``reads``, in order, from :meth:`status_query`'s rows and
        :meth:`logs_query`'s lines."""
        by_request: dict[str, list[LogRecord]] = {}
        for record, row in zip(log_records(lines), lines, strict=True):
            by_request.setdefault(row["request_id"], []).append(record)
        views: list[StatusView | None] = [None] * len(reads)
        for row in rows:
            request_id, after = reads[row["i"]]
            logs = None
            if after is not None:
                logs = [line for line in by_request.get(request_id, []) if line.seq > after]
            views[row["i"]] = StatusView.from_row(row, logs)
        return views

    def logs(self, request_id: str, after_seq: int = 0) -> list[LogRecord]:
        """Log lines with ``seq > after_seq``, oldest first."""
        return log_records(self.rows(_LOGS, {"id": request_id, "after": after_seq}))

    def work_stats(self) -> list[WorkStats]:
        """Per endpoint, the requests queued and running (see :meth:`Queue.work_stats`)."""
        rows = self.rows(
            """
            SELECT endpoint_id, status, COUNT(*) AS n, MIN(created_at) AS oldest
            FROM {requests} WHERE status IN ('IN_QUEUE', 'IN_PROGRESS')
            GROUP BY endpoint_id, status ORDER BY endpoint_id, status
            """
        )
        return [WorkStats(r["endpoint_id"], Status(r["status"]), r["n"], r["oldest"]) for r in rows]

    def render_figures(self, since: float) -> list[RenderFigures]:
        """Per endpoint, its renders completed since ``since`` (see
        :meth:`Queue.render_figures`): one range of the completion-time index."""
        rows = self.rows(_RENDER_FIGURES, {"since": since})
        return [
            RenderFigures(r["endpoint_id"], r["n"], r["mean_time"], r["mean_step"], r["peak"])
            for r in rows
        ]

    # -- working ------------------------------------------------------------------------

    def claim(
        self, worker_id: str, lease_seconds: float, endpoint_ids: Collection[str] | None = None
    ) -> Job | None:
        """Take the next claimable request (see :meth:`Queue.claim`).

        Rows found cancelled or out of attempts on the way are completed and skipped within
        the same call; rows another claimer holds locked are skipped, not waited for."""
        if endpoint_ids is not None and not endpoint_ids:
            return None
        probe, locking = _CLAIM_SQL[endpoint_ids is not None]
        params: dict[str, Any] = {"list": self.array(endpoint_ids or ())}
        # Idle workers poll often: one plain statement first, a transaction only to take.
        if self.one(probe, {**params, "now": self._clock()}) is None:
            return None
        with self.transaction() as conn:
            left: list[tuple[int, int, int]] = []  # rows taken out of the queue
            taken = self._take_next(conn, locking, params, worker_id, lease_seconds, left)
            # Last before the commit: the head block's counters are every claimer's.
            self._count(conn, left)
            return taken

    def _take_next(
        self,
        conn: Connection,
        locking: str,
        params: dict[str, Any],
        worker_id: str,
        lease_seconds: float,
        left: list[tuple[int, int, int]],
    ) -> Job | None:
        """Inside the claim's transaction: lock and take the next claimable row, finishing
        the cancelled and the out-of-attempts ones on the way; each queued row it moves
        out of the queue is added to ``left``."""
        while True:
            now = self._clock()
            row = self.run(conn, locking, {**params, "now": now}).fetchone()
            if row is None:
                return None
            if row["status"] == Status.IN_QUEUE:
                left.append((row["priority"], row["seq"], -1))
            request_id: str = row["request_id"]
            if row["cancel_requested"]:
                # Cancelled while its worker was gone (or after a release): finish it.
                self._finish(conn, request_id, now, CANCELLED_MESSAGE, ErrorType.CANCELLED)
                continue
            if row["attempts"] >= self.max_attempts:
                message = (
                    f"The request was started {row['attempts']} times and its worker was lost "
                    "each time"
                )
                self._finish(conn, request_id, now, message, ErrorType.WORKER_LOST)
                self._log(conn, request_id, [(now, LogLevel.ERROR.value, message)])
                continue
            take = {"worker": worker_id, "lease": now + lease_seconds, "now": now}
            return self.job(self.run(conn, _TAKE, {**take, "id": request_id}).fetchone())

    def _finish(
        self, conn: Connection, request_id: str, now: float, error: str, error_type: ErrorType
    ) -> None:
        params = {"now": now, "error": error, "error_type": error_type.value, "id": request_id}
        self.run(conn, _FINISH, params)

    def _log(self, conn: Connection, request_id: str, lines: Sequence[LogLine]) -> None:
        """Inside a transaction: append ``lines`` (timestamp, level, message)."""
        bumped = self.run(conn, _BUMP_LOG_SEQ, {"id": request_id, "n": len(lines)}).fetchone()
        if bumped is None:
            return
        first = bumped["log_seq"] - len(lines) + 1
        for seq, (timestamp, level, message) in enumerate(lines, first):
            self.run(
                conn,
                _ADD_LOG,
                {"id": request_id, "seq": seq, "ts": timestamp, "level": level, "message": message},
            )

    def heartbeat(self, request_id: str, worker_id: str, lease_seconds: float) -> Heartbeat:
        """Extend the lease if ``worker_id`` holds it; always report ``cancel_requested``."""
        with self.connection() as conn:
            lease = {"lease": self._clock() + lease_seconds, "worker": worker_id}
            row = self.run(conn, _HEARTBEAT, {**lease, "id": request_id}).fetchone()
            if row is not None:
                return Heartbeat(owned=True, cancel_requested=bool(row["cancel_requested"]))
            row = self.run(
                conn,
                "SELECT cancel_requested FROM {requests} WHERE request_id = :id",
                {"id": request_id},
            ).fetchone()
        return Heartbeat(owned=False, cancel_requested=bool(row and row["cancel_requested"]))

    def set_progress(self, request_id: str, worker_id: str, progress: float) -> bool:
        """Record progress, clamped to [0, 1]; False if the lease is not ours."""
        progress = min(1.0, max(0.0, float(progress)))
        changed = self.count(
            "UPDATE {requests} SET progress = :progress"
            " WHERE request_id = :id AND status = 'IN_PROGRESS' AND worker_id = :worker",
            {"progress": progress, "id": request_id, "worker": worker_id},
        )
        return changed > 0

    def add_log(
        self, request_id: str, message: str, level: str = "INFO", timestamp: float | None = None
    ) -> None:
        """Append a log line (dropped silently if the request is unknown)."""
        when = self._clock() if timestamp is None else timestamp
        self.add_logs(request_id, [(when, level, message)])

    def add_logs(self, request_id: str, lines: Sequence[LogLine]) -> None:
        """Append log lines, in order, in one transaction (see :meth:`Queue.add_logs`)."""
        if lines:
            with self.transaction() as conn:
                self._log(conn, request_id, lines)

    def complete(
        self,
        request_id: str,
        worker_id: str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        error_type: str | None = None,
        error_detail: list[dict[str, Any]] | None = None,
        metrics: dict[str, Any] | None = None,
        video_seconds: float | None = None,
        cost: float | None = None,
    ) -> bool:
        """Mark COMPLETED; only the lease holder may (checked in the statement itself, so it
        cannot race a reclaim). False, and no change, otherwise."""
        params = {
            "now": self._clock(),
            "result": self.json_in(result),
            "error": error,
            "error_type": None if error_type is None else str(error_type),
            "error_detail": self.json_in(error_detail),
            "metrics": self.json_in(metrics),
            "video_seconds": video_seconds,
            "cost": cost,
            "id": request_id,
            "worker": worker_id,
        }
        return self.count(_COMPLETE, params) > 0

    def release(self, request_id: str, worker_id: str) -> bool:
        """Put a running request back in the queue at its old place, attempt not counted."""
        with self.transaction() as conn:
            row = self.run(conn, _RELEASE, {"id": request_id, "worker": worker_id}).fetchone()
            if row is not None:
                self._count(conn, [(row["priority"], row["seq"], 1)])
            return row is not None

    def cancel(self, request_id: str) -> CancelOutcome:
        """Queued: complete it as cancelled now. Running: flag it for its worker."""
        with self.transaction() as conn:
            # Locking the row waits out a claim in flight, then reads the row as it left it.
            row = self.run(
                conn,
                "SELECT status, priority, seq FROM {requests} WHERE request_id = :id {lock_row}",
                {"id": request_id},
            ).fetchone()
            if row is None:
                return CancelOutcome.NOT_FOUND
            status = Status(row["status"])
            if status is Status.COMPLETED:
                return CancelOutcome.ALREADY_COMPLETED
            if status is Status.IN_QUEUE:
                now = self._clock()
                self._finish(conn, request_id, now, CANCELLED_MESSAGE, ErrorType.CANCELLED)
                line = (now, LogLevel.INFO.value, "Request cancelled while queued")
                self._log(conn, request_id, [line])
                self._count(conn, [(row["priority"], row["seq"], -1)])
                return CancelOutcome.CANCELLED
            self.run(
                conn,
                "UPDATE {requests} SET cancel_requested = :yes WHERE request_id = :id",
                {"yes": True, "id": request_id},
            )
            return CancelOutcome.REQUESTED

    def delete(self, request_id: str) -> bool:
        """Mark it deleted and drop its log lines."""
        with self.transaction() as conn:
            cur = self.run(
                conn,
                "UPDATE {requests} SET deleted_at = :now"
                " WHERE request_id = :id AND deleted_at IS NULL",
                {"now": self._clock(), "id": request_id},
            )
            self.run(conn, "DELETE FROM {logs} WHERE request_id = :id", {"id": request_id})
            return int(cur.rowcount) > 0

    # -- housekeeping -------------------------------------------------------------------

    def expire_leases(self) -> int:
        """Make every running request claimable at once; returns how many there were."""
        return self.count(
            "UPDATE {requests} SET lease_expires_at = :past WHERE status = 'IN_PROGRESS'",
            {"past": self._clock() - 1},
        )

    def expire_overdue(self) -> int:
        """Time out queued requests that never started before their deadline."""
        with self.transaction() as conn:
            now = self._clock()
            rows = self.run(conn, _OVERDUE, {"now": now}).fetchall()
            for row in rows:
                request_id, message = row["request_id"], timeout_message(row["timeout"])
                self._finish(conn, request_id, now, message, ErrorType.REQUEST_TIMEOUT)
                self._log(conn, request_id, [(now, LogLevel.ERROR.value, message)])
            self._count(conn, [(row["priority"], row["seq"], -1) for row in rows])
        return len(rows)
