"""Soak: the real `edigate serve` on a filled store, an offered 300 msg/s for 10 minutes, every message
delivered over HTTP to a real receiver (issue 14).

The store is one of `bench/scale_store.py`'s (default: 3 M messages on SQLite, reset to its fill first), so
the service's own loops (delivery, receipt sweep, health tick, retention pass) run against a large
history while new messages arrive. The sender is an open loop of unique 2.4 KB XDIS91 from the bench
hospital to the bench municipality (latency from each message's scheduled send time: no coordinated
omission); the municipality's delivery is `http` to a receiver in its own process that answers 200 and
counts. Reported: per 5-second window answers, p50 / p99 / max and any status other than 202; every 30 s
the service's RSS and CPU, the messages delivered so far and the load average; after the load, how long
the last deliveries took. `--py-spy` records the service meanwhile (speedscope, for finding a stall).

    .venv/bin/python bench/bench_soak.py [--dialect sqlite] [--n 3000000] [--rate 300] [--seconds 600]
Writes bench/results/soak-<dialect>.json and .md. Measures under the machine's benchmark lock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import machine_cpu, pg_trace, scale_store  # noqa: E402
from bench.bench_ingest import TOKEN  # noqa: E402
from bench.bench_scale import bench_lock, loadavg, pg_admin, service_config  # noqa: E402
from bench.loadgen import percentile, process_cpu_seconds, rss_mb, start, stop  # noqa: E402
from bench.open_loop import Answers, SenderPauses, windows  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402
from tests.unit.medcom.samples import xdis91_message  # noqa: E402

SAMPLE = 30.0
FAILURES = ("store_commit_failed", "delivery_claim_failed", "ack_sweep_failed", "request_failed", "Traceback")
RECEIVER = textwrap.dedent("""
    import sys
    from aiohttp import web
    got = [0]
    async def inbox(request):
        await request.read()
        got[0] += 1
        return web.Response(text="ok")
    async def count(request):
        return web.json_response({"received": got[0]})
    app = web.Application(client_max_size=10 * 1024 * 1024)
    app.router.add_post("/inbox", inbox)
    app.router.add_get("/count", count)
    app.router.add_get("/healthz", lambda r: web.json_response({"status": "ok"}))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
""")


class Messages:
    """Unique XDIS91 bodies made as they are sent (one template, its ids replaced: a few µs each)."""

    def __init__(self) -> None:
        self.prefix = f"SK{uuid.uuid4().hex[:4].upper()}"
        mark = f"{self.prefix}{'#' * 8}"
        self.parts = xdis91_message(envelope_id=mark, letter_id=mark).split(mark.encode())
        self.i = 0

    def next(self) -> bytes:
        self.i += 1
        return f"{self.prefix}{self.i:08d}".encode().join(self.parts)


def received(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as resp:
        return int(json.loads(resp.read())["received"])


async def soak(
    url: str, rate: float, seconds: float, svc_pid: int, receiver_port: int, wal: Path | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/xml"}
    messages = Messages()
    answers = Answers()
    samples: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    started_unix = time.time()  # the service log's timestamps -> seconds of the run (`traced`)
    cpu0 = process_cpu_seconds(svc_pid)

    async def sampler() -> None:
        while True:
            at = time.perf_counter() - t0
            samples.append(
                {
                    "at_s": round(at),
                    "rss_mb": rss_mb(svc_pid),
                    "service_cpu_s": round(process_cpu_seconds(svc_pid) - cpu0, 1),
                    "answered": len(answers),
                    "delivered": await asyncio.to_thread(received, receiver_port),
                    "load_average": loadavg(),
                }
            )
            if wal is not None:  # SQLite: the WAL file's size (it only grows until a restart lets it be reused)
                samples[-1]["wal_mb"] = round(wal.stat().st_size / 1e6, 1) if wal.exists() else 0.0
            print(f"  {samples[-1]}", flush=True)
            await asyncio.sleep(max(0.0, SAMPLE * len(samples) - (time.perf_counter() - t0)))

    timeout = aiohttp.ClientTimeout(total=60)  # an answer later than this counts as failed (-1)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def one(scheduled: float, body: bytes) -> None:
            status = -1
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError):
                pass
            answers.add(scheduled - t0, time.perf_counter() - scheduled, status)

        sampling = asyncio.create_task(sampler())
        in_flight: set[asyncio.Task[None]] = set()  # a finished request leaves nothing behind
        with SenderPauses() as pauses:
            for i in range(int(seconds * rate)):
                scheduled = t0 + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(scheduled, messages.next()))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            while in_flight:
                await asyncio.gather(*in_flight)
        sent_for = time.perf_counter() - t0
        accepted = sum(1 for s in answers.status if s == 202)
        while (got := await asyncio.to_thread(received, receiver_port)) < accepted:  # the last deliveries
            if time.perf_counter() - t0 > sent_for + 300:
                break
            await asyncio.sleep(0.5)
        drained = time.perf_counter() - t0 - sent_for
        cpu = process_cpu_seconds(svc_pid) - cpu0  # accepting and delivering every message, the loops beside
        sampling.cancel()
    return {
        "answers": answers,
        "started_unix": started_unix,
        "samples": samples,
        "offered": int(seconds * rate),
        "accepted": accepted,
        "delivered": got,
        "send_seconds": round(sent_for, 1),
        "last_delivery_after_s": round(drained, 1),
        "service_cpu_s": round(cpu, 2),
        "service_cpu_ms_per_message": round(cpu * 1000 / max(got, 1), 3),
        "sender_gc": pauses.summary(),
    }


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"dialect": args.dialect, "n": args.n, "rate": args.rate, "seconds": args.seconds}
    result["service"] = {"src": str(args.service_src), "env": args.service_env, "commit": commit_of(args.service_src)}
    empty_pg = None
    if args.n:
        info = scale_store.ensure_filled(args.dialect, args.n, args.data_dir)
        url = scale_store.url_of(args.dialect, args.n, args.data_dir)
        result["fill"] = {k: v for k, v in info.items() if k != "storage"}
        result["reset_before"] = asyncio.run(scale_store.reset(url, info))
    elif args.dialect == "sqlite":
        url = f"sqlite:///{tmp / 'soak.db'}"
    else:
        empty_pg = f"edigate_soak_{uuid.uuid4().hex[:6]}"
        pg_admin(f'CREATE DATABASE "{empty_pg}"')
        url = f"{scale_store.PG}/{empty_pg}"
    procs: list[subprocess.Popen[bytes]] = []
    spy = None
    try:
        with bench_lock(args.lock):
            result["load_average_before"] = loadavg()
            rport, port = free_port(), free_port()
            (tmp / "receiver.py").write_text(RECEIVER, encoding="utf-8")
            procs.append(start([sys.executable, str(tmp / "receiver.py"), str(rport)], rport, tmp / "receiver.log"))
            cfg = tmp / "soak.toml"
            cfg.write_text(service_config(port, url, f"http://127.0.0.1:{rport}/inbox"), encoding="utf-8")
            log = tmp / "service.log"
            serve = [sys.executable, "-m", "edigate", "serve", "--config", str(cfg)]
            env = dict(e.split("=", 1) for e in args.service_env)
            svc = start(serve, port, log, cwd=args.service_src, timeout=120, env=env)
            procs.append(svc)
            result["rss_mb_at_start"] = rss_mb(svc.pid)
            if args.py_spy:
                record = ["record", "--pid", str(svc.pid), "--rate", str(args.py_spy_rate), "--format", "speedscope"]
                idle = ["--idle"] if args.py_spy_idle else []  # without: only samples that run (a CPU profile)
                spy = subprocess.Popen(
                    ["py-spy", *record, "--output", str(args.py_spy), "--nonblocking", *idle, "--threads"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            trace = (
                pg_trace.PgTrace(url, args.pg_trace)
                if args.pg_trace and args.dialect == "postgresql"
                else contextlib.nullcontext()
            )
            wal = Path(url.removeprefix("sqlite:///") + "-wal") if args.dialect == "sqlite" else None
            groups = {
                "service": lambda: [svc.pid],
                "postgres": lambda: machine_cpu.pids_named("postgres"),
                "sender": lambda: [os.getpid()],
                "receiver": lambda: [procs[0].pid],
            }
            with trace, machine_cpu.MachineCpu(groups) as cpu_seen:
                run_ = asyncio.run(
                    soak(f"http://127.0.0.1:{port}/api/v1/messages", args.rate, args.seconds, svc.pid, rport, wal)
                )
            result["load_average_after"] = loadavg()
            result["rss_mb_at_end"] = rss_mb(svc.pid)
    finally:
        if spy is not None:
            spy.send_signal(2)  # SIGINT: py-spy writes its file
            spy.wait(60)
        for p in reversed(procs):
            stop(p)
        if empty_pg:
            pg_admin(f'DROP DATABASE IF EXISTS "{empty_pg}" WITH (FORCE)')
    text = (tmp / "service.log").read_text(encoding="utf-8", errors="replace")
    result["service_log_failures"] = {k: text.count(k) for k in FAILURES}
    result["service_gc_pauses"] = gc_pauses(text)
    result["wal_checkpoint_restarts"] = text.count('"wal_checkpoint_restart"')
    result["service_log_tail"] = text[-3000:]
    answers: Answers = run_.pop("answers")
    lat = sorted(answers.latency)
    result.update(run_)
    result["statuses"] = answers.statuses()
    result["p50_ms"] = round(statistics.median(lat) * 1000, 1)
    result["p99_ms"] = round(percentile(lat, 0.99) * 1000, 1)
    result["windows"] = windows(answers)
    result["traced"] = traced(text, result["started_unix"])
    result["cpu_per_window"] = {str(k): v for k, v in cpu_seen.per_window(result["started_unix"]).items()}
    result["wal_checkpoint_restart_summary"] = restart_summary(result["traced"])
    if args.pg_trace and args.dialect == "postgresql":
        result["pg_trace"] = pg_trace.summarise(args.pg_trace, result["started_unix"])
    if args.n:
        result["reset_after"] = asyncio.run(scale_store.reset(url, info))
    return result


def commit_of(src: Path) -> str:
    """The checkout's commit, `+` when its tree differs from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=src, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=src, capture_output=True)
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


#: the service's events that say it was busy with something other than a message, and how long
TRACED = (
    "route_health_tick_slow",
    "wal_checkpoint_slow",
    "wal_checkpoint_restart",
    "gc_pause",
    "retention_bodies_purged",
)


def traced(log_text: str, started_unix: float) -> list[dict[str, Any]]:
    """The service's TRACED events with their second of the run (from the log's ISO timestamps; the event
    is logged when the work ended), to set beside the slow windows."""
    out = []
    for line in log_text.splitlines():
        if not any(f'"{name}"' in line for name in TRACED):
            continue
        with contextlib.suppress(ValueError, KeyError):
            event = json.loads(line)
            at = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp() - started_unix
            fields = {k: v for k, v in event.items() if k not in ("timestamp", "level", "logger")}
            out.append({"at_s": round(at, 2), **fields})
    return out


def restart_summary(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The checkpoint thread's RESTARTs: how many, how many found readers or a writer (busy), their `ms`
    (up to commit fe7fe89 a whole round, PASSIVE + RESTART; since, the RESTART's own: what writers waited at most)."""
    restarts = [e for e in events if e.get("event") == "wal_checkpoint_restart"]
    ms = sorted(float(e["ms"]) for e in restarts)
    return {
        "count": len(restarts),
        "busy": sum(1 for e in restarts if e.get("busy")),
        "p50_ms": round(percentile(ms, 0.5), 1) if ms else None,
        "p99_ms": round(percentile(ms, 0.99), 1) if ms else None,
        "max_ms": max(ms, default=None),
        "over_20_ms": sum(1 for m in ms if m > 20),
        "largest_frames": max((int(e["frames"]) for e in restarts), default=None),
    }


def gc_pauses(log_text: str) -> dict[str, Any]:
    """The service's `gc_pause` events (edigate.gc_pauses: collections over 50 ms): how many, the longest."""
    pauses = []
    for line in log_text.splitlines():
        if '"gc_pause"' in line:
            with contextlib.suppress(ValueError, KeyError):
                event = json.loads(line)
                pauses.append((float(event["ms"]), float(event["cpu_ms"]), event.get("generation")))
    return {
        "over_50_ms": len(pauses),
        "max_ms": max((p[0] for p in pauses), default=0.0),
        "max_cpu_ms": max((p[1] for p in pauses), default=0.0),
        "by_generation": {str(k): v for k, v in sorted(Counter(p[2] for p in pauses).items())},
    }


def steal_summary(r: dict[str, Any]) -> str:
    """The windows in which the hypervisor ran another guest on this VM's cores (steal > 0) against the rest:
    a window's p99 can only be laid at the service's door where nothing was stolen."""
    cpu = r.get("cpu_per_window", {})
    if not cpu:
        return "not sampled"
    pairs = [(w["p99_ms"], cpu[str(w["from_s"])]["steal"]) for w in r["windows"] if str(w["from_s"]) in cpu]
    stolen = sorted(p for p, s in pairs if s > 0)
    clean = sorted(p for p, s in pairs if s == 0)

    def shape(p99s: list[float]) -> str:
        if not p99s:
            return "none"
        over = sum(1 for p in p99s if p >= 100)
        return f"{len(p99s)} windows, p99 median {statistics.median(p99s):.1f} / max {p99s[-1]} ms, {over} ≥ 100 ms"

    return f"with steal {shape(stolen)}; without {shape(clean)}"


def report(r: dict[str, Any]) -> str:
    ws = r["windows"]
    worst = max(ws, key=lambda w: w["p99_ms"])
    over = [w for w in ws if w["p99_ms"] >= 100]
    rss = [s["rss_mb"] for s in r["samples"]]
    lines = [
        f"# Soak: {r['rate']:g} msg/s for {r['seconds']:g} s with delivery ({r['dialect']}, bench/bench_soak.py)",
        "",
        f"Store: {r['n']:,} messages filled before (bench/scale_store.py)."
        f" Offered {r['offered']:,} unique 2.4 KB XDIS91 (open loop) to the live `edigate serve`; the",
        "municipality's delivery is HTTP to a receiver process. Service retention keeps bodies 10 years (the",
        f"pass runs and finds nothing). Service: {r['service']}. Load average (1/5/15 min, 2 shared cores):"
        f" before {r['load_average_before']}, after {r['load_average_after']}.",
        "",
        f"- Answers by status: {r['statuses']}; accepted {r['accepted']:,}, delivered {r['delivered']:,}"
        f" (the last {r['last_delivery_after_s']} s after the load ended)",
        f"- p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms over the run; 5-second windows with p99 ≥ 100 ms:"
        f" **{len(over)} of {len(ws)}**; worst window p99 {worst['p99_ms']} ms (from {worst['from_s']:.0f} s)",
        f"- Service CPU: {r.get('service_cpu_s', '–')} s from the first message to the last delivery,"
        f" {r.get('service_cpu_ms_per_message', '–')} ms per delivered message",
        f"- Hypervisor steal: {steal_summary(r)}",
        f"- RSS: {r['rss_mb_at_start']} MB at start, {min(rss)}–{max(rss)} MB over the run,"
        f" {r['rss_mb_at_end']} MB at the end",
        f"- Service log: {r['service_log_failures']}",
        f"- Garbage collection: the service's pauses over 50 ms {r['service_gc_pauses']}; the sender's own"
        f" {r['sender_gc']} (the sender's pauses count as latency); WAL checkpoint restarts"
        f" {r.get('wal_checkpoint_restarts', '–')}",
        f"- WAL checkpoint RESTARTs: {r.get('wal_checkpoint_restart_summary', '–')}; WAL file MB every 30 s:"
        f" {[s.get('wal_mb') for s in r['samples']]}",
        "",
        "Every 30 s:",
        "",
        "| at s | RSS MB | service CPU s | answered | delivered | load average |",
        "|---|---|---|---|---|---|",
    ]
    for s in r["samples"]:
        lines.append(
            f"| {s['at_s']} | {s['rss_mb']} | {s['service_cpu_s']} | {s['answered']:,} | {s['delivered']:,} |"
            f" {' '.join(s['load_average'])} |"
        )
    events = r.get("traced", [])
    lines += ["", "Per 5-second window (traced: the service's slow ticks, checkpoints, collections ending in it):", ""]
    lines += [
        "CPU: CPU-seconds per second in the window (2 cores = 2.0): the machine's busy time and the hypervisor's"
        " steal, then the service, PostgreSQL, the sender, the receiver and `other` (busy time none of them used).",
        "",
        "| from s | answers | p50 ms | p99 ms | max ms | not 202 | CPU busy (steal) | service / postgres / sender /"
        " receiver / other | traced |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cpu = r.get("cpu_per_window", {})
    for w in ws:
        p99 = f"**{w['p99_ms']}**" if w["p99_ms"] >= 100 else str(w["p99_ms"])
        inside = [e for e in events if w["from_s"] <= e["at_s"] < w["from_s"] + 5]
        seen = "; ".join(f"{e['at_s']:.1f} {e['event']} {e.get('ms', '')}" for e in inside)
        c = cpu.get(str(w["from_s"]), {})
        busy = f"{c['busy']} ({c['steal']})" if c else ""
        parts = (
            " / ".join(str(c.get(k, "")) for k in ("service", "postgres", "sender", "receiver", "other")) if c else ""
        )
        lines.append(
            f"| {w['from_s']:.0f} | {w['answers']} | {w['p50_ms']} | {p99} | {w['max_ms']} | {w['not_202'] or ''}"
            f" | {busy} | {parts} | {seen} |"
        )
    if r.get("pg_trace"):
        lines += [
            "",
            "## PostgreSQL per window (`--pg-trace`, samples every 0.2 s; p99 shown for windows ≥ 100 ms)",
            "",
        ]
        lines += pg_trace.markdown(r["pg_trace"], {w["from_s"]: w["p99_ms"] for w in ws if w["p99_ms"] >= 100})
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dialect", default="sqlite", choices=("sqlite", "postgresql"))
    ap.add_argument("--n", type=int, default=3_000_000, help="messages in the store (0: an empty store)")
    ap.add_argument("--rate", type=float, default=300.0)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--data-dir", type=Path, default=scale_store.DATA_DIR)
    ap.add_argument("--lock", type=Path, default=Path("/work/notes/bench.lock"))
    ap.add_argument("--py-spy", type=Path, help="record the service with py-spy into this speedscope file")
    ap.add_argument("--py-spy-rate", type=int, default=50, help="py-spy samples per second")
    ap.add_argument(
        "--py-spy-idle", action=argparse.BooleanOptionalAction, default=True, help="also sample waiting threads"
    )
    ap.add_argument("--out", default="soak")
    ap.add_argument("--pg-trace", type=Path, help="PostgreSQL: sample the server every 0.2 s into this file")
    ap.add_argument(
        "--service-env", action="append", default=[], metavar="KEY=VALUE", help="add to the service's environment"
    )
    ap.add_argument(
        "--service-src", type=Path, default=REPO, help="run the service from this checkout (a before/after A/B)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edigate-soak-") as tmp:
        result = run(args, Path(tmp))
    out = REPO / "bench" / "results" / f"{args.out}-{args.dialect}"
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(report(result), encoding="utf-8")
    print(report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
