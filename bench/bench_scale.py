"""Benchmark: what reading and cleaning the history costs as the store grows (issue 14).

For each size the store is filled once with the store's own code paths, in the tree named by
`--before-src` (the commit before this work: schema step 1 only): `MessageStore.accept` (the group-commit
writer the service uses) for originals and their XCTL03 receipts, `mark_delivered` for the deliveries.
Composition of N rows: 10 % originals still pending for one municipality, the rest originals delivered
and acknowledged plus their receipts (which stay queued for the hospital: 55 % of the rows are queued),
created over the last 20 days. No message is left delivered without a receipt request, so the receipt
sweep's "before" reads few rows here (its state index finds no 'delivered' rows). Then a copy of that store is probed
by each tree in its own process: before = the old tree on the old schema; after = this tree, which first
runs its migration (step 2: the new indexes; the time is reported). Same data, same machine, one run.

Probed (in-process store calls, each repeated; median and max in ms): the listings of issue 14, the
receipt sweep, a retention pass with nothing to purge, the health tick's store read, and the storage per
row (SQLite: dbstat by table and index; PostgreSQL: pg_relation_size).

    .venv/bin/python bench/bench_scale.py --before-src DIR [--sizes 0,100000,300000] [--dialects sqlite,postgresql]
Writes bench/results/scale.json and bench/results/scale.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
T_END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the fill's last message; the probes run one minute later
SPAN = timedelta(days=20)
CHUNK = 2000


# ------------------------------------------------------------------------------------ fill (any tree)


SEED_ROWS = 4000  # rows written through the store's own code; the rest are copies of them


async def fill(url: str, n: int, pending_share: float = 0.1, deliver_receipts: bool = False) -> dict[str, Any]:
    """A seed of up to SEED_ROWS rows through the store's code paths, then copies of exactly those rows
    (messages, letters, events) with new ids, envelope/letter ids and earlier times, so that N rows cost
    seconds instead of hours on this machine while every row is one the store itself wrote."""
    from edigate.store.db import Database
    from edigate.store.messages import MessageStore
    from edigate.store.model import IngestItem
    from tests.unit.gateway.envelopes import envelope, positive_receipt
    from tests.unit.medcom.samples import xdis91_message

    body = xdis91_message()  # a real 2.4 KB XDIS91 (windows-1252), the same bytes for every row
    receipt_body = body[:900]  # about the size of an XCTL03
    copies = max(1, -(-n // SEED_ROWS))
    seed_n = min(n, SEED_ROWS)
    seed_span = SPAN / copies
    clock_now = [T_END - seed_span]
    db = Database.open(url)
    store = MessageStore(db, lambda: clock_now[0], group_commit_max=256)
    await store.start()
    started = time.perf_counter()
    pending = round(seed_n * pending_share)
    pairs = (seed_n - pending) // 2
    step = seed_span / max(1, pending + pairs)
    try:
        for kind, count in (("pair", pairs), ("pending", pending)):
            for start in range(0, count, 500):
                k = min(500, count - start)
                envs = [
                    envelope(f"{kind[0].upper()}{start + i:08d}", (f"L{kind[0]}{start + i:07d}",)) for i in range(k)
                ]
                clock_now[0] += step * k
                outs = await asyncio.gather(*(store.accept(IngestItem(e, body)) for e in envs))
                if kind == "pair":
                    await store.mark_delivered([o.id for o in outs if o.id is not None], "bench fill")
                    receipts = [positive_receipt(f"R{e.id[1:]}", e) for e in envs]
                    routed = await asyncio.gather(*(store.accept(IngestItem(r, receipt_body)) for r in receipts))
                    if deliver_receipts:  # the hospital fetched its receipts: nothing left queued
                        await store.mark_delivered([o.id for o in routed if o.id is not None], "bench fill")
    finally:
        await store.stop()
    seeded = time.perf_counter() - started
    rows = await replicate(db, copies - 1, seed_span) if n > SEED_ROWS else 0
    await db.close()
    total = (pairs * 2 + pending) * copies
    return {
        "rows": total,
        "pending": pending * copies,
        # the receipts are queued for the hospital too (this fill delivers originals only)
        "queued": (pending + (0 if deliver_receipts else pairs)) * copies,
        "seed_rows": pairs * 2 + pending,
        "seed_seconds": round(seeded, 1),
        "fill_seconds": round(time.perf_counter() - started, 1),
        "copied_rows_all_tables": rows,
    }


async def replicate(db: Any, copies: int, span: timedelta) -> int:
    """Copies 1..`copies` of the seed: ids shifted past the seed, ids of MedCom envelopes and letters
    suffixed, every time `k * span` earlier. Same tables, same SQLAlchemy types as the store's inserts."""
    import sqlalchemy as sa

    from edigate.store.schema import events, letters, messages

    id_refs = ("id", "receipt_for_id", "receipt_id", "resend_of_id")
    times = {
        "created_at",
        "updated_at",
        "delivered_at",
        "receipt_at",
        "next_attempt_at",
        "lease_until",
        "ack_alerted_at",
        "at",
    }
    async with db.engine.connect() as conn:
        seed = {
            t.name: [dict(r) for r in (await conn.execute(sa.select(t))).mappings()]
            for t in (messages, letters, events)
        }
    offset = max(r["id"] for r in seed["gw_messages"])
    written = 0
    for k in range(1, copies + 1):
        shift = span * k

        def moved(row: dict[str, Any], table: str, k: int = k, shift: timedelta = shift) -> dict[str, Any]:
            out = {}
            for col, v in row.items():
                if col == "id" and table != "gw_messages":
                    continue  # letters and events: the database numbers them
                if v is not None and ((col in id_refs and table == "gw_messages") or col == "message_id"):
                    v = v + offset * k
                elif v is not None and col in times:
                    v = v - shift
                elif col in ("envelope_id", "letter_id") and v is not None:
                    v = f"{v}.{k}"
                out[col] = v
            return out

        async with db.engine.begin() as conn:
            for table in (messages, letters, events):
                rows = [moved(r, table.name) for r in seed[table.name]]
                for s in range(0, len(rows), 1000):
                    await conn.execute(sa.insert(table), rows[s : s + 1000])
                written += len(rows)
    return written


# ------------------------------------------------------------------------------------ probe (any tree)


async def timed(fn: Any, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}


async def probe(url: str, repeat: int) -> dict[str, Any]:
    from edigate.store.db import Database
    from edigate.store.health_queries import read_route_signals
    from edigate.store.messages import MessageStore, SearchFilter
    from edigate.store.retention import purge_bodies
    from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY, OTHER

    now = T_END + timedelta(minutes=1)
    db = Database.open(url)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    await db.migrate()
    out["migrate_seconds"] = round(time.perf_counter() - t0, 1)
    store = MessageStore(db, lambda: now)
    try:
        cases = {
            "list ?state=acknowledged (admin)": lambda: store.search(SearchFilter(state="acknowledged")),
            "same, the hospital's own token": lambda: store.search(
                SearchFilter(state="acknowledged", visible_to=frozenset({HOSPITAL}))
            ),
            "list ?since=<future> (no rows)": lambda: store.search(SearchFilter(since=now + timedelta(days=1))),
            "list ?receiver=<municipality>": lambda: store.search(SearchFilter(receiver=MUNICIPALITY)),
            "receipt-overdue sweep": lambda: store.sweep_missing_receipts(timedelta(minutes=30), timedelta(minutes=90)),
            "retention pass, nothing to purge": lambda: purge_bodies(db, now, 30),
            "health tick (store read)": lambda: read_route_signals(db, [MUNICIPALITY, HOSPITAL, OTHER], now),
        }
        for name, fn in cases.items():
            await fn()  # type: ignore[no-untyped-call]  # warm: caches, prepared statements
            out[name] = await timed(fn, repeat)
        out["storage"] = await storage(db)
    finally:
        await db.close()
    return out


async def storage_of(url: str) -> dict[str, Any]:
    """`storage` of the store at `url` (its own tree's Database)."""
    from edigate.store.db import Database

    db = Database.open(url)
    try:
        return await storage(db)
    finally:
        await db.close()


async def storage(db: Any) -> dict[str, Any]:
    import sqlalchemy as sa

    async with db.engine.connect() as conn:
        rows = int((await conn.execute(sa.text("SELECT count(*) FROM gw_messages"))).scalar_one())
        if db.dialect == "sqlite":
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            parts = (await conn.exec_driver_sql("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")).all()
            free = int((await conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one()) * int(
                (await conn.exec_driver_sql("PRAGMA page_size")).scalar_one()
            )
        else:
            parts = (
                await conn.exec_driver_sql(
                    "SELECT c.relname, pg_relation_size(c.oid) + coalesce(pg_relation_size(c.reltoastrelid), 0) "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') AND c.relname LIKE 'gw_%'"
                )
            ).all()
            free = 0
    by_name = {str(k): int(v) for k, v in parts if str(k).startswith("gw_")}
    total = sum(by_name.values())
    return {
        "rows": rows,
        "bytes_per_row": round(total / rows) if rows else None,
        "free_bytes": free,
        "by_object_bytes_per_row": {k: round(v / rows) for k, v in sorted(by_name.items())} if rows else {},
    }


# ------------------------------------------------------------------------------------ driver


def run_in(src: Path, *args: str) -> dict[str, Any]:
    """This script's `fill` or `probe` in another process, importing edigate (and tests) from `src`."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args, "--src", str(src)],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} in {src} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def pg_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def one_size(dialect: str, n: int, before: Path, repeat: int, tmp: Path) -> dict[str, Any]:
    if dialect == "sqlite":
        first = tmp / f"before-{n}.db"
        url_before, url_after = f"sqlite:///{first}", f"sqlite:///{tmp / f'after-{n}.db'}"
        filled = run_in(before, "fill", "--url", url_before, "--n", str(n))
        run_in(before, "probe", "--url", url_before, "--repeat", "1")  # checkpoints the WAL into the file
        shutil.copy(first, tmp / f"after-{n}.db")
    else:
        name = f"edigate_scale_{uuid.uuid4().hex[:8]}"
        pg_admin(f'CREATE DATABASE "{name}_b"')
        url_before = f"postgresql://postgres@127.0.0.1:5432/{name}_b"
        url_after = f"postgresql://postgres@127.0.0.1:5432/{name}_a"
        filled = run_in(before, "fill", "--url", url_before, "--n", str(n))
        pg_admin(f'CREATE DATABASE "{name}_a" TEMPLATE "{name}_b"')
    result = {"fill": filled}
    try:
        result["before"] = run_in(before, "probe", "--url", url_before, "--repeat", str(repeat))
        result["after"] = run_in(REPO, "probe", "--url", url_after, "--repeat", str(repeat))
    finally:
        if dialect == "postgresql":
            for suffix in ("_b", "_a"):
                pg_admin(f'DROP DATABASE IF EXISTS "{name}{suffix}" WITH (FORCE)')
        else:
            for f in tmp.glob(f"*-{n}.db*"):
                f.unlink()
    print(dialect, n, json.dumps(result), flush=True)
    return result


def fill_cell(r: dict[str, Any]) -> str:
    f = r["fill"]
    queued = f.get("queued", f["pending"] + (f["rows"] - f["pending"]) // 2)
    return f"{f['fill_seconds']} s, {f['rows']:,}, {queued:,} / {r['after']['migrate_seconds']} s"


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "# Cost in stored volume (bench/bench_scale.py)",
        "",
        f"Sizes (rows in gw_messages): {args.sizes}; each probe repeated {args.repeat} times (median / max ms);",
        f"load average before {results['load_average_before']}, after {results['load_average_after']} (2 cores,",
        "shared). Before = the tree at the start of this work, on its own schema; after = this tree on a copy",
        "of the same store after its migration. In-process store calls (no HTTP).",
    ]
    for dialect in args.dialects.split(","):
        sizes = [s for s in args.sizes.split(",") if f"{dialect}/{s}" in results]
        if not sizes:
            continue
        lines += [
            "",
            f"## {dialect}",
            "",
            "| operation | " + " | ".join(f"{int(s):,} rows before → after" for s in sizes) + " |",
        ]
        lines.append("|---|" + "---|" * len(sizes))
        first = results[f"{dialect}/{sizes[0]}"]["after"]
        for op in [k for k, v in first.items() if isinstance(v, dict) and "median_ms" in v]:
            cells = []
            for s in sizes:
                r = results[f"{dialect}/{s}"]
                b, a = r["before"][op], r["after"][op]
                cells.append(f"{b['median_ms']} / {b['max_ms']} → **{a['median_ms']} / {a['max_ms']}**")
            lines.append(f"| {op} | " + " | ".join(cells) + " |")
        cells = []
        for s in sizes:
            r = results[f"{dialect}/{s}"]
            cells.append(f"{r['before']['storage']['bytes_per_row']} → {r['after']['storage']['bytes_per_row']}")
        lines.append("| database bytes per row (tables + indexes) | " + " | ".join(cells) + " |")
        lines.append(
            "| fill (s, rows, queued for delivery) / after's migration (s) | "
            + " | ".join(fill_cell(results[f"{dialect}/{s}"]) for s in sizes)
            + " |"
        )
        big = results[f"{dialect}/{sizes[-1]}"]
        lines += ["", f"Bytes per row by table and index at {int(sizes[-1]):,} rows (before → after):", ""]
        b_parts, a_parts = (
            big["before"]["storage"]["by_object_bytes_per_row"],
            big["after"]["storage"]["by_object_bytes_per_row"],
        )
        for name in sorted(set(b_parts) | set(a_parts)):
            lines.append(f"- `{name}`: {b_parts.get(name, '–')} → {a_parts.get(name, '–')}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", nargs="?", default="run", choices=("run", "fill", "probe", "storage"))
    ap.add_argument("--src", type=Path, default=REPO)
    ap.add_argument("--url")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--pending-share", type=float, default=0.1, help="share of the rows left pending (fill)")
    ap.add_argument("--deliver-receipts", action="store_true", help="fill: deliver the receipts too")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--before-src", type=Path)
    ap.add_argument("--sizes", default="0,100000,300000")
    ap.add_argument("--dialects", default="sqlite,postgresql")
    ap.add_argument("--out", default="scale")
    args = ap.parse_args()
    if args.mode == "storage":
        sys.path.insert(0, str(args.src))
        print(json.dumps(asyncio.run(storage_of(args.url))))
        return 0
    if args.mode in ("fill", "probe"):
        sys.path.insert(0, str(args.src))
        coro = (
            fill(args.url, args.n, args.pending_share, args.deliver_receipts)
            if args.mode == "fill"
            else probe(args.url, args.repeat)
        )
        print(json.dumps(asyncio.run(coro)))
        return 0
    if args.before_src is None:
        ap.error("--before-src is required (an export of the commit to compare with)")
    results: dict[str, Any] = {"load_average_before": Path("/proc/loadavg").read_text().split()[:3]}
    with tempfile.TemporaryDirectory(prefix="edigate-scale-") as tmp:
        for dialect in args.dialects.split(","):
            for size in args.sizes.split(","):
                results[f"{dialect}/{size}"] = one_size(
                    dialect, int(size), args.before_src.resolve(), args.repeat, Path(tmp)
                )
                results["load_average_after"] = Path("/proc/loadavg").read_text().split()[:3]
                out = REPO / "bench" / "results"
                (out / f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
                (out / f"{args.out}.md").write_text(report(results, args), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
