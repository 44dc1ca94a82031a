"""Benchmark a fleet on one PostgreSQL: API processes answering status polls while simulated
workers drain a queue of 1k, 10k and 100k requests, so the figures show how cost grows with
the work waiting.

``bash bench/queue_setup.sh`` once, then ``.venv/bin/python bench/fleet.py`` (PostgreSQL at
``--pg-admin``, default ``postgresql://postgres@127.0.0.1:5432/postgres``; a throwaway
database per queue size, dropped afterwards). It prints a markdown table.

Per queue size N, on a fresh database:

1. N requests of a real endpoint are queued (inserted in SQL, then the queue's counters
   rebuilt: ``recount_queue``).
2. ``--apis`` API processes serve it (``create_app`` over a ``PostgresJobStore``, run by
   ``run_http`` as ``vidserve api`` runs them: httptools and uvloop where installed).
3. ``--workers`` simulated workers, threads spread over four processes, each a worker's
   loop over the store: claim, the engine (``--work`` seconds of sleep), two log lines,
   complete, and one new submission, so the queue stays at N while it moves.
4. Pollers (``bench/queue_status.py``'s open-loop poller, one process per API process)
   offer ``--polls`` status polls a second in all, over requests spread through the back
   half of the queue (their positions are computed on every poll while they wait).
5. For ``--duration`` seconds: claims a second, the claim call's p50 and p99 (what a free
   worker waits to start), polls answered and their p50/p99 (from each poll's scheduled
   time), errors, the cost of one status read of the last request in the queue (sampled in
   the orchestrator), and CPU in percent of one core of the API processes, the workers,
   the pollers and PostgreSQL.

Everything shares the machine's cores, so the figures are the machine's, not the design's
ceiling: read them as how each cost grows from 1k to 100k, and where the CPU goes.
"""

# ruff: noqa: E402, S608 - the src path must be set first; table names are constants
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))
sys.path.insert(0, str(BENCH))

import queue_status as qs

ENDPOINT = qs.ENDPOINT
SIZES = (1_000, 10_000, 100_000)
WORKER_PROCESSES = 4

FILL = """
INSERT INTO vidserve_requests (request_id, endpoint_id, input, base_url, status, created_at)
SELECT 'q' || n, %(endpoint)s, %(input)s, 'http://127.0.0.1', 'IN_QUEUE', n
FROM generate_series(1, %(n)s) AS s(n)
"""


def fill(dsn: str, size: int) -> None:
    """``size`` queued requests, and their counters."""
    import psycopg
    from psycopg.types.json import Jsonb

    from vidserve.store.postgres import PostgresJobStore

    store = PostgresJobStore(dsn)  # the schema
    body = {"prompt": "a lighthouse at dusk", "image_url": "https://example.com/a.jpg"}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(FILL, {"endpoint": ENDPOINT, "input": Jsonb(body), "n": size})
        store.recount_queue()
        store.close()
        conn.execute("VACUUM ANALYZE vidserve_requests")


# -- the simulated workers (child processes) -------------------------------------------------


def work(dsn: str, threads: int, seconds: float, duration: float, warmup: float) -> None:
    """``threads`` worker loops on one store for ``warmup + duration`` seconds; prints the
    window's claim calls as JSON: each one's latency, and whether it found a request."""
    from vidserve.store import NewJob
    from vidserve.store.postgres import PostgresJobStore

    store = PostgresJobStore(dsn, pool_size=threads)
    start = time.monotonic()
    window = (start + warmup, start + warmup + duration)
    calls: list[tuple[float, bool]] = []
    lock = threading.Lock()
    body = {"prompt": "a lighthouse at dusk", "image_url": "https://example.com/a.jpg"}

    def loop(name: str) -> None:
        while time.monotonic() < window[1]:
            asked = time.monotonic()
            job = store.claim(name, 60.0)
            took = time.monotonic() - asked
            if window[0] <= asked < window[1]:
                with lock:
                    calls.append((took, job is not None))
            if job is None:
                time.sleep(0.05)
                continue
            time.sleep(seconds)  # the engine
            now = time.time()
            store.add_logs(job.request_id, [(now, "INFO", "rendering"), (now, "INFO", "done")])
            store.complete(job.request_id, name, result={"video": {}}, metrics={})
            # The next arrival: the queue keeps its size.
            store.create(NewJob(str(uuid.uuid4()), ENDPOINT, body, "http://127.0.0.1"))

    names = [f"w{os.getpid()}-{i}" for i in range(threads)]
    runners = [threading.Thread(target=loop, args=(name,)) for name in names]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    store.close()
    print(json.dumps({"calls": calls}))


# -- the orchestrator ------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    return qs.pct(values, q)


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def processes_cpu(pids: list[int]) -> float:
    """CPU seconds so far of ``pids`` (all their threads)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def postgres_cpu() -> float:
    return qs.cpu_now(os.getpid())[3]


def position_cost(dsn: str, request_id: str, until: float) -> list[float]:
    """Microseconds of one status read of ``request_id``, sampled every 0.2 s."""
    from vidserve.store.postgres import PostgresJobStore

    store = PostgresJobStore(dsn, pool_size=1)
    found: list[float] = []
    try:
        while time.monotonic() < until:
            began = time.perf_counter()
            store.status_views([(request_id, None)])
            found.append((time.perf_counter() - began) * 1e6)
            time.sleep(0.2)
    finally:
        store.close()
    return found


def bench_size(size: int, args: argparse.Namespace, tmp: Path, dsn: str) -> dict[str, Any]:
    fill(dsn, size)
    folder = tmp / f"n{size}"
    folder.mkdir()
    ports = [qs.free_port() for _ in range(args.apis)]
    back = [f"q{size // 2 + i * (size // 2) // args.paths}" for i in range(args.paths)]
    paths = [f"/queue/{qs.APP}/requests/{rid}/status" for rid in back]
    paths_file = folder / "paths.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    apis = []
    for i, port in enumerate(ports):
        data = folder / f"api{i}"
        data.mkdir()
        apis.append(start([str(BENCH / "queue_status.py"), "--serve", "postgres", str(port),
                           str(data), dsn], folder / f"api{i}.log"))  # fmt: skip
    children: list[subprocess.Popen[bytes]] = list(apis)
    try:
        for i, (api, port) in enumerate(zip(apis, ports, strict=True)):
            qs.wait_ready(api, port, paths[0], folder / f"api{i}.log")
        per = [args.workers // WORKER_PROCESSES + (i < args.workers % WORKER_PROCESSES)
               for i in range(WORKER_PROCESSES)]  # fmt: skip
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--work-process",
                    dsn,
                    str(n),
                    str(args.work),
                    str(args.duration),
                    str(args.warmup),
                ],
                stdout=subprocess.PIPE,
                start_new_session=True,
            )  # fmt: skip
            for n in per
            if n
        ]
        children += workers
        time.sleep(args.warmup)
        rate = args.polls / args.apis / args.pollers_per_api
        pollers = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(BENCH / "queue_status.py"),
                    "--poll",
                    str(port),
                    str(paths_file),
                    "--pollers",
                    str(args.pollers_per_api),
                    "--hz",
                    f"{rate:g}",
                    "--duration",
                    str(args.duration),
                ],
                stdout=subprocess.PIPE,
                start_new_session=True,
            )  # fmt: skip
            for port in ports
        ]
        children += pollers
        began = time.monotonic()
        cpu0 = (processes_cpu([p.pid for p in apis]), processes_cpu([p.pid for p in workers]),
                processes_cpu([p.pid for p in pollers]), postgres_cpu())  # fmt: skip
        costs = position_cost(dsn, f"q{size}", began + args.duration)
        cpu1 = (processes_cpu([p.pid for p in apis]), processes_cpu([p.pid for p in workers]),
                processes_cpu([p.pid for p in pollers]), postgres_cpu())  # fmt: skip
        elapsed = time.monotonic() - began
        polls = [json.loads(p.communicate(timeout=120)[0].decode().strip().splitlines()[-1])
                 for p in pollers]  # fmt: skip
        calls: list[tuple[float, bool]] = []
        for w in workers:
            calls += json.loads(w.communicate(timeout=120)[0].decode().splitlines()[-1])["calls"]
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(10)
    cpu = [100 * (b - a) / elapsed for a, b in zip(cpu0, cpu1, strict=True)]
    taken = [took for took, found in calls if found]
    return {
        "size": size,
        "claims_per_s": len(taken) / args.duration,
        "idle_claims": len(calls) - len(taken),
        "claim_p50_ms": pct(taken, 50) * 1e3,
        "claim_p99_ms": pct(taken, 99) * 1e3,
        "polls_per_s": sum(p["rps"] for p in polls),
        "poll_p50_ms": statistics.median(p["p50_ms"] for p in polls),
        "poll_p99_ms": max(p["p99_ms"] for p in polls),
        "poll_errors": sum(p["errors"] + p["unsent"] for p in polls),
        "position_us": statistics.median(costs) if costs else float("nan"),
        "cpu_api": cpu[0],
        "cpu_workers": cpu[1],
        "cpu_pollers": cpu[2],
        "cpu_postgres": cpu[3],
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| queued | claims/s | claim p50 | claim p99 | polls/s | poll p50 | poll p99 | errors "
        "| status read of the last | idle claims | CPU: API | workers | pollers | postgres |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['size']:,} | {r['claims_per_s']:.0f} | {r['claim_p50_ms']:.1f} ms "
            f"| {r['claim_p99_ms']:.1f} ms | {r['polls_per_s']:.0f} | {r['poll_p50_ms']:.1f} ms "
            f"| {r['poll_p99_ms']:.1f} ms | {r['poll_errors']:.0f} | {r['position_us']:.0f} µs "
            f"| {r['idle_claims']} | {r['cpu_api']:.0f} % | {r['cpu_workers']:.0f} % "
            f"| {r['cpu_pollers']:.0f} % | {r['cpu_postgres']:.0f} % |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--apis", type=int, default=4)
    ap.add_argument("--workers", type=int, default=64)
    ap.add_argument("--work", type=float, default=0.05, help="seconds of engine per request")
    ap.add_argument("--polls", type=float, default=2000, help="status polls a second, in all")
    ap.add_argument("--pollers-per-api", type=int, default=50)
    ap.add_argument("--paths", type=int, default=500, help="requests the pollers poll")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--work-process", nargs=5, dest="work_args", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.work_args:
        dsn, threads, seconds, duration, warmup = args.work_args
        return work(dsn, int(threads), float(seconds), float(duration), float(warmup))
    results = []
    with tempfile.TemporaryDirectory(prefix="vidserve-fleet-") as tmp:
        for n, size in enumerate(args.sizes):
            print(f"{size:,} queued ...", file=sys.stderr)
            with qs.throwaway_db(args.pg_admin, 100 + n) as dsn:
                results.append(bench_size(size, args, Path(tmp), dsn))
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return None


if __name__ == "__main__":
    main()
