"""Benchmark: `edigate purge` of a large store while the live service takes an offered load (issue 14).

A store of N messages is filled with the store's own code paths (`bench_scale.fill`: real 2.4 KB XDIS91
originals delivered and acknowledged, their XCTL03 receipts delivered; every body final and 16-36 days
old). The real `edigate serve` (subprocess) runs on it, and an open loop offers `--rate` new 2 KB XDIS91
messages per second (latency from each message's scheduled send time: no coordinated omission). After a
quiet lead-in, `edigate purge --days 1` runs as a separate process, as an operator would run it; the load
goes on until the purge has ended plus a tail. Reported per 5-second window: answers, p50/p99/max, any
status other than 202 (503s by name); the purge's bodies per second; and the service log's failed
commits (`store_commit_failed`, `delivery_claim_failed`, `ack_sweep_failed`). Load average recorded.

    .venv/bin/python bench/bench_purge_load.py [--dialect sqlite] [--n 300000] [--rate 300]
Writes bench/results/purge_load-<dialect>.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import pg_trace  # noqa: E402
from bench.bench_ingest import TOKEN, Bodies, start, stop  # noqa: E402
from bench.bench_scale import pg_admin, run_in  # noqa: E402
from bench.gateway_config import hospital_and_municipality, service_config  # noqa: E402
from bench.open_loop import WINDOW, Answers, SenderPauses, windows  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402

FAILURES = ("store_commit_failed", "delivery_claim_failed", "ack_sweep_failed")


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def config(port: int, url: str) -> str:
    """The bench partners (bench_ingest's), mailbox delivery; the service's own retention pass keeps
    bodies 10 years, so only `edigate purge` purges here."""
    return service_config(port, url, hospital_and_municipality(TOKEN), sections="[retention]\nbody_days = 3650")


async def offered_load(
    url: str, rate: float, lead_in: float, max_seconds: float, tail: float, cfg: Path
) -> dict[str, Any]:
    """Open loop at `rate`; `edigate purge` starts after `lead_in` s; the loop stops `tail` s after the
    purge ended (or at `max_seconds`). Returns every answer (sent at, latency, status) and the purge's."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/xml"}
    bodies = Bodies(f"PL{uuid.uuid4().hex[:4].upper()}", int(rate * max_seconds) + 10, "xdis91")
    answers = Answers()
    purge: dict[str, Any] = {}
    t0 = time.perf_counter()
    t0_wall = time.time()

    async def run_purge() -> None:
        await asyncio.sleep(lead_in)
        purge["started_s"] = round(time.perf_counter() - t0, 2)
        purge["load_average_at_start"] = loadavg()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "edigate",
            "purge",
            "--config",
            str(cfg),
            "--days",
            "1",
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        out, err = await proc.communicate()
        purge["ended_s"] = round(time.perf_counter() - t0, 2)
        purge["returncode"] = proc.returncode
        purge["stdout"] = out.decode(errors="replace").strip()[-500:]
        purge["stderr"] = err.decode(errors="replace").strip()[-1500:]
        found = re.search(r"purged (\d+) message bodies", purge["stdout"])
        purge["purged"] = int(found.group(1)) if found else None

    timeout = aiohttp.ClientTimeout(total=60)  # an answer later than this counts as failed (-1)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def one(scheduled: float, body: bytes) -> None:
            status = 0
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError):
                status = -1
            answers.add(scheduled - t0, time.perf_counter() - scheduled, status)

        purger = asyncio.create_task(run_purge())
        in_flight: set[asyncio.Task[None]] = set()  # a finished request leaves nothing behind
        i = 0
        with SenderPauses() as pauses:
            while True:
                scheduled = t0 + i / rate
                elapsed = scheduled - t0
                if elapsed >= max_seconds or ("ended_s" in purge and elapsed >= purge["ended_s"] + tail):
                    break
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(scheduled, bodies.next()))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                i += 1
            while in_flight:
                await asyncio.gather(*in_flight)
        if not purger.done():
            purge["unfinished_at_s"] = round(time.perf_counter() - t0, 2)
        await purger
    return {
        "answers": answers,
        "purge": purge,
        "offered": i,
        "seconds": round(time.perf_counter() - t0, 1),
        "sender_gc": pauses.summary(),
        "t0_wall": t0_wall,
    }


def purge_windows(answers: Answers, purge: dict[str, Any]) -> list[dict[str, Any]]:
    """The 5-second windows, each marked whether the purge ran during it."""
    out = windows(answers, WINDOW)
    for w in out:
        w["purge_running"] = purge.get("started_s", 1e9) <= w["from_s"] + WINDOW and w["from_s"] <= purge.get(
            "ended_s", 1e9
        )
    return out


def tracing(path: Path | None, url: str) -> contextlib.AbstractContextManager[object]:
    """The PostgreSQL trace (`--pg-trace`) around the run, or nothing."""
    if path is None or not url.startswith("postgresql"):
        return contextlib.nullcontext()
    return pg_trace.PgTrace(url, path)


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"dialect": args.dialect, "n": args.n, "rate": args.rate}
    name = None
    if args.dialect == "sqlite":
        url = f"sqlite:///{tmp / 'edigate.db'}"
    else:
        name = f"edigate_purge_{uuid.uuid4().hex[:8]}"
        pg_admin(f'CREATE DATABASE "{name}"')
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        result["load_average_before_fill"] = loadavg()
        result["fill"] = run_in(
            REPO, "fill", "--url", url, "--n", str(args.n), "--pending-share", "0", "--deliver-receipts"
        )
        port = free_port()
        cfg = tmp / "edigate.toml"
        cfg.write_text(config(port, url), encoding="utf-8")
        log = tmp / "service.log"
        svc = start([sys.executable, "-m", "edigate", "serve", "--config", str(cfg)], port, log)
        try:
            result["load_average_before"] = loadavg()
            with tracing(args.pg_trace, url):
                run_ = asyncio.run(
                    offered_load(
                        f"http://127.0.0.1:{port}/api/v1/messages",
                        args.rate,
                        args.lead_in,
                        args.max_seconds,
                        args.tail,
                        cfg,
                    )
                )
            result["load_average_after"] = loadavg()
        finally:
            stop(svc)
        text = log.read_text(encoding="utf-8", errors="replace")
        result["service_log_failures"] = {k: text.count(k) for k in FAILURES}
        result["service_log_tail"] = text[-2000:]
        answers: Answers = run_["answers"]
        purge = run_["purge"]
        lat = sorted(answers.latency)
        during = sorted(
            lat_ for sent, lat_, _ in answers if purge.get("started_s", 0) <= sent <= purge.get("ended_s", 1e9)
        )
        secs = (purge.get("ended_s") or 0) - (purge.get("started_s") or 0)
        result.update(
            {
                "offered": run_["offered"],
                "seconds": run_["seconds"],
                "achieved_rate": round(len(answers) / max(run_["seconds"], 1e-9), 1),
                "statuses": answers.statuses(),
                "sender_gc": run_["sender_gc"],
                "p99_ms_all": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1) if lat else None,
                "p99_ms_during_purge": round(during[int(len(during) * 0.99) - 1] * 1000, 1) if during else None,
                "purge": purge,
                "purge_bodies_per_s": round(purge["purged"] / secs, 1) if purge.get("purged") and secs else None,
                "windows": purge_windows(answers, purge),
            }
        )
        if args.pg_trace is not None and url.startswith("postgresql"):
            t0_wall = run_["t0_wall"]
            result["pg_trace"] = pg_trace.summarise(args.pg_trace, t0_wall)
            result["pg_trace_purge_totals"] = pg_trace.totals(
                args.pg_trace, t0_wall + purge.get("started_s", 0), t0_wall + purge.get("ended_s", 0)
            )
    finally:
        if name is not None:
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return result


def report(r: dict[str, Any]) -> str:
    p = r["purge"]
    worst = max((w["p99_ms"] for w in r["windows"] if w["purge_running"]), default=None)
    lines = [
        f"# `edigate purge` under an offered load ({r['dialect']}, bench/bench_purge_load.py)",
        "",
        f"Store: {r['fill']['rows']:,} messages filled through the store's code ({r['fill']['fill_seconds']} s),",
        f"every body final and 16-36 days old. Offered {r['rate']} new 2 KB XDIS91 per second to the live",
        f"`edigate serve` (open loop, {r['offered']:,} offered in {r['seconds']} s, {r['achieved_rate']} answered/s);",
        f"`edigate purge --days 1` started at {p.get('started_s')} s and ended at {p.get('ended_s')} s"
        f" (exit {p.get('returncode')}): {p.get('purged')} bodies, **{r['purge_bodies_per_s']} bodies/s**.",
        f"Load average (1/5/15 min, 2 shared cores): before fill {r['load_average_before_fill']},"
        f" before load {r['load_average_before']}, after {r['load_average_after']}.",
        "",
        f"- Answers by status: {r['statuses']} (503s: **{r['statuses'].get('503', 0)}**)",
        f"- Failed commits in the service log: {r['service_log_failures']}",
        f"- The sender's own garbage collections (its pauses count as latency): {r['sender_gc']}",
        f"- p99 over the whole run {r['p99_ms_all']} ms; of the messages sent while the purge ran "
        f"{r['p99_ms_during_purge']} ms; worst 5-second window while it ran: {worst} ms",
        "",
        "| from s | purge running | answers | p50 ms | p99 ms | max ms | not 202 |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in r["windows"]:
        lines.append(
            f"| {w['from_s']:.0f} | {'yes' if w['purge_running'] else ''} | {w['answers']} | {w['p50_ms']} | "
            f"{w['p99_ms']} | {w['max_ms']} | {w['not_202'] or ''} |"
        )
    if r.get("pg_trace"):
        t = r.get("pg_trace_purge_totals") or {}
        purged = p.get("purged") or 0
        lines += [
            "",
            "## PostgreSQL while purging (`--pg-trace`, samples every 0.2 s)",
            "",
            f"WAL while the purge ran: {t.get('wal_bytes', 0) / 1e6:.0f} MB, {t.get('wal_fpi')} full-page images,"
            f" {t.get('wal_records')} records"
            + (
                f" ({t.get('wal_bytes', 0) / purged:.0f} bytes and {t.get('wal_records', 0) / purged:.1f} records"
                " per purged body)"
                if purged
                else ""
            )
            + f"; gw_messages updates {t.get('n_tup_upd')}, HOT {t.get('n_tup_hot_upd')};"
            f" checkpoints {t.get('checkpoints_timed', 0) + t.get('checkpoints_req', 0)};"
            f" autovacuum {t.get('autovacuum_count')}, autoanalyze {t.get('autoanalyze_count')}.",
            "",
            *pg_trace.markdown(r["pg_trace"], {w["from_s"]: w["p99_ms"] for w in r["windows"]}),
        ]
    if p.get("stderr"):
        lines += ["", "purge stderr (tail):", "", "```", p["stderr"], "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dialect", default="sqlite", choices=("sqlite", "postgresql"))
    ap.add_argument("--n", type=int, default=300_000)
    ap.add_argument("--rate", type=float, default=300.0)
    ap.add_argument("--lead-in", type=float, default=10.0)
    ap.add_argument("--tail", type=float, default=10.0)
    ap.add_argument("--max-seconds", type=float, default=900.0)
    ap.add_argument("--out", default="purge_load")
    ap.add_argument("--pg-trace", type=Path, help="PostgreSQL: sample the server every 0.2 s into this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edigate-purge-load-") as tmp:
        result = run(args, Path(tmp))
    out = REPO / "bench" / "results"
    stem = f"{args.out}-{args.dialect}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(report(result), encoding="utf-8")
    print(report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
