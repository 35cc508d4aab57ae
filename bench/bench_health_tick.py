"""Benchmark: the health tick's store read with 0 and with N pending messages for one route (issue 14).

Two stores of the same size, filled with the store's own code paths (`bench_scale.fill`): one where every
message was delivered and acknowledged (0 pending), one where all N wait for one municipality (a dead
receiver's queue). Each tree (`--before-src`, this tree) reads the route signals of three receivers on a
copy of each store in its own process, repeated; per statement the time is summed, so what grows with the
pending count shows by name. Same data, same machine, one run; the load average is recorded.

    .venv/bin/python bench/bench_health_tick.py --before-src DIR [--pending 140000] [--dialects sqlite,postgresql]
Writes bench/results/health_tick.json and bench/results/health_tick.md. On the scale benchmark's filled
stores instead (bench/scale_store.py; the tick at 1 M and 3 M stored):

    .venv/bin/python bench/bench_health_tick.py stored --before-src DIR --stored postgresql:1000000 \\
        --out health_tick_stored
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_scale import T_END, pg_admin  # noqa: E402
from bench.results_file import write_results  # noqa: E402


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


async def probe(url: str, repeat: int) -> dict[str, Any]:
    """Median/max of the whole read, and the median per statement (its first 40 characters and its WHERE)."""
    from sqlalchemy import event

    from edigate.store.db import Database
    from edigate.store.health_queries import read_route_signals
    from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY, OTHER

    now = T_END + timedelta(minutes=1)
    db = Database.open(url)
    await db.migrate()
    per_sql: dict[str, list[float]] = defaultdict(list)
    started: dict[int, float] = {}

    place = [0]  # the statement's place in the current tick: rounds of seeks share their first words

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        place[0] += 1
        flat = " ".join(statement.split())
        key = f"#{place[0]} " + flat[:40] + " … " + flat.partition(" WHERE ")[2][:70]
        per_sql[key].append((time.perf_counter() - started.pop(id(cursor), time.perf_counter())) * 1000)

    times = []
    try:
        signals = await read_route_signals(db, [MUNICIPALITY, HOSPITAL, OTHER], now)  # warm
        event.listen(db.engine.sync_engine, "before_cursor_execute", before)
        event.listen(db.engine.sync_engine, "after_cursor_execute", after)
        for _ in range(repeat):
            place[0] = 0
            t0 = time.perf_counter()
            signals = await read_route_signals(db, [MUNICIPALITY, HOSPITAL, OTHER], now)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        await db.close()
    pending = {f"{r.sender}->{r.receiver}": r.pending_count for r in signals.routes if r.pending_count}
    return {
        "median_ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
        "times_ms": [round(t, 2) for t in times],
        "pending_seen": pending,
        "per_statement_ms": {
            k: round(sum(v) / repeat, 2) for k, v in sorted(per_sql.items(), key=lambda kv: -sum(kv[1]))
        },
    }


def run_in(src: Path, *args: str) -> dict[str, Any]:
    """This script's `probe`, or bench_scale's `fill`, in another process importing edigate from `src`."""
    from bench.probe import run_json  # not at the top: a probe process imports bench from `src`

    script = Path(__file__).resolve() if args[0] == "probe" else REPO / "bench" / "bench_scale.py"
    return run_json(script, [*args, "--src", str(src)], src=src, path=[src, REPO], timeout=3600)


def merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The probes of one tree in several rounds as one: median and max over every read."""
    times = [t for r in runs for t in r["times_ms"]]
    per_sql: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        for k, v in r["per_statement_ms"].items():
            per_sql[k].append(v)
    return {
        "median_ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
        "times_ms": times,
        "pending_seen": runs[-1]["pending_seen"],
        "per_statement_ms": {
            k: round(sum(v) / len(runs), 2) for k, v in sorted(per_sql.items(), key=lambda kv: -sum(kv[1]))
        },
    }


def one(dialect: str, n: int, share: float, before: Path, repeat: int, tmp: Path, rounds: int) -> dict[str, Any]:
    tag = f"{int(share * 100)}"
    deliver = ("--deliver-receipts",) if share == 0 else ()
    if dialect == "sqlite":
        first = tmp / f"b-{tag}.db"
        url_b, url_a = f"sqlite:///{first}", f"sqlite:///{tmp / f'a-{tag}.db'}"
        filled = run_in(before, "fill", "--url", url_b, "--n", str(n), "--pending-share", str(share), *deliver)
        shutil.copy(first, tmp / f"a-{tag}.db")
        for wal in tmp.glob(f"b-{tag}.db-*"):
            shutil.copy(wal, tmp / wal.name.replace("b-", "a-", 1))
    else:
        name = f"edigate_tick_{uuid.uuid4().hex[:8]}"
        pg_admin(f'CREATE DATABASE "{name}_b"')
        url_b = f"postgresql://postgres@127.0.0.1:5432/{name}_b"
        url_a = f"postgresql://postgres@127.0.0.1:5432/{name}_a"
        filled = run_in(before, "fill", "--url", url_b, "--n", str(n), "--pending-share", str(share), *deliver)
        pg_admin(f'CREATE DATABASE "{name}_a" TEMPLATE "{name}_b"')
    try:
        load = loadavg()
        # before and after alternate in `rounds` rounds, so that a change of the machine's load (shared,
        # 2 cores) falls on both trees alike
        probes: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for _ in range(rounds):
            probes["before"].append(run_in(before, "probe", "--url", url_b, "--repeat", str(repeat)))
            probes["after"].append(run_in(REPO, "probe", "--url", url_a, "--repeat", str(repeat)))
        out = {"fill": filled, "load_average": load, "rounds": rounds}
        out.update({tree: merged(runs) for tree, runs in probes.items()})
    finally:
        if dialect == "postgresql":
            for suffix in ("_b", "_a"):
                pg_admin(f'DROP DATABASE IF EXISTS "{name}{suffix}" WITH (FORCE)')
    print(dialect, n, share, json.dumps(out), flush=True, file=sys.stderr)
    return out


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "# Health tick with 0 and with many pending messages (bench/bench_health_tick.py)",
        "",
        f"Two stores of {args.pending:,} messages each: all delivered and acknowledged (0 pending), or all",
        "pending for one municipality. The route signals of three receivers, read "
        f"{args.repeat} times per probe (median / max ms over all reads).",
        "Before = the tree named by --before-src; after = this tree; same copy of each store, one run;",
        f"the two trees' probes alternate, {args.rounds} each, so the machine's changing load falls on both.",
        f"Load average (1/5/15 min, 2 shared cores) at start {results['load_average_before']}, "
        f"end {results['load_average_after']}.",
    ]
    for dialect in args.dialects.split(","):
        zero, full = results.get(f"{dialect}/0"), results.get(f"{dialect}/all")
        if not zero or not full:
            continue
        lines += [
            "",
            f"## {dialect}",
            "",
            "| tree | 0 pending | " + f"{args.pending:,} pending | load average |",
            "|---|---|---|---|",
        ]
        for tree in ("before", "after"):
            z, f = zero[tree], full[tree]
            lines.append(
                f"| {tree} | {z['median_ms']} / {z['max_ms']} | {f['median_ms']} / {f['max_ms']} | "
                f"{' '.join(zero['load_average'])} → {' '.join(full['load_average'])} |"
            )
        for tree in ("before", "after"):
            lines += ["", f"Per statement, {args.pending:,} pending, {tree} (mean ms per tick):", ""]
            for sql, ms in list(full[tree]["per_statement_ms"].items())[:8]:
                lines.append(f"- {ms} ms: `{sql}…`")
        lines += [
            "",
            f"Pending as read: before {full['before']['pending_seen']}, after {full['after']['pending_seen']}",
        ]
    return "\n".join(lines) + "\n"


def on_stored(specs: str, before: Path, repeat: int, rounds: int, data_dir: Path) -> dict[str, Any]:
    """The tick on the scale benchmark's filled stores (bench/scale_store.py; filled first when missing,
    outside the lock): before and after alternating on the same database (the tick only reads), under the
    bench lock one size at a time."""
    from bench import scale_store
    from bench.bench_scale import bench_lock

    results: dict[str, Any] = {}
    for spec in specs.split(","):
        dialect, n = spec.split(":")
        info = scale_store.ensure_filled(dialect, int(n), data_dir)
        url = scale_store.url_of(dialect, int(n), data_dir)
        with bench_lock():
            load = loadavg()
            probes: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
            for _ in range(rounds):
                probes["before"].append(run_in(before, "probe", "--url", url, "--repeat", str(repeat)))
                probes["after"].append(run_in(REPO, "probe", "--url", url, "--repeat", str(repeat)))
            out = {"fill": {k: info[k] for k in ("rows", "pending", "queued")}, "load_average": load}
            out.update({tree: merged(runs) for tree, runs in probes.items()})
            out["load_average_end"] = loadavg()
        results[spec] = out
        print(spec, json.dumps(out), flush=True, file=sys.stderr)
    return results


def stored_report(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "# Health tick on the scale benchmark's filled stores (bench/bench_health_tick.py stored)",
        "",
        "The stores of bench/scale_store.py (10 % originals pending for a municipality, the receipts queued for",
        "the hospital, none delivered to it). The route signals of three receivers (municipality, hospital, one",
        f"with no messages), read {args.repeat} times per probe after one warm-up read, on one connection pool",
        "(asyncpg prepares each statement; after five runs PostgreSQL may keep a generic plan). Before = the tree",
        f"named by --before-src, after = this tree; their probes alternate, {args.rounds} each, on the same",
        "database, under the bench lock. Median / max ms over all reads.",
        "",
        "| store | before | after | load average (1/5/15 min) start → end |",
        "|---|---|---|---|",
    ]
    for spec, r in results.items():
        b, a = r["before"], r["after"]
        lines.append(
            f"| {spec} ({r['fill']['rows']:,} rows, {r['fill']['pending']:,} pending originals, "
            f"{r['fill']['queued']:,} queued) | {b['median_ms']} / {b['max_ms']} | **{a['median_ms']}** / "
            f"{a['max_ms']} | {' '.join(r['load_average'])} → {' '.join(r['load_average_end'])} |"
        )
    for spec, r in results.items():
        for tree in ("before", "after"):
            lines += ["", f"{spec}, {tree}: per statement (its place in the tick; mean ms per tick):", ""]
            for sql, ms in list(r[tree]["per_statement_ms"].items())[:8]:
                lines.append(f"- {ms} ms: `{sql}…`")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", nargs="?", default="run", choices=("run", "probe", "stored"))
    ap.add_argument("--stored", default="postgresql:1000000", help="stored: dialect:size,… of scale_store's fills")
    ap.add_argument("--data-dir", type=Path, default=Path("/work/scale-data"), help="stored: the filled stores")
    ap.add_argument("--src", type=Path, default=REPO)
    ap.add_argument("--url")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3, help="before/after probes alternate this many times")
    ap.add_argument("--before-src", type=Path)
    ap.add_argument("--pending", type=int, default=140_000)
    ap.add_argument("--dialects", default="sqlite,postgresql")
    ap.add_argument("--out", default="health_tick")
    args = ap.parse_args()
    if args.mode == "probe":
        sys.path.insert(0, str(args.src))
        print(json.dumps(asyncio.run(probe(args.url, args.repeat))))
        return 0
    if args.before_src is None:
        ap.error("--before-src is required (an export of the commit to compare with)")
    if args.mode == "stored":
        found = on_stored(args.stored, args.before_src.resolve(), args.repeat, args.rounds, args.data_dir)
        write_results(args.out, found, stored_report(found, args))
        return 0
    results: dict[str, Any] = {"load_average_before": loadavg()}
    with tempfile.TemporaryDirectory(prefix="edigate-tick-") as tmp:
        for dialect in args.dialects.split(","):
            for label, share in (("0", 0.0), ("all", 1.0)):
                results[f"{dialect}/{label}"] = one(
                    dialect, args.pending, share, args.before_src.resolve(), args.repeat, Path(tmp), args.rounds
                )
                for f in Path(tmp).glob("*.db*"):
                    f.unlink()
                results["load_average_after"] = loadavg()
                write_results(args.out, results, report(results, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
