"""Ingest benchmark: the real `edigate serve` (subprocess, SQLite) against a bare aiohttp 202 handler.

Both servers are measured in the same run with the same client: concurrent aiohttp clients with
keep-alive on loopback, posting real-sized messages (2 KB XDIS91 and 19 KB GGOP, each with its own
envelope id so nothing is a duplicate). Then an open-loop run at a fixed offered load (500 msgs/s by
default) gives the latency a sender sees at that rate.

The load generator is Python in one process and competes with the server for the machine's cores; the
figures are therefore a lower bound of what the server alone could do.

    .venv/bin/python bench/bench_ingest.py [--seconds 8] [--concurrency 64] [--rate 500]
Writes bench/results/ingest.json and bench/results/ingest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import loadgen  # noqa: E402
from bench.gateway_config import hospital_and_municipality, service_config  # noqa: E402
from bench.loadgen import load_average, process_cpu_seconds, start, stop  # noqa: E402
from bench.results_file import write_results  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402
from tests.unit.medcom.samples import ggop_message, xdis91_message  # noqa: E402

TOKEN = "bench-hospital"
BARE_SERVER = textwrap.dedent("""
    import sys
    from aiohttp import web
    async def handle(request):
        await request.read()
        return web.json_response({"status": "accepted"}, status=202)
    app = web.Application(client_max_size=6 * 1024 * 1024)
    app.router.add_post("/api/v1/messages", handle)
    app.router.add_get("/healthz", lambda r: web.json_response({"status": "ok"}))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
""")


def config(port: int, db: Path, log_level: str = "warning") -> str:
    return service_config(port, f"sqlite:///{db}", hospital_and_municipality(TOKEN), log_level=log_level)


class Bodies:
    """Unique messages, prepared before the clock starts: alternating 2 KB XDIS91 and 19 KB GGOP."""

    def __init__(self, prefix: str, n: int, mix: str) -> None:
        # one rendered message per kind, its ids replaced per body (rendering a GGOP takes ~250 µs)
        mark = f"{prefix}{'#' * 8}"
        templates = {
            "xdis91": xdis91_message(envelope_id=mark, letter_id=mark).split(mark.encode()),
            "ggop": ggop_message(envelope_id=mark, letter_id=mark).split(mark.encode()),
        }
        self.items: list[bytes] = []
        for i in range(n):
            kind = "xdis91" if mix == "xdis91" or (mix == "mixed" and i % 2 == 0) else "ggop"
            self.items.append(f"{prefix}{i:08d}".encode().join(templates[kind]))
        self.i = 0

    def next(self) -> bytes:
        body = self.items[self.i % len(self.items)]
        self.i += 1
        return body

    @property
    def reused(self) -> int:
        """Bodies sent a second time (the pool ran out): edigate answers those as duplicates, not 202."""
        return max(0, self.i - len(self.items))


async def closed_loop(url: str, bodies: Bodies, seconds: float, concurrency: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/xml"}
    r = await loadgen.closed_loop(lambda: (url, bodies.next(), headers, 202), seconds, concurrency)
    return {**r, "reused_bodies": bodies.reused}


async def open_loop(url: str, bodies: Bodies, seconds: float, rate: float) -> dict[str, Any]:
    """Send at a fixed schedule regardless of replies (no coordinated omission)."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/xml"}
    r = await loadgen.open_loop(lambda: (url, bodies.next(), headers, 202), seconds, rate)
    return {**r, "reused_bodies": bodies.reused}


def run_closed_loop(url: str, bodies: Bodies, seconds: float, concurrency: int) -> dict[str, Any]:
    return asyncio.run(closed_loop(url, bodies, seconds, concurrency))


def run_rate(result: object) -> float:
    """msgs/s of one run's result (a with_cpu dict)."""
    assert isinstance(result, dict)
    return float(result["msgs_per_s"])


def with_cpu(pid: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one measurement and add the server's CPU time per answered request (µs)."""
    before = process_cpu_seconds(pid)
    r = run()
    used = process_cpu_seconds(pid) - before
    r["server_cpu_us_per_msg"] = round(used / r["requests"] * 1e6) if r["requests"] else 0
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--log-level", default="warning", help="service log level (info logs one line per message)")
    ap.add_argument("--out", default="ingest", help="results file stem under bench/results")
    ap.add_argument(
        "--gateway-src",
        type=Path,
        default=REPO,
        help="source tree whose `edigate` to run (e.g. an export of an older commit, for before/after)",
    )
    args = ap.parse_args()
    results: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "client": f"aiohttp {aiohttp.__version__}, one process, keep-alive, concurrency {args.concurrency}",
        "seconds": args.seconds,
        "service_log_level": args.log_level,
        "gateway_src": str(args.gateway_src),
        "load_average_before": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="edigate-bench-") as tmp:
        tmpdir = Path(tmp)
        bare_port, gw_port = free_port(), free_port()
        cfg = tmpdir / "bench.toml"
        cfg.write_text(config(gw_port, tmpdir / "bench.db", args.log_level), encoding="utf-8")
        bare_script = tmpdir / "bare.py"
        bare_script.write_text(BARE_SERVER, encoding="utf-8")
        bare = start([sys.executable, str(bare_script), str(bare_port)], bare_port, tmpdir / "bare.log")
        gw = start(
            [sys.executable, "-m", "edigate", "serve", "--config", str(cfg)],
            gw_port,
            tmpdir / "gw.log",
            cwd=args.gateway_src.resolve(),
        )
        try:
            # unique bodies for one run: enough for 15,000 msgs/s (the fast hours of this VM reached 5,600)
            per_run = int(args.seconds * 15000)
            for mix in ("xdis91", "ggop", "mixed"):
                for name, port in (("bare_202_handler", bare_port), ("edigate_sqlite", gw_port)):
                    bodies = Bodies(f"{mix[:2].upper()}{name[:2].upper()}", per_run, mix)
                    url = f"http://127.0.0.1:{port}/api/v1/messages"
                    proc = bare if name == "bare_202_handler" else gw
                    r = with_cpu(
                        proc.pid,
                        functools.partial(run_closed_loop, url, bodies, args.seconds, args.concurrency),
                    )
                    results[f"{mix}/{name}"] = r
                    print(f"{mix:7} {name:18} {r}", flush=True)
                ratio = run_rate(results[f"{mix}/edigate_sqlite"]) / run_rate(results[f"{mix}/bare_202_handler"])
                results[f"{mix}/ratio_to_ceiling"] = round(ratio, 3)
                print(f"{mix:7} edigate / ceiling = {ratio:.0%}", flush=True)
            bodies = Bodies("FIXED", int(args.seconds * args.rate) + 10, "mixed")
            r = with_cpu(
                gw.pid,
                lambda: asyncio.run(
                    open_loop(f"http://127.0.0.1:{gw_port}/api/v1/messages", bodies, args.seconds, args.rate)
                ),
            )
            results[f"fixed_{int(args.rate)}_per_s/edigate_sqlite"] = r
            print(f"fixed {args.rate:g}/s  edigate_sqlite {r}", flush=True)
            results["load_average_after"] = load_average()
        finally:
            stop(gw)
            stop(bare)
    lines = [
        "# Ingest benchmark (bench/bench_ingest.py)",
        "",
        f"Client: {results['client']}.",
        f"Machine: {results['machine']}.",
        f"Load average (1/5/15 min) before: {results['load_average_before']}, "
        f"after: {results.get('load_average_after', '?')} (the machine is shared).",
        "",
        "| messages | server | msgs/s | p50 ms | p99 ms | errors | server CPU µs/msg |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, val in results.items():
        if isinstance(val, dict) and "msgs_per_s" in val:
            mix, server = key.split("/")
            lines.append(
                f"| {mix} | {server} | {val['msgs_per_s']} | {val['p50_ms']} | {val['p99_ms']} | "
                f"{val['errors']} | {val.get('server_cpu_us_per_msg', '')} |"
            )
    for key, val in results.items():
        if key.endswith("ratio_to_ceiling"):
            lines.append(f"\n{key.split('/')[0]}: edigate reaches {float(str(val)):.0%} of the bare-handler ceiling.")
    write_results(args.out, results, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
