"""Benchmark: the health tick's store read with 0 and with N messages of healthy traffic in the last hour
(issue 14, the soak's late stalls).

The tick's receipt window is an hour: after ten minutes at 300 msg/s it holds 180,000 delivered messages.
Each tree (`--before-src`, this tree) runs on its own copy of the same store, in its own process, a
series of ticks as the health loop does: between two ticks 1,500 new delivered rows are committed (five
seconds at 300 msg/s), then the route signals of three receivers are read. This tree's ticks keep the
loop's memory of the routes (`RecentRoutes`); the before tree reads the whole window every tick. The rows
are shaped like the soak's (one sender, one receiver, ~1 KB bodies: what a compressed 2.4 KB XDIS91 takes).

    .venv/bin/python bench/bench_tick_window.py --before-src DIR [--rows 0,180000] [--ticks 12]
Writes bench/results/<out>.json and .md. Measures under the machine's benchmark lock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_scale import bench_lock, loadavg  # noqa: E402

NOW = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
PER_TICK = 1_500  # five seconds at 300 msg/s
BODY = os.urandom(1000)


def rows(first: int, count: int, newest: datetime, span: timedelta) -> list[dict[str, Any]]:
    """`count` delivered XDIS91 hospital -> municipality, created evenly over `span` up to `newest`."""
    from tests.harness.message_rows import message_row
    from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY

    step = span / max(count, 1)
    return [
        message_row(f"TW{first + i}", HOSPITAL, MUNICIPALITY, newest - span + step * (i + 1), body=BODY)
        for i in range(count)
    ]


async def fill(url: str, count: int) -> None:
    import sqlalchemy as sa

    from edigate.store.db import Database
    from edigate.store.schema import messages

    db = Database.open(url)
    try:
        await db.migrate()
        async with db.engine.begin() as conn:
            for start in range(0, count, 5_000):
                n = min(5_000, count - start)
                newest = NOW - timedelta(seconds=3600 * (count - start - n) / max(count, 1))
                await conn.execute(sa.insert(messages), rows(start, n, newest, timedelta(seconds=3600 * n / count)))
    finally:
        await db.close()


async def probe(url: str, ticks: int) -> dict[str, Any]:
    """Ticks 5 s apart on the tick's clock, 1,500 new rows committed before each: read times in ms."""
    import sqlalchemy as sa

    from edigate.store import health_queries
    from edigate.store.db import Database
    from edigate.store.schema import messages
    from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY, OTHER

    db = Database.open(url)
    memory = getattr(health_queries, "RecentRoutes", None)
    kwargs: dict[str, Any] = {"recent_routes": memory()} if memory is not None else {}
    times = []
    try:
        await db.migrate()
        first = 10_000_000
        for tick in range(ticks + 1):  # the first one warms (and fills this tree's memory once)
            now = NOW + timedelta(seconds=5 * tick)
            async with db.engine.begin() as conn:
                await conn.execute(sa.insert(messages), rows(first, PER_TICK, now, timedelta(seconds=5)))
            first += PER_TICK
            t0 = time.perf_counter()
            signals = await health_queries.read_route_signals(db, [MUNICIPALITY, HOSPITAL, OTHER], now, **kwargs)
            if tick:
                times.append((time.perf_counter() - t0) * 1000)
    finally:
        await db.close()
    return {
        "memory": memory is not None,
        "median_ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
        "times_ms": [round(t, 2) for t in times],
        "routes": sorted(f"{r.sender}->{r.receiver}" for r in signals.routes),
    }


def run_probe(src: Path, url: str, ticks: int) -> dict[str, Any]:
    """This script's `probe` in another process, importing edigate from `src` (and the tests' rows from here)."""
    from bench.probe import run_json  # not at the top: a probe process imports bench from `src`

    return run_json(Path(__file__).resolve(), ["probe", url, str(ticks)], src=src, path=[src, REPO], timeout=1800)


def main() -> int:
    from bench.results_file import write_results  # the driver's: a probe process imports bench from `src`

    if len(sys.argv) > 1 and sys.argv[1] == "probe":
        print(json.dumps(asyncio.run(probe(sys.argv[2], int(sys.argv[3])))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before-src", type=Path, required=True)
    ap.add_argument("--rows", default="0,180000", help="rows of the last hour before the first tick")
    ap.add_argument("--ticks", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2, help="before/after alternate this many times per size")
    ap.add_argument("--lock", type=Path, default=Path("/work/notes/bench.lock"))
    ap.add_argument("--out", default="tick_window-h1")
    args = ap.parse_args()
    result: dict[str, Any] = {"ticks": args.ticks, "per_tick_rows": PER_TICK, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="edigate-tickwin-") as tmp:
        for size in (int(s) for s in args.rows.split(",")):
            seed = Path(tmp) / f"seed-{size}.db"
            asyncio.run(fill(f"sqlite:///{seed}", size))  # outside the lock: not measured
            per: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
            with bench_lock(args.lock):
                load0 = loadavg()
                for r in range(args.rounds):
                    for name, src in (("before", args.before_src), ("after", REPO)):
                        copy = Path(tmp) / f"{name}-{size}-{r}.db"
                        shutil.copy(seed, copy)
                        per[name].append(run_probe(src, f"sqlite:///{copy}", args.ticks))
                        copy.unlink()
                load1 = loadavg()
            result["sizes"][str(size)] = {"load_average": [load0, load1], **per}
    lines = [
        "# Health tick with the last hour's healthy traffic (SQLite, bench/bench_tick_window.py)",
        "",
        f"Ticks 5 s apart, {PER_TICK:,} new delivered rows committed before each (300 msg/s), {args.ticks} ticks per",
        "probe after a warm one, before and after alternating on copies of the same store; ms per tick's read.",
        "",
        "| rows of the last hour | tree | median ms | max ms | load average before → after |",
        "|---|---|---|---|---|",
    ]
    for size, r in result["sizes"].items():
        for name in ("before", "after"):
            ts = [t for p in r[name] for t in p["times_ms"]]
            la = f"{' '.join(r['load_average'][0])} → {' '.join(r['load_average'][1])}"
            lines.append(f"| {int(size):,} | {name} | {statistics.median(ts):.1f} | {max(ts):.1f} | {la} |")
    write_results(args.out, result, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
