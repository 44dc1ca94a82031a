"""The worker: the one place where a job, an engine and storage meet.

A worker claims a request with a lease, fetches and decodes its files, asks the endpoint's
adapter for a :class:`VideoRequest`, lets the engine render while a lease keeper heartbeats
and watches for cancellation, stores the MP4 and completes the request. A failure inside is
data: the request completes with ``error`` and ``error_type``; the worker goes on.

Trouble with the infrastructure is not the engine's, and never fails a request as
``engine_error``. Log lines and progress wait in the lease keeper while the store does not
answer (the render goes on); storing the output and completing are retried with backoff
(:mod:`vidserve.worker.retry`). What cannot finish (storage full, or down for too long) is
handed back to the queue without spending an attempt, and the worker stops claiming for a
while; a request whose lease ran out meanwhile is someone else's, and its outputs are deleted.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from vidserve.config import Settings
from vidserve.endpoints import ENDPOINTS, EndpointSpec, validate_input
from vidserve.endpoints.files import AUDIO_MAX_BYTES, VIDEO_MAX_BYTES, FileInput, FileKind
from vidserve.engines.base import (
    Engine,
    RenderedAudio,
    RenderedVideo,
    RunContext,
    VideoRequest,
)
from vidserve.errors import CancelledError, EngineError, InputError
from vidserve.faults import Fault, describe, fault_of
from vidserve.media.audio import Audio, decode_audio
from vidserve.media.fetch import FetchLimits, fetch
from vidserve.media.images import decode_image, decode_mask
from vidserve.media.video import thumbnail
from vidserve.media.video_input import LIPSYNC_VIDEO_RULES, check_video_input, open_video
from vidserve.schema import ErrorType, File, Usage
from vidserve.storage import FileStorage, StoredFile
from vidserve.storage.base import THUMBNAIL_NAME, new_key, sibling_key
from vidserve.store import Job, JobStore
from vidserve.worker.lease import LeaseKeeper
from vidserve.worker.retry import InfraError, RetryPolicy, retry

logger = logging.getLogger(__name__)

T = TypeVar("T")

VIDEO_FETCH_SECONDS = 30.0
#: Audio inputs are decoded at this rate: full speech bandwidth for the output's track.
AUDIO_RATE = 44_100


def _decode(item: FileInput, data: bytes, workdir: Path) -> Any:
    """An image or mask as an array, audio as :class:`Audio`, a video as a probed
    :class:`VideoInput` on a file in ``workdir`` (engines stream it) checked against fal's
    lipsync limits."""
    if item.kind == "image":
        return decode_image(data, item.loc)
    if item.kind == "mask":
        return decode_mask(data, item.loc)
    if item.kind == "audio":
        return decode_audio(data, item.loc, sample_rate=AUDIO_RATE)
    path = workdir / f"{item.loc[-1]}.input"
    path.write_bytes(data)
    video = open_video(path, item.loc)
    check_video_input(video.info, item.loc, LIPSYNC_VIDEO_RULES)
    return video


def _describe(decoded: Any) -> str:
    if isinstance(decoded, np.ndarray):
        return f"{decoded.shape[1]}x{decoded.shape[0]}"
    if isinstance(decoded, Audio):
        return f"{decoded.duration:.2f} s of audio"
    info = decoded.info
    return f"{info.width}x{info.height}, {info.duration:.2f} s at {info.fps:.3g} fps"


class _Context(RunContext):
    """RunContext for one request: logs, progress and cancel go through the lease keeper, so
    the engine never waits on the store."""

    def __init__(self, workdir: Path, keeper: LeaseKeeper, shutdown: threading.Event) -> None:
        self.workdir = workdir
        self.keeper = keeper
        self._shutdown = shutdown

    def progress(self, fraction: float) -> None:
        self.keeper.progress = min(max(fraction, 0.0), 1.0)

    def log(self, message: str, level: str = "INFO") -> None:
        self.keeper.log(message, level)

    @property
    def cancelled(self) -> bool:
        return self.keeper.stop_requested or self._shutdown.is_set()


# How a run ended, before the store is told.


@dataclass(frozen=True)
class _Done:
    result: dict[str, Any]
    usage: Usage
    #: What the store keeps beside the result (a video's size).
    measured: dict[str, Any]
    #: The stored files: deleted again if the request turns out not to be ours.
    keys: list[str]


@dataclass(frozen=True)
class _Failed:
    message: str
    error_type: str
    detail: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class _Stopped:
    """Cancelled, or the lease lost, or the worker stopping: the keeper says which."""


@dataclass(frozen=True)
class _HandBack:
    """The infrastructure failed the run: back to the queue, no attempt spent."""

    fault: Fault


_Outcome = _Done | _Failed | _Stopped | _HandBack


class Worker:
    """Claims and runs requests for the endpoints it has engines for.

    ``policy`` says how long store and storage trouble is ridden out (see
    :class:`RetryPolicy`)."""

    def __init__(
        self,
        store: JobStore,
        storage: FileStorage,
        settings: Settings,
        engines: Mapping[str, Engine],
        *,
        worker_id: str | None = None,
        shutdown: threading.Event | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.store = store
        self.storage = storage
        self.settings = settings
        self.engines = dict(engines)
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.shutdown = shutdown or threading.Event()
        self.policy = policy or RetryPolicy()
        self._limits = FetchLimits(
            settings.fetch_timeout, settings.max_input_bytes, settings.allow_hosts
        )
        #: After handing a request back for storage's sake, no claims until then (monotonic).
        self.claims_paused_until = 0.0
        self._claim_pauses = self.policy.claim_pause.delays()

    def run_once(self) -> bool:
        """Claim and run one request; False when none was claimable (or claims are paused)."""
        if time.monotonic() < self.claims_paused_until:
            return False
        job = self.store.claim(self.worker_id, self.settings.lease_seconds, list(self.engines))
        if job is None:
            return False
        self.process(job)
        return True

    def drain(self) -> int:
        """Run requests until the queue is empty (tests: submit, drain, assert)."""
        count = 0
        while not self.shutdown.is_set() and self.run_once():
            count += 1
        return count

    def run(self, idle_wait: float = 0.1) -> None:
        """Run until ``shutdown`` is set, polling the store when idle."""
        failing: Iterator[float] | None = None  # pauses while claims fail
        while not self.shutdown.is_set():
            try:
                busy = self.run_once()
            except Exception as exc:
                # The store may be unavailable for a while; a worker must outlive that.
                fault = fault_of(exc)
                if fault is None or not fault.in_store:
                    logger.exception("worker %s: claim failed; retrying", self.worker_id)
                elif failing is None:
                    logger.warning(
                        "worker %s: the job store did not answer (%s: %s); retrying",
                        self.worker_id,
                        type(exc).__name__,
                        exc,
                    )
                failing = failing or self.policy.backoff.delays()
                self.shutdown.wait(next(failing))
                continue
            if failing is not None:
                logger.info("worker %s: the job store answers again", self.worker_id)
                failing = None
            if not busy:
                self.shutdown.wait(idle_wait)

    def process(self, job: Job) -> None:
        """Run one claimed request to completion, or hand it back to the queue."""
        keeper = LeaseKeeper(
            self.store,
            job.request_id,
            self.worker_id,
            self.settings.lease_seconds,
            self.settings.heartbeat_interval,
        )
        keeper.log(f"Started on {self.worker_id} (attempt {job.attempts})")
        started = time.monotonic()
        try:
            with keeper:
                outcome = self._attempt(job, keeper)
                self._record(job, keeper, outcome, started)
        except InfraError as exc:
            # Only a store still silent after a shutdown gets here: nothing more can be done.
            logger.warning(
                "request %s: %s; it runs again once its lease expires", job.request_id, exc
            )

    # -- running ---------------------------------------------------------------------------

    def _attempt(self, job: Job, keeper: LeaseKeeper) -> _Outcome:
        """Render the request and store its outputs; how that ended."""
        spec = ENDPOINTS[job.endpoint_id]
        engine = self.engines[job.endpoint_id]
        try:
            with tempfile.TemporaryDirectory(prefix="vidserve-") as tmp:
                ctx = _Context(Path(tmp), keeper, self.shutdown)
                request, notes, rendered = self._render(job, spec, engine, ctx)
                stored, keys = self._store_outputs(job, rendered, ctx)
                result, usage, measured = self._output(spec, request, notes, rendered, stored, job)
                return _Done(result, usage, measured, keys)
        except CancelledError:
            return _Stopped()
        except InputError as exc:
            return _Failed(str(exc), exc.error_type, exc.details)
        except InfraError as exc:
            return _HandBack(exc.fault)
        except EngineError as exc:
            # An engine in a child process reports a full disk by its error_type.
            full = exc.error_type == ErrorType.STORAGE_FULL
            fault = Fault.STORAGE_FULL if full else fault_of(exc)
            return _Failed(str(exc), exc.error_type) if fault is None else _HandBack(fault)
        except Exception as exc:
            fault = fault_of(exc)
            if fault is not None:  # a full disk under the engine: not the engine's fault
                logger.warning("request %s: %s (%s)", job.request_id, fault.what, exc)
                return _HandBack(fault)
            # An engine bug is data: the request fails, the worker lives.
            logger.exception("request %s failed", job.request_id)
            return _Failed(describe(exc), ErrorType.ENGINE)

    def _render(
        self, job: Job, spec: EndpointSpec, engine: Engine, ctx: _Context
    ) -> tuple[VideoRequest, list[str], RenderedVideo | RenderedAudio]:
        """Fetch and decode the inputs, and let the engine render: the request it was given,
        the adapter's notes, and the engine's output file."""
        inp = validate_input(spec, job.input)
        files: dict[tuple[str | int, ...], Any] = {}
        for item in spec.files(inp):
            ctx.check_cancelled()
            limits = self._limits_for(item.kind)
            data = fetch(
                item.url, item.loc, limits, lambda u, cap: self._read_own(job, ctx, u, cap)
            )
            files[item.loc] = decoded = _decode(item, data, ctx.workdir)
            where = ".".join(str(p) for p in item.loc[1:])
            ctx.log(f"Loaded {where}: {_describe(decoded)}")
        images = {loc: f for loc, f in files.items() if isinstance(f, np.ndarray)}
        spec.check_files(inp, {loc: (img.shape[1], img.shape[0]) for loc, img in images.items()})
        request, notes = spec.to_video_request(inp, files, engine.capabilities, engine.name)
        for note in notes:
            ctx.log(note, "WARN")
        ctx.check_cancelled()
        if request.fps:
            ctx.log(
                f"Rendering {request.width}x{request.height}, {request.num_frames} frames at "
                f"{request.fps} fps with the {engine.name} engine"
            )
        else:
            ctx.log(f"Synthesizing speech with the {engine.name} engine")
        return request, notes, engine.generate(request, ctx)

    def _store_outputs(
        self, job: Job, rendered: RenderedVideo | RenderedAudio, ctx: _Context
    ) -> tuple[StoredFile, list[str]]:
        """Store the output and, for a video, a thumbnail beside it (OpenAI's
        ``variant=thumbnail``); each write retried (under a key fixed up front) while the
        storage is worth waiting for. Whatever was stored is deleted again if this fails."""
        rid, keeper = job.request_id, ctx.keeper
        keys: list[str] = []
        try:
            key = new_key(rendered.path.name)
            stored = self._storage_call(
                keeper,
                f"request {rid}: storing its output",
                lambda: self.storage.put_file(
                    rendered.path,
                    content_type=rendered.content_type,
                    file_name=rendered.path.name,
                    key=key,
                ),
            )
            keys.append(stored.key)
            jpeg = thumbnail(rendered.path) if isinstance(rendered, RenderedVideo) else b""
            if jpeg is None:
                ctx.log("No thumbnail: the video's first frame does not decode", "WARN")
            elif jpeg:
                thumb = sibling_key(stored.key, THUMBNAIL_NAME)
                self._storage_call(
                    keeper,
                    f"request {rid}: storing its thumbnail",
                    lambda: self.storage.put_bytes(
                        jpeg, content_type="image/jpeg", file_name=THUMBNAIL_NAME, key=thumb
                    ),
                )
                keys.append(thumb)
            if job.output_lifetime is not None:
                # The housekeeper deletes them once expired (X-Fal-Object-Lifecycle-Preference).
                expires = time.time() + job.output_lifetime
                for k in keys:
                    self._store_call(
                        f"request {rid}: recording when {k} expires",
                        functools.partial(self.store.add_expiring_file, k, expires),
                    )
        except BaseException:
            self._discard(keys)
            raise
        self._claim_pauses = self.policy.claim_pause.delays()  # storage works again
        return stored, keys

    def _output(
        self,
        spec: EndpointSpec,
        request: VideoRequest,
        notes: list[str],
        rendered: RenderedVideo | RenderedAudio,
        stored: StoredFile,
        job: Job,
    ) -> tuple[dict[str, Any], Usage, dict[str, Any]]:
        """The output JSON, its usage, and what the store keeps beside it (a video's size)."""
        video = File(
            url=self.storage.url(stored.key, job.base_url),
            content_type=stored.content_type,
            file_name=stored.file_name,
            file_size=stored.size,
        )
        measured: dict[str, Any] = {}
        if isinstance(rendered, RenderedAudio):
            key, seconds = "audio", rendered.duration
        else:
            key, seconds = "video", rendered.num_frames / rendered.fps
            measured = {"width": rendered.width, "height": rendered.height, **rendered.metrics}
            notes = [*notes, *rendered.notes]
        listed = spec.price.with_audio if request.generate_audio else spec.price.per_second
        price = self.settings.prices.get(spec.endpoint_id, listed)
        cost = None if price is None else round(seconds * price, 6)
        usage = Usage(video_seconds=seconds, price_per_second=price, cost=cost)
        # The seed is echoed (fal does) so a result can be reproduced; each output model
        # takes the fields it declares (avatars also say how long they last).
        fields = {
            key: video,
            "seed": request.seed,
            "usage": usage,
            "warnings": notes or None,
            "duration": round(seconds, 3),
        }
        output: BaseModel = spec.output_model.model_validate(
            {k: v for k, v in fields.items() if k in spec.output_model.model_fields}
        )
        return output.model_dump(mode="json", exclude_none=True), usage, measured

    def _limits_for(self, kind: FileKind) -> FetchLimits:
        """Images and masks: the configured cap; audio 50 MB; videos fal's 100 MB, with 30 s
        to arrive."""
        if kind == "audio":
            return replace(self._limits, max_bytes=AUDIO_MAX_BYTES, media_types=("audio/",))
        if kind == "video":
            return replace(
                self._limits,
                max_bytes=VIDEO_MAX_BYTES,
                timeout=max(self._limits.timeout, VIDEO_FETCH_SECONDS),
                media_types=("video/",),
            )
        return self._limits

    def _read_own(self, job: Job, ctx: _Context, url: str, max_bytes: int) -> bytes | None:
        # A URL of this server's own files is read from storage, not fetched over HTTP.
        key = self.storage.key_from_url(url, [job.base_url])
        if key is None:
            return None
        return self._storage_call(
            ctx.keeper,
            f"request {job.request_id}: reading {key}",
            lambda: self.storage.read_bytes(key, max_bytes),
        )

    # -- telling the store -----------------------------------------------------------------

    def _record(self, job: Job, keeper: LeaseKeeper, outcome: _Outcome, started: float) -> None:
        if isinstance(outcome, _Done):
            self._complete(job, keeper, outcome, started)
        elif isinstance(outcome, _Failed):
            self._fail(job, keeper, outcome)
        elif isinstance(outcome, _HandBack):
            self._hand_back(job, keeper, outcome.fault)
        else:
            self._finish_stopped(job, keeper)

    def _complete(self, job: Job, keeper: LeaseKeeper, done: _Done, started: float) -> None:
        keeper.progress = 1.0
        elapsed = time.monotonic() - started
        keeper.log(f"Completed in {elapsed:.2f} s")
        completed = self._finish(
            job,
            keeper,
            result=done.result,
            metrics={"inference_time": round(elapsed, 3), **done.measured},
            video_seconds=done.usage.video_seconds,
            cost=done.usage.cost,
        )
        if not completed and not self._completed_with(job, done.result):
            logger.warning("request %s: lease lost; dropping its outputs", job.request_id)
            self._discard(done.keys)

    def _fail(self, job: Job, keeper: LeaseKeeper, failed: _Failed) -> None:
        keeper.log(failed.message, "ERROR")
        if not self._finish(
            job,
            keeper,
            error=failed.message,
            error_type=failed.error_type,
            error_detail=failed.detail,
        ):
            logger.warning("request %s: lease lost; its failure goes unrecorded", job.request_id)

    def _finish(self, job: Job, keeper: LeaseKeeper, **fields: Any) -> bool:
        """Store the log lines, then complete the request, each retried until the store
        answers; False when the request is no longer ours."""
        if not self._still_ours(job, keeper):
            return False
        rid = job.request_id
        done: bool = self._store_call(
            f"request {rid}: completing it",
            lambda: self.store.complete(rid, self.worker_id, **fields),
        )
        return done

    def _still_ours(self, job: Job, keeper: LeaseKeeper) -> bool:
        """One heartbeat now, retried until the store answers (after an outage the lease
        may have gone to another worker), then the log lines; whether the lease is ours."""
        rid = job.request_id
        if not keeper.lost:
            self._store_call(f"request {rid}: checking its lease", keeper.beat)
        if keeper.lost:
            keeper.flush_logs()  # drops them: they are not ours to add
            return False
        self._store_call(f"request {rid}: writing its log", keeper.flush_logs)
        return True

    def _completed_with(self, job: Job, result: dict[str, Any]) -> bool:
        """Whether the request is complete with ``result``: a complete() whose answer the
        connection lost, retried, finds its own work done."""
        rid = job.request_id
        current = self._store_call(f"request {rid}: reading it", lambda: self.store.get(rid))
        return current is not None and current.result == result

    def _hand_back(self, job: Job, keeper: LeaseKeeper, fault: Fault) -> None:
        if not fault.in_store:
            self._pause_claims(fault)
        note = f"{fault.what}; the request was handed back to the queue and runs again later"
        if self._release(job, keeper, note):
            logger.warning("request %s: %s; handed back to the queue", job.request_id, fault.what)

    def _finish_stopped(self, job: Job, keeper: LeaseKeeper) -> None:
        if keeper.lost:
            logger.warning("request %s: lease lost; dropping it", job.request_id)
        elif keeper.cancel_requested:
            keeper.log("Cancelled while running", "WARN")
            self._fail(job, keeper, _Failed("Request was cancelled", ErrorType.CANCELLED))
        else:
            # Shutdown: hand the request back so another worker (or the next start) runs it.
            self._release(job, keeper, "Worker stopping; request handed back")

    def _release(self, job: Job, keeper: LeaseKeeper, note: str) -> bool:
        """Log ``note`` and put the request back in the queue, no attempt spent; False when
        it is no longer ours."""
        rid = job.request_id
        keeper.log(note, "WARN")
        if not self._still_ours(job, keeper):
            return False
        released: bool = self._store_call(
            f"request {rid}: handing it back", lambda: self.store.release(rid, self.worker_id)
        )
        return released

    # -- riding out infrastructure trouble -------------------------------------------------

    def _store_call(self, what: str, call: Callable[[], T]) -> T:
        """``call()`` on the job store, retried until the store answers; once the worker is
        stopping, only for :attr:`RetryPolicy.shutdown_grace` more seconds."""
        stopping: list[float] = []

        def keep_going(fault: Fault, failing: float) -> bool:
            if not self.shutdown.is_set():
                return True
            stopping.append(time.monotonic())
            return stopping[-1] - stopping[0] < self.policy.shutdown_grace

        return retry(
            call, what=what, keep_going=keep_going, backoff=self.policy.backoff, sleep=self._sleep
        )

    def _storage_call(self, keeper: LeaseKeeper, what: str, call: Callable[[], T]) -> T:
        """``call()`` on file storage, retried while the lease is ours, the worker is not
        stopping and the storage is worth waiting for (:class:`RetryPolicy`)."""

        def keep_going(fault: Fault, failing: float) -> bool:
            full = fault is Fault.STORAGE_FULL
            patience = self.policy.full_patience if full else self.policy.storage_patience
            return failing < patience and keeper.lease_held and not self.shutdown.is_set()

        return retry(
            call,
            what=what,
            keep_going=keep_going,
            backoff=self.policy.backoff,
            sleep=self._sleep,
            storage=True,
        )

    def _sleep(self, seconds: float) -> None:
        # Cut short by a shutdown; once stopping, a plain sleep (the grace period's pauses).
        if self.shutdown.is_set():
            time.sleep(seconds)
        else:
            self.shutdown.wait(seconds)

    def _pause_claims(self, fault: Fault) -> None:
        """Claim nothing for a while: the next request would meet the same storage."""
        pause = next(self._claim_pauses)
        self.claims_paused_until = time.monotonic() + pause
        logger.warning(
            "worker %s: %s; not claiming requests for %.1f s",
            self.worker_id,
            fault.what.lower(),
            pause,
        )

    def _discard(self, keys: list[str]) -> None:
        """Delete stored outputs no request will name (best effort: storage may be down)."""
        for key in keys:
            try:
                self.storage.delete(key)
            except Exception as exc:
                logger.warning("could not delete %s (%s: %s)", key, type(exc).__name__, exc)
