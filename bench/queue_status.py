"""Benchmark the queue status route against a bare uvicorn endpoint, in the same run.

Run ``bash bench/queue_setup.sh`` once (wrk), then ``.venv/bin/python bench/queue_status.py``. It
prints markdown tables; ``bench/README.md`` holds the figures of the last run.

Servers, one process each, one uvicorn worker, access log off, on 127.0.0.1: ``sqlite``
(``create_app`` over a ``SQLiteJobStore`` in a temporary folder), ``postgres`` (over a
``PostgresJobStore`` on a throwaway database, dropped afterwards), both started by
``run_http`` as ``vidserve api`` starts them, and ``bare``, the peer: a plain Starlette route
on the same path answering a constant status body of the same shape and size (202,
``X-Fal-Request-Id``), through the same uvicorn.
Each store holds 1000 requests of a real endpoint before its server starts: 500 IN_QUEUE,
200 IN_PROGRESS (claimed), 300 COMPLETED (claimed, logged, completed). No worker runs.
Polls go over all of them, shuffled: half are IN_QUEUE, whose ``queue_position`` (0..499)
is counted on every poll.

Load comes from other processes:

1. Throughput: ``wrk`` (C, epoll, one thread), 32 keep-alive connections, a Lua script
   rotating over the 1000 status paths; 2 s of warm-up, then ``--duration`` seconds. A
   closed loop: req/s is the figure; latency is per answered request.
2. Pollers: 200 asyncio tasks in one Python process (raw streams, one keep-alive
   connection each), each polling its own request at 10 Hz with phases spread evenly
   (2000 req/s offered). Open loop: latency runs from each poll's *scheduled* time, so a
   slow answer also counts against the polls behind it (no coordinated omission). A poller
   behind schedule gives up ``GRACE`` s after the window; its unsent polls count as later
   than that. Achieved req/s counts 2xx answers within the window; errors are non-2xx,
   resets and 5 s timeouts. "Service" latency is send to answer.

The generators' limits are measured, not assumed: per phase, the CPU of the server, of the
generator (``RUSAGE_CHILDREN``), of postgres processes and of everything else on the
machine (``/proc/stat``), and the poller's scheduling lag (send time less the later of
schedule and previous answer). The bare row at 200x10 Hz is the poller's ceiling. Everything
shares the machine's cores, as a one-box deployment would. A virtual machine's speed drifts
with its neighbours' load (the bare rate moves by up to 1.5x between rounds here), so
``--rounds`` repeats the whole run, servers one after another within each round, and the
ratio to bare is taken within each round: the tables give the median over rounds of each
figure and of each ratio, and every round's ratios and p99s (``--settle`` first waits for a
quiet machine before each server).
"""

# ruff: noqa: E402 - the src path must be set before vidserve's imports
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

ENDPOINT = "fal-ai/kling-video/v1.6/pro/image-to-video"
APP = "fal-ai/kling-video"  # fal's status paths carry owner/alias only
KINDS = ("bare", "sqlite", "postgres")
#: Appended to a server's name (``--plain``): the same server on uvicorn's pure-Python stack,
#: h11 and asyncio's own loop, instead of httptools and uvloop (``uvicorn[standard]``).
PLAIN = "+h11"


def split_kind(kind: str) -> tuple[str, bool]:
    """A server's base kind, and whether it runs on the plain stack."""
    return kind.removesuffix(PLAIN), kind.endswith(PLAIN)
POPULATION = {"IN_QUEUE": 500, "IN_PROGRESS": 200, "COMPLETED": 300}
GRACE = 2.0  # seconds a poller goes on after its window to send the polls it is behind on
WRK_LUA = """
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(s, lat, req)
  local e = s.errors
  io.write(string.format('\\n{"requests": %d, "duration_us": %d, "p50_us": %d, ' ..
    '"p99_us": %d, "errors": %d}\\n', s.requests, s.duration, lat:percentile(50),
    lat:percentile(99), e.connect + e.read + e.write + e.timeout + e.status))
end
"""


# -- servers (child processes) ---------------------------------------------------------


def bare_app(port: int) -> Any:
    """The peer: a constant IN_PROGRESS status body, shaped as vidserve's."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    rid = str(uuid.uuid4())
    root = f"http://127.0.0.1:{port}/queue/{APP}/requests/{rid}"
    body = {"status": "IN_PROGRESS", "request_id": rid, "response_url": root,
            "status_url": f"{root}/status", "cancel_url": f"{root}/cancel", "logs": None,
            "progress": 0.0}  # fmt: skip

    async def status(request: Any) -> JSONResponse:
        return JSONResponse(body, status_code=202, headers={"X-Fal-Request-Id": rid})

    return Starlette(routes=[Route("/queue/{app:path}/requests/{rid}/status", status)])


def open_store(kind: str, url: str) -> Any:
    if kind == "postgres":
        from vidserve.store.postgres import PostgresJobStore

        return PostgresJobStore(url)
    from vidserve.store.sqlite import SQLiteJobStore

    return SQLiteJobStore(url)


def serve(kind: str, port: str, data: str, store_url: str) -> None:
    kind, plain = split_kind(kind)
    options: dict[str, Any] = {"access_log": False, "log_level": "warning"}
    if plain:
        options.update(http="h11", loop="asyncio")
    if kind == "bare":
        import uvicorn

        uvicorn.run(bare_app(int(port)), host="127.0.0.1", port=int(port), **options)
        return
    from vidserve.api.app import create_app
    from vidserve.cli.serve import run_http
    from vidserve.config import Settings
    from vidserve.storage.local import LocalStorage

    settings = Settings(port=int(port), data_dir=Path(data), secret=secrets.token_hex(16))
    app = create_app(settings, open_store(kind, store_url), LocalStorage(Path(data) / "files"))
    run_http(app, "127.0.0.1", int(port), **options)  # as vidserve api runs it


def populate(store: Any, base: str) -> list[str]:
    """POPULATION's requests, created, claimed and completed as a worker would; their ids
    shuffled."""
    from vidserve.endpoints import ENDPOINTS, validate_input
    from vidserve.store import NewJob

    inp = validate_input(ENDPOINTS[ENDPOINT], {
        "prompt": "A slow push-in on a lighthouse at dusk, waves breaking on the rocks below, "
                  "gulls circling, warm light in the lantern room, cinematic, 35 mm film",
        "image_url": "https://example.com/uploads/lighthouse-at-dusk-1920x1280.jpg",
        "duration": "5"}).model_dump(mode="json")  # fmt: skip
    ids = [str(uuid.uuid4()) for _ in range(sum(POPULATION.values()))]
    for rid in ids:
        store.create(NewJob(request_id=rid, endpoint_id=ENDPOINT, input=inp, base_url=base))
    running = POPULATION["IN_PROGRESS"] + POPULATION["COMPLETED"]
    claimed = [store.claim("bench-worker", 3600.0) for _ in range(running)]
    for job in claimed[: POPULATION["COMPLETED"]]:
        video = {"url": f"{base}/files/ab12/{job.request_id}.mp4", "content_type": "video/mp4",
                 "file_name": "output.mp4", "file_size": 2_345_678}  # fmt: skip
        store.add_log(job.request_id, "Rendering 150 frames at 1280x720")
        store.complete(job.request_id, "bench-worker", result={"video": video},
                       metrics={"inference_time": 4.2})  # fmt: skip
    random.Random(7).shuffle(ids)
    return ids


# -- the poller (child process) ----------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0


async def _poller(port: int, paths: list[str], duration: float, rate: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    lat: list[float] = []  # answer time - scheduled time; inf for polls never sent
    service: list[float] = []  # answer time - send time
    lag: list[float] = []  # send time - the later of scheduled time and previous answer
    counts = {"in_window": 0, "errors": 0, "unsent": 0}
    t0 = loop.time() + 0.5
    end = t0 + duration
    period = 1.0 / rate

    async def one(i: int, path: str) -> None:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        free_at, sched = 0.0, t0 + period * i / len(paths)
        while sched < end and loop.time() < end + GRACE:
            await asyncio.sleep(sched - loop.time())
            sent = loop.time()
            lag.append(sent - max(sched, free_at))
            try:
                async with asyncio.timeout(5.0):
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    await reader.readexactly(length)
                good = head[9:10] == b"2"
            except (OSError, TimeoutError, ValueError, IndexError, asyncio.IncompleteReadError):
                good = False
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            free_at = loop.time()
            lat.append(free_at - sched)
            service.append(free_at - sent)
            counts["errors"] += not good
            counts["in_window"] += good and free_at <= end
            sched += period
        writer.close()
        unsent = max(0, math.ceil((end - sched) / period))
        counts["unsent"] += unsent
        lat.extend([math.inf] * unsent)

    await asyncio.gather(*(one(i, p) for i, p in enumerate(paths)))
    return {"rps": counts["in_window"] / duration, "p50_ms": pct(lat, 50) * 1e3,
            "p99_ms": pct(lat, 99) * 1e3, "service_p99_ms": pct(service, 99) * 1e3,
            "answers": len(service), **counts, "lag_p99_ms": pct(lag, 99) * 1e3}  # fmt: skip


# -- the orchestrator ----------------------------------------------------------------------


def cpu_now(pid: int) -> list[float]:
    """Wall time, then CPU seconds of ``pid`` (all threads), of our waited-for children (the
    generators), of every ``postgres`` process and of the whole machine (``/proc/stat``)."""
    tick = os.sysconf("SC_CLK_TCK")
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = [time.monotonic(), 0.0, kids.ru_utime + kids.ru_stime, 0.0]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            name, fields = stat.read_text().rsplit(")", 1)
            cpu = (int(fields.split()[11]) + int(fields.split()[12])) / tick  # utime + stime
            out[1] += cpu if stat.parent.name == str(pid) else 0.0
            out[3] += cpu if name.endswith("(postgres") else 0.0
    machine = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return [*out, (sum(machine) - machine[3] - machine[4]) / tick]  # less idle and iowait


def cpu_since(start: list[float], pid: int) -> dict[str, float]:
    """CPU use since ``start`` in percent of one core; "others" is the rest of the machine."""
    end = cpu_now(pid)
    names = ("server_cpu_pct", "gen_cpu_pct", "db_cpu_pct", "machine_cpu_pct")
    used = {n: 100 * (end[i] - start[i]) / (end[0] - start[0]) for i, n in enumerate(names, 1)}
    used["others_cpu_pct"] = used["machine_cpu_pct"] - sum(used[n] for n in names[:3])
    return used


def settle(limit: float, seconds: float = 300.0) -> float:
    """Wait (up to ``seconds``) for the machine to be quieter than ``limit`` percent over
    one second; return the last reading."""
    deadline = time.monotonic() + seconds
    while True:
        start = cpu_now(os.getpid())
        time.sleep(1.0)
        busy = cpu_since(start, os.getpid())["machine_cpu_pct"]
        if busy < limit or time.monotonic() > deadline:
            return busy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], port: int, path: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            code = s.recv(12)[9:10]
            if code == b"2":
                return
            if code:
                break
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready:\n{log.read_text()[-3000:]}")


def wrk(port: int, paths_file: Path, lua: Path, seconds: float, conns: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "-s", str(lua),
         f"http://127.0.0.1:{port}"],
        env={**os.environ, "BENCH_PATHS": str(paths_file)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    res: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return {"rps": res["requests"] / (res["duration_us"] / 1e6), "p50_ms": res["p50_us"] / 1e3,
            "p99_ms": res["p99_us"] / 1e3, "errors": res["errors"]}  # fmt: skip


@contextlib.contextmanager
def throwaway_db(admin: str, n: int) -> Any:
    import psycopg
    from psycopg import sql

    dbname = f"vidserve_bench_{os.getpid()}_{n}"
    name = sql.Identifier(dbname)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        yield urllib.parse.urlsplit(admin)._replace(path=f"/{dbname}").geturl()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def bench_one(kind: str, args: argparse.Namespace, data: Path, store_url: str) -> dict[str, Any]:
    port = free_port()
    data.mkdir()
    if split_kind(kind)[0] == "bare":
        ids = [str(uuid.uuid4()) for _ in range(sum(POPULATION.values()))]
    else:
        store = open_store(split_kind(kind)[0], store_url)
        try:
            ids = populate(store, f"http://127.0.0.1:{port}")
        finally:
            store.close()
    paths = [f"/queue/{APP}/requests/{rid}/status" for rid in ids]
    paths_file, lua, log = data / "paths.txt", data / "rotate.lua", data / "server.log"
    paths_file.write_text("\n".join(paths) + "\n")
    lua.write_text(WRK_LUA)
    res: dict[str, Any] = {"background_cpu_pct": settle(args.settle)}
    with log.open("wb") as log_out:
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, str(port), str(data), store_url],
            stdout=log_out, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop it
        )  # fmt: skip
    try:
        wait_ready(server, port, paths[0], log)
        print(f"{kind}: wrk ({args.duration:g} s after a 2 s warm-up)", file=sys.stderr)
        wrk(port, paths_file, lua, 2, args.connections)
        start = cpu_now(server.pid)
        res["max"] = wrk(port, paths_file, lua, args.duration, args.connections)
        res["max"].update(cpu_since(start, server.pid))
        print(f"{kind}: {args.pollers} pollers at {args.hz:g} Hz", file=sys.stderr)
        start = cpu_now(server.pid)
        out = subprocess.run(
            [sys.executable, __file__, "--poll", str(port), str(paths_file), "--pollers",
             str(args.pollers), "--hz", str(args.hz), "--duration", str(args.duration)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        res["poll"] = {**cpu_since(start, server.pid), **json.loads(out.stdout)}
        return res
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def summary(rounds: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per server and phase, the median over rounds of every figure; per server, the median
    of its within-round ratios to bare on the same stack (``ratio``) and, with ``--plain``,
    to itself on the plain stack (``over_plain``)."""
    out: dict[str, dict[str, Any]] = {}
    for kind, runs in rounds.items():
        out[kind] = {phase: {key: median([r[phase][key] for r in runs]) for key in runs[0][phase]}
                     for phase in ("max", "poll")}  # fmt: skip
        base, plain = split_kind(kind)
        bare = "bare" + (PLAIN if plain else "")
        if bare in rounds:
            out[kind]["ratio"] = median(per_round_ratios(rounds, kind, bare))
        if not plain and kind + PLAIN in rounds:
            out[kind]["over_plain"] = median(per_round_ratios(rounds, kind, kind + PLAIN))
    return out


def per_round_ratios(rounds: dict[str, list[dict[str, Any]]], kind: str, to: str) -> list[float]:
    pairs = zip(rounds[kind], rounds[to], strict=True)
    return [r["max"]["rps"] / b["max"]["rps"] for r, b in pairs]


def ms(seconds_ms: float) -> str:
    if math.isinf(seconds_ms):
        return f"> {GRACE:g} s"  # some polls were never sent
    return f"{seconds_ms / 1e3:.1f} s" if seconds_ms >= 1e3 else f"{seconds_ms:.1f} ms"


def table(
    results: dict[str, dict[str, Any]], rounds: dict[str, list[dict[str, Any]]], pollers: int,
    hz: float,
) -> str:
    at = f"{pollers}x{hz:g} Hz"
    lines = [f"| server | req/s (max) | ratio to bare | vs {PLAIN} | p50 | p99 | at {at}: req/s "
             "| p50 | p99 | errors |", "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for kind, r in results.items():
        m, p = r["max"], r["poll"]
        ratio = f"{r['ratio']:.0%}" if "ratio" in r else "-"
        over = f"{r['over_plain']:.2f}x" if "over_plain" in r else "-"
        errors = f"{p['errors']:.0f}" + (f" (+{p['unsent']:.0f} unsent)" if p["unsent"] else "")
        lines.append(
            f"| {kind} | {m['rps']:.0f} | {ratio} | {over} | {ms(m['p50_ms'])} "
            f"| {ms(m['p99_ms'])} | {p['rps']:.0f} | {ms(p['p50_ms'])} | {ms(p['p99_ms'])} "
            f"| {errors} |"
        )
    lines += ["", "CPU in percent of one core (the machine has 200 %); others: the machine less "
              "server, generator and postgres processes.", "", "| server | phase | server | "
              "generator | postgres | others | poller lag p99 | poll service p99 |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for kind, r in results.items():
        for phase, name in (("max", "wrk"), ("poll", at)):
            c = r[phase]
            poll = f"{ms(c['lag_p99_ms'])} | {ms(c['service_p99_ms'])}" if phase == "poll" else ""
            lines.append(
                f"| {kind} | {name} | {c['server_cpu_pct']:.0f} | {c['gen_cpu_pct']:.0f} | "
                f"{c['db_cpu_pct']:.0f} | {c['others_cpu_pct']:.0f} | {poll or '- | -'} |"
            )
    if "bare" in rounds and len(rounds["bare"]) > 1:
        kinds = list(rounds)
        lines += ["", f"Each round: the wrk rate's ratio to bare's in that round, and p99 at {at}.",
                  "", "| round | bare req/s | " + " | ".join(f"{k} ratio | {k} p99" for k in kinds
                  if k != "bare") + " | bare p99 |",
                  "|---" * (2 * len(kinds) + 1) + "|"]  # fmt: skip
        for i, bare in enumerate(rounds["bare"]):
            cells = [f"{rounds[k][i]['max']['rps'] / bare['max']['rps']:.0%} | "
                     f"{ms(rounds[k][i]['poll']['p99_ms'])}"
                     for k in kinds if k != "bare"]  # fmt: skip
            lines.append(f"| {i + 1} | {bare['max']['rps']:.0f} | " + " | ".join(cells)
                         + f" | {ms(bare['poll']['p99_ms'])} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    ap.add_argument("--rounds", type=int, default=1, help="repeat all; report medians")
    ap.add_argument("--settle", type=float, default=200.0, help="wait for the machine to be"
                    " quieter than this (%% of a core) before each server")  # fmt: skip
    ap.add_argument("--only", default=",".join(KINDS), help="e.g. sqlite,bare")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--plain", action="store_true", help=f"also run each server on h11 and"
                    f" asyncio's loop (named with {PLAIN}), for the ratio with and without"
                    " httptools and uvloop")  # fmt: skip
    ap.add_argument("--connections", type=int, default=32, help="wrk's connections")
    ap.add_argument("--pollers", type=int, default=200)
    ap.add_argument("--hz", type=float, default=10.0, help="polls per second per poller")
    ap.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)  # kind port data store
    ap.add_argument("--poll", nargs=2, help=argparse.SUPPRESS)  # port paths-file
    args = ap.parse_args()
    if args.serve:
        return serve(*args.serve)
    if args.poll:
        paths = Path(args.poll[1]).read_text().split()
        paths = (paths * (args.pollers // len(paths) + 1))[: args.pollers]
        print(json.dumps(asyncio.run(_poller(int(args.poll[0]), paths, args.duration, args.hz))))
        return None
    kinds = [k for k in KINDS if k in args.only.split(",")]
    if unknown := set(args.only.split(",")) - set(KINDS):
        ap.error(f"--only: unknown server(s) {sorted(unknown)}; choose from {KINDS}")
    if args.plain:
        kinds = [k + stack for k in kinds for stack in ("", PLAIN)]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanups below
    rounds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="vidserve-bench-") as tmp:
        for r in range(args.rounds):
            for kind in kinds:
                data = Path(tmp) / f"{kind}-{r}"
                if split_kind(kind)[0] == "postgres":
                    with throwaway_db(args.pg_admin, r) as dsn:
                        rounds[kind].append(bench_one(kind, args, data, dsn))
                else:
                    url = str(data / "vidserve.sqlite3")
                    rounds[kind].append(bench_one(kind, args, data, url))
    results = summary(rounds)
    print(table(results, rounds, args.pollers, args.hz))
    if args.json:
        args.json.write_text(json.dumps({"reported": results, "rounds": rounds}, indent=2) + "\n")
    return None


if __name__ == "__main__":
    main()
