"""The worker: the one place where a job, an engine and storage meet.

A worker claims a request with a lease, fetches and decodes its files, asks the endpoint's
adapter for a :class:`VideoRequest`, lets the engine render while a lease keeper heartbeats
and watches for cancellation, stores the MP4 and completes the request. A failure inside is
data: the request completes with ``error`` and ``error_type``; the worker goes on.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from vidserve.config import Settings
from vidserve.endpoints import ENDPOINTS, EndpointSpec, validate_input
from vidserve.endpoints.files import FileInput, FileKind
from vidserve.engines.base import Engine, RenderedAudio, RenderedVideo, RunContext
from vidserve.errors import CancelledError, EngineError, InputError
from vidserve.media.audio import Audio, decode_audio
from vidserve.media.fetch import FetchLimits, fetch
from vidserve.media.images import decode_image, decode_mask
from vidserve.media.video import thumbnail
from vidserve.media.video_input import LIPSYNC_VIDEO_RULES, check_video_input, open_video
from vidserve.schema import ErrorType, File, Usage
from vidserve.storage import FileStorage
from vidserve.storage.base import THUMBNAIL_NAME, sibling_key
from vidserve.store import Job, JobStore
from vidserve.worker.lease import LeaseKeeper

logger = logging.getLogger(__name__)

#: Largest audio input (a minute of WAV is about 10 MB); videos: fal's lipsync limit.
AUDIO_MAX_BYTES = 50 * 1024 * 1024
VIDEO_MAX_BYTES = 100 * 1024 * 1024
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
    """RunContext for one request: logs go to the store, progress and cancel to the keeper."""

    def __init__(
        self,
        store: JobStore,
        job: Job,
        workdir: Path,
        keeper: LeaseKeeper,
        shutdown: threading.Event,
    ) -> None:
        self.workdir = workdir
        self._store = store
        self._request_id = job.request_id
        self._keeper = keeper
        self._shutdown = shutdown

    def progress(self, fraction: float) -> None:
        self._keeper.progress = min(max(fraction, 0.0), 1.0)

    def log(self, message: str, level: str = "INFO") -> None:
        self._store.add_log(self._request_id, message, level)

    @property
    def cancelled(self) -> bool:
        return self._keeper.stop_requested or self._shutdown.is_set()


class Worker:
    """Claims and runs requests for the endpoints it has engines for."""

    def __init__(
        self,
        store: JobStore,
        storage: FileStorage,
        settings: Settings,
        engines: Mapping[str, Engine],
        *,
        worker_id: str | None = None,
        shutdown: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.storage = storage
        self.settings = settings
        self.engines = dict(engines)
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.shutdown = shutdown or threading.Event()
        self._limits = FetchLimits(
            settings.fetch_timeout, settings.max_input_bytes, settings.allow_hosts
        )

    def run_once(self) -> bool:
        """Claim and run one request; False when none was claimable."""
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
        while not self.shutdown.is_set():
            try:
                if not self.run_once():
                    self.shutdown.wait(idle_wait)
            except Exception:
                # The store may be briefly unavailable; a worker must outlive that.
                logger.exception("worker %s: claim failed; retrying", self.worker_id)
                self.shutdown.wait(1.0)

    def process(self, job: Job) -> None:
        """Run one claimed request to completion (or hand it back on shutdown)."""
        spec = ENDPOINTS[job.endpoint_id]
        engine = self.engines[job.endpoint_id]
        self.store.add_log(
            job.request_id, f"Started on {self.worker_id} (attempt {job.attempts})", "INFO"
        )
        started = time.monotonic()
        keeper = LeaseKeeper(
            self.store,
            job.request_id,
            self.worker_id,
            self.settings.lease_seconds,
            self.settings.heartbeat_interval,
        )
        with tempfile.TemporaryDirectory(prefix="vidserve-") as tmp, keeper:
            ctx = _Context(self.store, job, Path(tmp), keeper, self.shutdown)
            try:
                result, usage, measured = self._render(job, spec, engine, ctx)
            except CancelledError:
                self._finish_cancelled(job, keeper)
            except InputError as exc:
                self._fail(job, str(exc), exc.error_type, exc.details)
            except EngineError as exc:
                self._fail(job, str(exc), exc.error_type)
            except Exception as exc:
                # An engine bug is data: the request fails, the worker lives.
                logger.exception("request %s failed", job.request_id)
                self._fail(job, f"{type(exc).__name__}: {exc}", ErrorType.ENGINE)
            else:
                keeper.progress = 1.0
                elapsed = time.monotonic() - started
                self.store.add_log(job.request_id, f"Completed in {elapsed:.2f} s", "INFO")
                self.store.complete(
                    job.request_id,
                    self.worker_id,
                    result=result,
                    metrics={"inference_time": round(elapsed, 3), **measured},
                    video_seconds=usage.video_seconds,
                    cost=usage.cost,
                )

    def _render(
        self, job: Job, spec: EndpointSpec, engine: Engine, ctx: _Context
    ) -> tuple[dict[str, Any], Usage, dict[str, Any]]:
        """The output JSON, its usage, and what the store keeps beside it (a video's size)."""
        inp = validate_input(spec, job.input)
        files: dict[tuple[str | int, ...], Any] = {}
        for item in spec.files(inp):
            ctx.check_cancelled()
            limits = self._limits_for(item.kind)
            data = fetch(item.url, item.loc, limits, lambda u, cap: self._read_own(job, u, cap))
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
        rendered = engine.generate(request, ctx)
        stored = self.storage.put_file(
            rendered.path, content_type=rendered.content_type, file_name=rendered.path.name
        )
        keys = [stored.key]
        measured: dict[str, Any] = {}
        if isinstance(rendered, RenderedVideo):
            # A thumbnail beside the video (OpenAI's `variant=thumbnail`), and its size.
            measured = {"width": rendered.width, "height": rendered.height}
            jpeg = thumbnail(rendered.path)
            if jpeg is None:
                ctx.log("No thumbnail: the video's first frame does not decode", "WARN")
            else:
                thumb = self.storage.put_bytes(
                    jpeg,
                    content_type="image/jpeg",
                    file_name=THUMBNAIL_NAME,
                    key=sibling_key(stored.key, THUMBNAIL_NAME),
                )
                keys.append(thumb.key)
        if job.output_lifetime is not None:
            # The housekeeper deletes them once expired (X-Fal-Object-Lifecycle-Preference).
            for key in keys:
                self.store.add_expiring_file(key, time.time() + job.output_lifetime)
        video = File(
            url=self.storage.url(stored.key, job.base_url),
            content_type=stored.content_type,
            file_name=stored.file_name,
            file_size=stored.size,
        )
        if isinstance(rendered, RenderedAudio):
            key, seconds = "audio", rendered.duration
        else:
            key, seconds = "video", rendered.num_frames / rendered.fps
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

    def _read_own(self, job: Job, url: str, max_bytes: int) -> bytes | None:
        # A URL of this server's own files is read from storage, not fetched over HTTP.
        key = self.storage.key_from_url(url, [job.base_url])
        return None if key is None else self.storage.read_bytes(key, max_bytes)

    def _finish_cancelled(self, job: Job, keeper: LeaseKeeper) -> None:
        if keeper.lost:
            logger.warning("request %s: lease lost; dropping it", job.request_id)
        elif keeper.cancel_requested:
            self.store.add_log(job.request_id, "Cancelled while running", "WARN")
            self._fail(job, "Request was cancelled", ErrorType.CANCELLED)
        else:
            # Shutdown: hand the request back so another worker (or the next start) runs it.
            self.store.add_log(job.request_id, "Worker stopping; request handed back", "WARN")
            self.store.release(job.request_id, self.worker_id)

    def _fail(
        self,
        job: Job,
        message: str,
        error_type: str,
        detail: list[dict[str, Any]] | None = None,
    ) -> None:
        self.store.add_log(job.request_id, message, "ERROR")
        self.store.complete(
            job.request_id,
            self.worker_id,
            error=message,
            error_type=error_type,
            error_detail=detail,
        )
