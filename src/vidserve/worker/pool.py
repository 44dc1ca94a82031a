"""In-process workers: N threads, each a :class:`Worker` with its own engines.

Which engine serves which endpoint comes from the engines configuration
(:mod:`vidserve.engines.config`: ``VIDSERVE_ENGINES_CONFIG`` and friends; the motion engine on
every endpoint without one). Engines are built, and their weights folders checked, when the
pool is made, so a bad configuration fails the start with a :class:`ConfigError`. Engines that
run model code are hosted in child processes (:class:`ChildEngine`); each worker has its own
(one child per worker and engine: run one worker per GPU).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Mapping

from vidserve.config import Settings
from vidserve.endpoints import ENDPOINTS
from vidserve.engines.base import Engine
from vidserve.engines.config import EnginesConfig, EngineSpec, load_engines_config
from vidserve.engines.registry import create_engine
from vidserve.errors import ConfigError
from vidserve.serving import Route, engine_spec_for, plan_routes
from vidserve.storage import FileStorage
from vidserve.store import JobStore
from vidserve.worker.child import ChildEngine
from vidserve.worker.runner import Worker

logger = logging.getLogger(__name__)


def create_engines(
    endpoint_ids: Collection[str] | None = None, config: EnginesConfig | None = None
) -> dict[str, Engine]:
    """An engine for each of ``endpoint_ids`` (default: every endpoint the configuration
    serves), as ``config`` (default: read from the environment) says; endpoints that share an
    engine table share one instance. ConfigError for an unknown endpoint or engine, unusable
    weights, an endpoint mapped to an engine that cannot make its kind, or an endpoint asked
    for that the configuration does not serve."""
    config = load_engines_config() if config is None else config
    unknown = sorted(set(config.endpoints) - set(ENDPOINTS))
    if unknown:
        raise ConfigError(
            f"{config.source}: unknown endpoint id(s) {', '.join(unknown)}; served: "
            f"{', '.join(sorted(ENDPOINTS))}"
        )
    wanted = list(ENDPOINTS if endpoint_ids is None else endpoint_ids)
    specs = {e: engine_spec_for(config, e) for e in wanted}
    used = {spec.name: spec for spec in specs.values()}
    for name in sorted(set(config.engines) - set(used)):
        # Checked though unused here (another worker may serve it): a typo fails every start.
        spec = config.engines[name]
        create_engine(spec.engine, spec.weights, spec.options).close()
    built: dict[str, Engine] = {}
    try:
        for name in sorted(used):
            built[name] = build_engine(used[name])
        routes = plan_routes(
            config, lambda spec: built[spec.name].capabilities if spec.name in built else None
        )
        refused = [routes[e].reason for e in wanted if endpoint_ids and not routes[e].served]
        if refused:
            raise ConfigError("; ".join(str(reason) for reason in refused))
    except BaseException:
        close_engines(built.values())
        raise
    return {
        endpoint_id: built[specs[endpoint_id].name]
        for endpoint_id in wanted
        if routes[endpoint_id].served
    }


def engine_routes(config: EnginesConfig, engines: Mapping[str, Engine]) -> dict[str, Route]:
    """Every catalog endpoint's route as a worker's ``engines`` (endpoint -> engine, from
    :func:`create_engines`) serve it: with the built engine's own capabilities."""
    routes = plan_routes(config)
    for endpoint_id, route in routes.items():
        engine = engines.get(endpoint_id)
        if engine is not None:
            routes[endpoint_id] = Route(endpoint_id, route.engine, engine.capabilities)
        elif route.served:
            reason = f"this process's workers do not serve {endpoint_id}"
            routes[endpoint_id] = Route(endpoint_id, None, None, reason)
    return routes


def build_engine(spec: EngineSpec) -> Engine:
    """The engine ``spec`` configures, in a child process when it is isolated."""
    engine = create_engine(spec.engine, spec.weights, spec.options)
    if not spec.isolated:
        return engine
    where = f" from {spec.weights}" if spec.weights else ""
    logger.info("engine %s (%s%s) runs in a child process", spec.name, spec.engine, where)
    return ChildEngine(engine, cancel_timeout=spec.cancel_timeout, preload=spec.preload)


def close_engines(engines: Collection[Engine]) -> None:
    """Close each engine once (several endpoints may share one)."""
    for engine in {id(e): e for e in engines}.values():
        try:
            engine.close()
        except Exception:
            logger.exception("closing engine %s failed", engine.name)


class WorkerPool:
    """Starts ``count`` worker threads; ``stop`` hands running requests back to the queue.

    ``endpoint_ids`` limits what the workers claim (default: every endpoint)."""

    def __init__(
        self,
        store: JobStore,
        storage: FileStorage,
        settings: Settings,
        count: int,
        endpoint_ids: Collection[str] | None = None,
    ) -> None:
        self.shutdown = threading.Event()
        config = load_engines_config()
        self.workers: list[Worker] = []
        try:
            for _ in range(count):
                engines = create_engines(endpoint_ids, config)
                self.workers.append(
                    Worker(store, storage, settings, engines, shutdown=self.shutdown)
                )
        except BaseException:
            for worker in self.workers:
                close_engines(list(worker.engines.values()))
            raise
        self._threads = [
            threading.Thread(target=w.run, name=w.worker_id, daemon=True) for w in self.workers
        ]
        #: How this pool serves each endpoint (what the API of ``vidserve serve`` accepts).
        self.routes = (
            engine_routes(config, self.workers[0].engines) if self.workers else plan_routes(config)
        )

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        logger.info("started %d worker(s)", len(self._threads))

    def stop(self, timeout: float = 10.0) -> None:
        self.shutdown.set()
        for thread in self._threads:
            thread.join(timeout)
        for worker in self.workers:
            close_engines(list(worker.engines.values()))
