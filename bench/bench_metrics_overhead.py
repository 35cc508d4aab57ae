"""Overhead of observability on ingest: the real `edigate serve` with metrics and info logging ON against
metrics OFF and warning-level logging, same machine, same client, same messages. Target: ≤ 10 % loss.

Reuses bench/bench_ingest.py (its config, message bodies, closed-loop client and process handling). Both
servers run at once and are measured in alternating rounds, so the shared machine's noise falls on both.
Two figures: the median of the per-round throughput ratios, and - steadier on a shared machine - the
server's own CPU time per accepted message (user + system of the server process, from /proc), which is
what limits throughput when the server is CPU-bound.

    .venv/bin/python bench/bench_metrics_overhead.py [--seconds 6] [--rounds 3] [--concurrency 64]
Writes bench/results/metrics_overhead.txt.

"ON" is what production runs: `[metrics] enabled = true` (the /metrics registry, the hot-path hooks in
ingest and delivery, the route health loop feeding the gauges every second) and `[logging] level = "info"`
(one JSON line per accepted message, through the CPR redaction processor). "OFF" is `[metrics]
enabled = false` and `[logging] level = "warning"`. When `edigate/app.py` does not call the health setup
functions yet, both servers are started through tests/integration/health/launch.py, which adds them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

import bench.bench_ingest as ingest  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402
from tests.harness.service import cpu_seconds  # noqa: E402


def variant_config(port: int, db: Path, *, on: bool) -> str:
    level = "info" if on else "warning"
    try:
        text = ingest.config(port, db, level)
    except TypeError:  # an older bench_ingest without the log level parameter
        text = ingest.config(port, db).replace('level = "warning"', f'level = "{level}"')
    return text + f"\n[metrics]\nenabled = {'true' if on else 'false'}\n[health]\ninterval_seconds = 1\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--mix", default="mixed", choices=("xdis91", "ggop", "mixed"))
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "metrics_overhead.txt"))
    ap.add_argument("--note", default="", help="a line added to the results (e.g. which tree was measured)")
    args = ap.parse_args()
    module, cmd_args = "edigate", ["serve"]
    rows: list[tuple[int, float, float]] = []
    cpu: dict[str, list[float]] = {"off": [], "on": []}  # CPU ms per message, per round
    with tempfile.TemporaryDirectory(prefix="edigate-overhead-") as tmp:
        tmpdir = Path(tmp)
        procs = {}
        ports = {}
        for name in ("off", "on"):
            ports[name] = free_port()
            cfg = tmpdir / f"{name}.toml"
            cfg.write_text(variant_config(ports[name], tmpdir / f"{name}.db", on=name == "on"), encoding="utf-8")
            procs[name] = ingest.start(
                [sys.executable, "-m", module, *cmd_args, "--config", str(cfg)],
                ports[name],
                tmpdir / f"{name}.log",
            )
        try:
            per_run = int(args.seconds * 3000)
            for rnd in range(args.rounds):
                rates = {}
                order = ("off", "on") if rnd % 2 == 0 else ("on", "off")
                for name in order:
                    bodies = ingest.Bodies(f"R{rnd}{name.upper()}", per_run, args.mix)
                    url = f"http://127.0.0.1:{ports[name]}/api/v1/messages"
                    cpu_before = cpu_seconds(procs[name].pid)
                    r = asyncio.run(ingest.closed_loop(url, bodies, args.seconds, args.concurrency))
                    cpu[name].append((cpu_seconds(procs[name].pid) - cpu_before) * 1000 / max(1, r["requests"]))
                    if r["errors"]:
                        raise SystemExit(f"{name}: {r['errors']} requests failed: {r}")
                    rates[name] = r["msgs_per_s"]
                    print(f"round {rnd + 1} {name:3} {r} cpu {cpu[name][-1]:.3f} ms/msg", flush=True)
                rows.append((rnd + 1, rates["off"], rates["on"]))
            on_log = (tmpdir / "on.log").read_text(errors="replace")
            metrics_ok = "message_accepted" in on_log
        finally:
            for proc in procs.values():
                ingest.stop(proc)
    ratios = [on / off for _, off, on in rows]
    loss = 1 - statistics.median(ratios)
    cpu_off, cpu_on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    cpu_loss = 1 - cpu_off / cpu_on  # throughput lost if the server is CPU-bound
    lines = [
        "Observability overhead on ingest (bench/bench_metrics_overhead.py)",
        f"date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"machine: {os.cpu_count()} cpus, Python {platform.python_version()}, {platform.platform()}",
        f"client: aiohttp {aiohttp.__version__}, one process, keep-alive, concurrency {args.concurrency}, "
        f"{args.seconds:g} s per run, '{args.mix}' messages (bench_ingest.Bodies), SQLite",
        f"servers started with: python -m {module} {' '.join(cmd_args)}".rstrip(),
        f"info log lines seen on the ON server: {'yes' if metrics_ok else 'NO'}",
        *([f"note: {args.note}"] if args.note else []),
        "",
        "round  OFF msgs/s  ON msgs/s  ON/OFF  OFF cpu ms/msg  ON cpu ms/msg",
    ]
    lines += [
        f"{rnd:5}  {off:10.1f}  {on:9.1f}  {on / off:6.3f}  {cpu['off'][i]:14.3f}  {cpu['on'][i]:13.3f}"
        for i, (rnd, off, on) in enumerate(rows)
    ]
    lines += [
        "",
        f"throughput: median ON/OFF = {statistics.median(ratios):.3f} -> loss {loss:.1%} (noisy on a shared machine)",
        f"server CPU per message: OFF {cpu_off:.3f} ms, ON {cpu_on:.3f} ms -> CPU-bound throughput loss {cpu_loss:.1%}",
        f"target <= 10% loss: {'met' if cpu_loss <= 0.10 else 'NOT met'} (judged on CPU per message)",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
