"""Engines in a child process: if a model crashes or runs out of memory there, the request
ends with an ``error_type`` and the worker lives on.

:class:`ChildEngine` is an :class:`Engine` like any other to the worker. It pickles the real
engine (configured, not yet loaded) into a process started with ``spawn`` (a fork would copy
torch's threads and CUDA state), which loads it and then serves one request at a time. The
two sides speak a small typed protocol over two one-way pipes::

    parent -> child   Generate(request, workdir) | Cancel() | Shutdown()
    child -> parent   Ready(seconds) | Log(message, level) | Progress(fraction)
                      | Done(video) | Cancelled(message) | Failed(message, error_type, fatal)

The child writes the MP4 into the request's work directory itself, so no frames cross the
pipe. A child that dies (a segfault, the kernel's OOM killer) or reports a fatal failure
(out of memory) is replaced; the request it ran fails with ``engine_crashed`` or
``out_of_memory``. A full disk is reported as ``storage_full``: the worker hands the request
back rather than fail it. A cancel is passed on as :class:`Cancel`; a child that has not stopped
within ``cancel_timeout`` seconds (one denoising step of a big model can take that long) is
killed and replaced.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.util
import os
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, NoReturn

from vidserve.engines.base import Engine, RenderedAudio, RenderedVideo, RunContext, VideoRequest
from vidserve.engines.diffusers.common import OFFLINE_ENV
from vidserve.errors import CancelledError, EngineError
from vidserve.faults import Fault, describe, fault_of
from vidserve.schema import ErrorType

logger = logging.getLogger(__name__)


# --- the protocol -----------------------------------------------------------------------


@dataclass(frozen=True)
class Generate:
    """Render ``request`` into the folder ``workdir``."""

    request: VideoRequest
    workdir: str


@dataclass(frozen=True)
class Cancel:
    """Stop the running request (at the next denoising step or frame)."""


@dataclass(frozen=True)
class Shutdown:
    """Exit once the running request, if any, has ended."""


@dataclass(frozen=True)
class Ready:
    """The engine loaded in ``seconds``; requests may come."""

    seconds: float


@dataclass(frozen=True)
class Log:
    """A log line for the running request."""

    message: str
    level: str = "INFO"


@dataclass(frozen=True)
class Progress:
    """Progress of the running request in [0, 1]."""

    fraction: float


@dataclass(frozen=True)
class Done:
    """The request rendered ``video``."""

    video: RenderedVideo | RenderedAudio


@dataclass(frozen=True)
class Cancelled:
    """The request stopped on a :class:`Cancel`."""

    message: str


@dataclass(frozen=True)
class Failed:
    """The request (or loading) failed; ``fatal``: the child exits and must be replaced."""

    message: str
    error_type: str
    fatal: bool = False


Event = Ready | Log | Progress | Done | Cancelled | Failed


# --- the parent side ----------------------------------------------------------------------


class ChildEngine(Engine):
    """Runs ``engine`` in a child process; see the module docstring.

    ``preload``: start the child (and so load the model) now, and again right after a crash,
    rather than when a request comes.
    """

    def __init__(
        self, engine: Engine, *, cancel_timeout: float = 120.0, preload: bool = True
    ) -> None:
        self.engine = engine
        self.name = engine.name
        # What the wrapped engine (its weights folder) can honour: known without loading it.
        self.capabilities = engine.capabilities
        self.cancel_timeout = cancel_timeout
        self.preload = preload
        #: How many children were started (1 + restarts), for tests and logs.
        self.starts = 0
        self._mp = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process: Any = None
        self._commands: Connection | None = None
        self._events: Connection | None = None
        self._ready = False
        if preload:
            self.start()

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return None if self._process is None else int(self._process.pid)

    def start(self) -> None:
        """Start a child (replacing a dead one); it loads the engine in the background."""
        if self._process is not None:
            if self._process.is_alive():
                return
            logger.warning(
                "%s engine: the idle child process had exited (code %s); starting another",
                self.name,
                self._process.exitcode,
            )
        self._discard()
        child_commands, commands = self._mp.Pipe(duplex=False)
        events, child_events = self._mp.Pipe(duplex=False)
        process = self._mp.Process(
            target=serve,
            args=(self.engine, child_commands, child_events),
            name=f"vidserve-{self.name}",
            daemon=True,
        )
        process.start()
        # The child holds its own copies; closing ours lets EOF reach each side on death.
        child_commands.close()
        child_events.close()
        self._process, self._commands, self._events = process, commands, events
        self._ready = False
        self.starts += 1
        logger.info("%s engine: started child process %s", self.name, process.pid)

    def generate(self, request: VideoRequest, ctx: RunContext) -> RenderedVideo | RenderedAudio:
        """Render ``request`` in the child; EngineError if it fails or dies."""
        with self._lock:
            self.start()
            if not self._ready:
                self._await_ready(ctx)
            self._send(Generate(request, str(ctx.workdir)))
            return self._follow(ctx)

    def close(self) -> None:
        """Ask the child to exit; kill it if it will not (or is still loading, when it could
        not read the request to exit)."""
        process = self._process
        if process is not None and process.is_alive():
            if self._ready:
                with contextlib.suppress(OSError):
                    if self._commands is not None:
                        self._commands.send(Shutdown())
                process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
        self._discard()

    def _await_ready(self, ctx: RunContext) -> None:
        while True:
            event = self._next_event(0.1)
            if event is None:
                # A cancel while the model loads: the load goes on for the next request.
                ctx.check_cancelled()
            elif isinstance(event, Ready):
                self._ready = True
                ctx.log(f"{self.name}: engine loaded in {event.seconds:.1f} s")
                return
            elif isinstance(event, Failed):
                # Loading failed and the child exited; the next request tries again.
                self._reap()
                raise EngineError(event.message, event.error_type)
            else:
                self._forward(event, ctx)

    def _follow(self, ctx: RunContext) -> RenderedVideo | RenderedAudio:
        cancel_sent: float | None = None
        while True:
            if cancel_sent is None and ctx.cancelled:
                cancel_sent = time.monotonic()
                self._send(Cancel())
            if cancel_sent is not None and time.monotonic() - cancel_sent > self.cancel_timeout:
                logger.warning(
                    "%s engine: no stop %.0f s after a cancel; killing the child",
                    self.name,
                    self.cancel_timeout,
                )
                self._kill_and_replace()
                raise CancelledError("cancelled (the engine process was restarted)")
            event = self._next_event(0.05)
            if isinstance(event, Done):
                return event.video
            if isinstance(event, Cancelled):
                raise CancelledError(event.message)
            if isinstance(event, Failed):
                if event.fatal:
                    self._replace()
                raise EngineError(event.message, event.error_type)
            if event is not None:
                self._forward(event, ctx)

    def _send(self, message: Generate | Cancel) -> None:
        try:
            if self._commands is None:
                raise OSError("no child")
            self._commands.send(message)
        except OSError:
            raise self._crashed() from None

    def _forward(self, event: Event, ctx: RunContext) -> None:
        if isinstance(event, Log):
            ctx.log(event.message, event.level)
        elif isinstance(event, Progress):
            ctx.progress(event.fraction)

    def _next_event(self, timeout: float) -> Event | None:
        """The child's next event, None after ``timeout``; a dead child raises."""
        events, process = self._events, self._process
        if events is None or process is None:
            raise self._crashed()
        ready = wait([events, process.sentinel], timeout)
        # Read what the child sent before it died, then report the death.
        if events in ready or events.poll():
            try:
                event: Event = events.recv()
            except (EOFError, OSError):
                raise self._crashed() from None
            return event
        if process.sentinel in ready:
            raise self._crashed()
        return None

    def _crashed(self) -> EngineError:
        """Reap a dead child, start its replacement, and say what happened."""
        process = self._process
        if process is not None:
            process.join(5)
        code = None if process is None else process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            how = f"was killed by {name}"
            if -code == signal.SIGKILL:
                how += " (the kernel's OOM killer sends it when memory runs out)"
        else:
            how = f"exited with code {code}"
        logger.error("%s engine: the child process %s", self.name, how)
        self._replace()
        return EngineError(
            f"the {self.name} engine's process {how}; it has been restarted",
            ErrorType.ENGINE_CRASHED,
        )

    def _kill_and_replace(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._replace()

    def _replace(self) -> None:
        self._reap()
        if self.preload:
            self.start()

    def _reap(self) -> None:
        if self._process is not None:
            self._process.join(5)
        self._discard()

    def _discard(self) -> None:
        for conn in (self._commands, self._events):
            if conn is not None:
                conn.close()
        self._process = self._commands = self._events = None
        self._ready = False


# --- the child side -----------------------------------------------------------------------


class _ChildContext(RunContext):
    """The RunContext a child's engine sees: everything becomes an event to the parent."""

    def __init__(self, events: Connection, cancel: threading.Event, workdir: str) -> None:
        self.workdir = Path(workdir)
        self._events = events
        self._cancel = cancel

    def progress(self, fraction: float) -> None:
        self._events.send(Progress(fraction))

    def log(self, message: str, level: str = "INFO") -> None:
        self._events.send(Log(message, level))

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


def serve(engine: Engine, commands: Connection, events: Connection) -> None:
    """The child's main: load ``engine``, then run requests until told to stop."""
    # Ctrl-C reaches the whole process group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(OFFLINE_ENV)
    started = time.monotonic()
    try:
        load = getattr(engine, "load", None)
        if load is not None:
            load()
    except BaseException as exc:
        traceback.print_exc()
        events.send(Failed(f"{engine.name}: loading failed: {exc}", "engine_load_error", True))
        return
    events.send(Ready(time.monotonic() - started))
    cancel = threading.Event()
    inbox: queue.Queue[Generate | Shutdown] = queue.Queue()
    threading.Thread(target=_read, args=(commands, cancel, inbox), daemon=True).start()
    while True:
        message = inbox.get()
        if isinstance(message, Shutdown):
            _exit_now()
        event = _run(engine, message, cancel, events)
        events.send(event)
        if isinstance(event, Failed) and event.fatal:
            return


def _exit_now() -> NoReturn:
    """Exit without the interpreter's teardown: everything was sent, and unwinding torch's
    and CUDA's state takes seconds that a stopping worker would wait for. multiprocessing's
    own finalizers still run (they release the semaphores the libraries made)."""
    multiprocessing.util._exit_function()  # type: ignore[attr-defined]
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _read(commands: Connection, cancel: threading.Event, inbox: queue.Queue[Any]) -> None:
    """Hand the parent's commands to the main thread; a Cancel takes effect at once."""
    while True:
        try:
            message = commands.recv()
        except (EOFError, OSError):
            # The parent is gone: stop what runs and exit.
            cancel.set()
            inbox.put(Shutdown())
            return
        if isinstance(message, Cancel):
            cancel.set()
        else:
            # In order: a Cancel sent after this Generate comes after this clear.
            cancel.clear()
            inbox.put(message)
            if isinstance(message, Shutdown):
                return


def _run(engine: Engine, message: Generate, cancel: threading.Event, events: Connection) -> Event:
    ctx = _ChildContext(events, cancel, message.workdir)
    try:
        return Done(engine.generate(message.request, ctx))
    except CancelledError as exc:
        return Cancelled(str(exc))
    except EngineError as exc:
        return Failed(str(exc), exc.error_type, fatal=exc.error_type == ErrorType.OUT_OF_MEMORY)
    except Exception as exc:
        if _out_of_memory(exc):
            return Failed(f"out of memory: {exc}", ErrorType.OUT_OF_MEMORY, fatal=True)
        traceback.print_exc()
        if fault_of(exc) is Fault.STORAGE_FULL:  # the work directory's disk: not the engine's
            return Failed(Fault.STORAGE_FULL.what, ErrorType.STORAGE_FULL)
        return Failed(describe(exc), ErrorType.ENGINE)


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
