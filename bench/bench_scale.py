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

    .venv/bin/python bench/bench_scale.py compare --before-src DIR [--sizes 0,100000,300000]
Writes bench/results/scale.json and bench/results/scale.md.

`run` (the default) measures this tree at each size in one run (issue 14's sizes 0, 1 M and 3 M), on
stores filled once and reused from --data-dir (bench/scale_store.py): the in-process calls above, the
real service's HTTP listings, and ingest taking turns with a service on an empty store and a bare
aiohttp 202 handler. The measuring part holds /work/notes/bench.lock; fills run outside it.

    .venv/bin/python bench/bench_scale.py run [--sizes 0,1000000,3000000] [--dialects sqlite,postgresql]
Adds each size to bench/results/scale-sizes.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.results_file import RESULTS, write_results  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
T_END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the fill's last message; the probes run one minute later
SPAN = timedelta(days=20)
CHUNK = 2000


# ------------------------------------------------------------------------------------ fill (any tree)


SEED_ROWS = 4000  # rows written through the store's own code; the rest are copies of them


async def fill(
    url: str, n: int, pending_share: float = 0.1, deliver_receipts: bool = False, seed_rows: int = SEED_ROWS
) -> dict[str, Any]:
    """A seed of up to SEED_ROWS rows through the store's code paths, then copies of exactly those rows
    (messages, letters, events) with new ids, envelope/letter ids and later times, made by the database
    (`replicate`), so that 3 M rows cost minutes instead of hours on this machine while every row is one
    the store itself wrote (tests/unit/bench/test_scale_fill.py compares them column by column)."""
    from edigate.store.db import Database
    from edigate.store.messages import MessageStore
    from edigate.store.model import IngestItem
    from tests.unit.gateway.envelopes import envelope, positive_receipt
    from tests.unit.medcom.samples import xdis91_message

    body = xdis91_message()  # a real 2.4 KB XDIS91 (windows-1252), the same bytes for every row
    receipt_body = body[:900]  # about the size of an XCTL03
    copies = max(1, -(-n // seed_rows))
    seed_n = min(n, seed_rows)
    shift = seed_shift(copies)
    # the seed is the oldest copy: copy k is `k * shift` later, so ids ascend with time as in a real store
    clock_now = [T_END - shift * copies]
    db = Database.open(url)
    store = MessageStore(db, lambda: clock_now[0], group_commit_max=256)
    await store.start()
    started = time.perf_counter()
    pending = round(seed_n * pending_share)
    pairs = (seed_n - pending) // 2
    step = shift / max(1, pending + pairs)
    try:
        # distinct id prefixes per kind (the same envelope id twice would be a duplicate: a re-sent receipt)
        for kind, count in (("P", pairs), ("N", pending)):
            for start in range(0, count, 500):
                k = min(500, count - start)
                envs = [envelope(f"{kind}{start + i:08d}", (f"L{kind}{start + i:07d}",)) for i in range(k)]
                clock_now[0] += step * k
                outs = await asyncio.gather(*(store.accept(IngestItem(e, body)) for e in envs))
                if kind == "P":
                    await store.mark_delivered([o.id for o in outs if o.id is not None], "bench fill")
                    receipts = [positive_receipt(f"R{e.id[1:]}", e) for e in envs]
                    routed = await asyncio.gather(*(store.accept(IngestItem(r, receipt_body)) for r in receipts))
                    if deliver_receipts:  # the hospital fetched its receipts: nothing left queued
                        await store.mark_delivered([o.id for o in routed if o.id is not None], "bench fill")
    finally:
        await store.stop()
    seeded = time.perf_counter() - started
    rows = await replicate(db, copies - 1, shift) if copies > 1 else 0
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


def seed_shift(copies: int) -> timedelta:
    """How much later each copy is than the one before: the copies span SPAN, in whole seconds (so that
    SQLite's text times shift exactly, microseconds kept)."""
    return timedelta(seconds=max(1, int(SPAN.total_seconds() // copies)))


ID_REFS = ("id", "message_id", "receipt_for_id", "receipt_id", "resend_of_id")  # row ids: + offset per copy
MEDCOM_IDS = ("envelope_id", "letter_id")  # unique per sender: suffixed ".k" per copy


def copy_select(table: Any, dialect: str, offset: int, k: int, shift: timedelta, seed_max: int) -> Any:
    """INSERT … SELECT of copy k of the seed rows of `table`: every column as the store wrote it, except
    row ids (+ k * offset; letters' and events' own ids are left to the database), MedCom envelope and
    letter ids (+ ".k") and every time (+ k * shift). Built from the tree's own table objects, so it
    copies whatever columns that tree's schema has."""
    import sqlalchemy as sa

    from edigate.store.schema import UtcDateTime

    seconds = int(shift.total_seconds()) * k
    src = table.alias("s")
    own_id = table.name == "gw_messages"
    cols, exprs = [], []
    for col in table.c:
        s = src.c[col.name]
        if col.name == "id" and not own_id:
            continue
        if col.name in ID_REFS:
            expr = s + offset * k
        elif col.name in MEDCOM_IDS:
            expr = s + sa.literal(f".{k}")
        elif isinstance(col.type, UtcDateTime):
            if dialect == "sqlite":  # 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds moved, microseconds kept
                expr = sa.func.strftime("%Y-%m-%d %H:%M:%S", s, f"+{seconds} seconds").op("||")(sa.func.substr(s, 20))
            else:
                expr = s + sa.literal_column(f"interval '{seconds} seconds'", sa.Interval)
        else:
            expr = s
        cols.append(col.name)
        exprs.append(expr.label(col.name))
    key = src.c.id if own_id else src.c.message_id
    order = [src.c.id]
    return sa.insert(table).from_select(cols, sa.select(*exprs).where(key <= seed_max).order_by(*order))


async def replicate(db: Any, copies: int, shift: timedelta, per_transaction: int = 25) -> int:
    """Copies 1..`copies` of the seed, made by the database itself (INSERT … SELECT from the seed rows, see
    `copy_select`), `per_transaction` copies per transaction. Returns the rows written in all tables."""
    import sqlalchemy as sa

    from edigate.store.schema import events, letters, messages

    async with db.engine.connect() as conn:
        seed_max = int((await conn.execute(sa.select(sa.func.max(messages.c.id)))).scalar_one())
        counts = [
            int((await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one())
            for t in (messages, letters, events)
        ]
    written = 0
    for first in range(1, copies + 1, per_transaction):
        async with db.engine.begin() as conn:
            if db.dialect == "sqlite":
                await conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MB for the indexes' pages
            for k in range(first, min(copies, first + per_transaction - 1) + 1):
                for table in (messages, letters, events):
                    await conn.execute(copy_select(table, db.dialect, seed_max, k, shift, seed_max))
                written += sum(counts)
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":  # the copies carry their ids: the next id the store takes comes after them
            await conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('gw_messages', 'id'), (SELECT max(id) FROM gw_messages))"
            )
        else:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    if db.dialect == "postgresql":  # what autovacuum would have done by the time a store is this big
        async with db.engine.connect() as conn:
            conn2 = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn2.exec_driver_sql("VACUUM ANALYZE")
    return written


# ------------------------------------------------------------------------------------ probe (any tree)


async def timed(fn: Any, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "median_ms": round(statistics.median(times), 2),
        "p99_ms": round(sorted(times)[max(0, -(-len(times) * 99 // 100) - 1)], 2),
        "max_ms": round(max(times), 2),
    }


async def probe(url: str, repeat: int, with_storage: bool = True) -> dict[str, Any]:
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
        if with_storage:
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
    from bench.probe import run_json  # not at the top: a probe process imports bench from `src`

    return run_json(Path(__file__).resolve(), [*args, "--src", str(src)], src=src, path=[src], timeout=7200)


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


# ------------------------------------------------------------------------------------ at size (this tree)

ADMIN_TOKEN = "scale-admin"
FILL_HOSPITAL_TOKEN = "scale-hospital"


def service_config(port: int, url: str, receiver_url: str | None = None) -> str:
    """The service on a filled store: an admin, the fill's partners (the hospital with a token), and the
    bench partners new messages come from (bench_ingest's hospital) and go to (its municipality: a mailbox,
    or `receiver_url` for delivery over HTTP). Bodies are kept 10 years, so retention finds nothing to
    purge (the fill's bodies are 16-36 days old)."""
    from bench.bench_ingest import TOKEN
    from bench.gateway_config import BenchPartner, hospital_and_municipality
    from bench.gateway_config import service_config as config
    from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY, OTHER

    bench = hospital_and_municipality(TOKEN)
    if receiver_url:
        bench[1] = dataclasses.replace(bench[1], delivery=f'{{ kind = "http", url = "{receiver_url}" }}')
    partners = [
        BenchPartner(HOSPITAL, "Fill hospital", "hospital", FILL_HOSPITAL_TOKEN),
        BenchPartner(MUNICIPALITY, "Fill municipality", "municipality"),
        BenchPartner(OTHER, "Fill GP", "gp"),
        *bench,
    ]
    admin = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()
    sections = f'[retention]\nbody_days = 3650\n[[admins]]\nname = "Scale admin"\ntokens_sha256 = ["{admin}"]\n'
    return config(port, url, partners, sections=sections)


@contextlib.contextmanager
def bench_lock(path: Path = Path("/work/notes/bench.lock")) -> Iterator[None]:
    """The machine's benchmark lock (what `flock /work/notes/bench.lock` takes): no two benchmarks measure
    at once. The fills run outside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        t0 = time.perf_counter()
        fcntl.flock(fh, fcntl.LOCK_EX)
        print(f"bench lock taken after {time.perf_counter() - t0:.0f} s", flush=True)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def listing_cases(now: datetime) -> dict[str, tuple[str, str]]:
    """The issue's listings and searches as HTTP requests: name -> (query, token)."""
    from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY

    future = (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "GET ?state=acknowledged (admin)": ("state=acknowledged", ADMIN_TOKEN),
        "same, the hospital's own token": ("state=acknowledged", FILL_HOSPITAL_TOKEN),
        "GET ?since=<future> (no rows)": (f"since={future}", ADMIN_TOKEN),
        "GET ?receiver=<municipality>": (f"receiver={MUNICIPALITY}", ADMIN_TOKEN),
        "GET ?sender=<hospital>&state=acknowledged": (f"sender={HOSPITAL}&state=acknowledged", ADMIN_TOKEN),
        "GET ?envelope_id=<one> (a lookup)": ("envelope_id=N00000007.1", ADMIN_TOKEN),
        "GET (everything, newest first)": ("", ADMIN_TOKEN),
    }


async def listings(port: int, repeat: int) -> dict[str, Any]:
    """Each listing `repeat` times one after the other (after 3 warm-ups), and the 50th page of the full
    listing reached by its cursors: client-side ms, p50 / p99 / max, and the rows a page held."""
    from bench.loadgen import percentile

    base = f"http://127.0.0.1:{port}/api/v1/messages"
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:

        async def get(query: str, token: str) -> tuple[float, dict[str, Any]]:
            t0 = time.perf_counter()
            async with session.get(f"{base}?{query}", headers={"Authorization": f"Bearer {token}"}) as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"GET ?{query}: {resp.status} {body}")
            return (time.perf_counter() - t0) * 1000, body

        for name, (query, token) in listing_cases(datetime.now(UTC)).items():
            for _ in range(3):
                await get(query, token)
            lat, count = [], 0
            for _ in range(repeat):
                ms, body = await get(query, token)
                lat.append(ms)
                count = body["count"]
            lat.sort()
            out[name] = {
                "median_ms": round(statistics.median(lat), 2),
                "p99_ms": round(percentile(lat, 0.99), 2),
                "max_ms": round(lat[-1], 2),
                "rows": count,
            }
        lat, cursor = [], ""
        for _ in range(50):  # page 1 .. 50 of everything (admin), each by the cursor of the one before
            ms, body = await get(f"cursor={cursor}" if cursor else "", ADMIN_TOKEN)
            lat.append(ms)
            cursor = body.get("next_cursor", "")
            if not cursor:
                break
        out["pages 2..50 by next_cursor"] = {
            "median_ms": round(statistics.median(lat[1:] or lat), 2),
            "p99_ms": round(percentile(sorted(lat[1:] or lat), 0.99), 2),
            "max_ms": round(max(lat[1:] or lat), 2),
            "rows": len(lat),
        }
    return out


def ingest_rounds(servers: dict[str, tuple[int, int]], rounds: int, seconds: float, concurrency: int) -> dict[str, Any]:
    """Closed-loop 2.4 KB XDIS91 ingest, the servers taking turns (`rounds` times each, interleaved, so a
    change in the machine's load falls on all of them): msgs/s, p50/p99 and the server's CPU per message."""
    from bench.bench_ingest import Bodies, run_closed_loop, with_cpu

    per: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for r in range(rounds):
        for name, (port, pid) in servers.items():
            cap = 15000 if name == "bare_202_handler" else 8000
            bodies = Bodies(f"S{uuid.uuid4().hex[:5].upper()}", int(seconds * cap), "xdis91")
            url = f"http://127.0.0.1:{port}/api/v1/messages"
            res = with_cpu(pid, functools.partial(run_closed_loop, url, bodies, seconds, concurrency))
            res["load_average"] = loadavg()
            per[name].append(res)
            print(f"  round {r + 1} {name:24} {res['msgs_per_s']} msg/s p99 {res['p99_ms']} ms", flush=True)
    out: dict[str, Any] = {"rounds": per}
    for name, runs in per.items():
        out[name] = {
            "median_msgs_per_s": statistics.median(x["msgs_per_s"] for x in runs),
            "median_p99_ms": statistics.median(x["p99_ms"] for x in runs),
            "median_server_cpu_us_per_msg": statistics.median(x["server_cpu_us_per_msg"] for x in runs),
            "errors": sum(x["errors"] for x in runs),
        }
    return out


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def at_size(dialect: str, n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """One run at one size: the in-process probes, then the real service on the filled store beside a
    service on an empty store and the bare handler: HTTP listings, interleaved ingest rounds, RSS."""
    from bench import scale_store
    from bench.bench_ingest import BARE_SERVER
    from bench.loadgen import rss_mb, start, stop
    from tests.harness.ports import free_port

    result: dict[str, Any] = {"dialect": dialect, "n": n}
    empty_pg = f"edigate_scale_empty_{uuid.uuid4().hex[:6]}"
    if dialect == "sqlite":
        empty_url = f"sqlite:///{tmp / f'empty-{n}.db'}"
    else:
        pg_admin(f'CREATE DATABASE "{empty_pg}"')
        empty_url = f"{scale_store.PG}/{empty_pg}"
    if n:
        info = scale_store.ensure_filled(dialect, n, args.data_dir)
        url = scale_store.url_of(dialect, n, args.data_dir)
        result["fill"] = info
        result["reset_before"] = asyncio.run(scale_store.reset(url, info))
        if "storage" not in info:  # once per fill (a full scan): outside the lock and the timings
            info["storage"] = run_in(REPO, "storage", "--url", url)
            scale_store.info_path(dialect, n, args.data_dir).write_text(json.dumps(info, indent=2) + "\n")
    else:
        url = empty_url
    procs = []
    try:
        with bench_lock(args.lock):
            result["load_average_before"] = loadavg()
            result["probe"] = run_in(REPO, "probe", "--url", url, "--repeat", str(args.repeat), "--no-storage")
            bare_port, sized_port = free_port(), free_port()
            (tmp / "bare.py").write_text(BARE_SERVER, encoding="utf-8")
            bare = start([sys.executable, str(tmp / "bare.py"), str(bare_port)], bare_port, tmp / "bare.log")
            procs.append(bare)
            cfg = tmp / f"sized-{n}.toml"
            cfg.write_text(service_config(sized_port, url), encoding="utf-8")
            cmd = [sys.executable, "-m", "edigate", "serve", "--config"]
            sized = start([*cmd, str(cfg)], sized_port, tmp / f"sized-{n}.log", timeout=120)
            procs.append(sized)
            servers = {"bare_202_handler": (bare_port, bare.pid), f"edigate_at_{n}": (sized_port, sized.pid)}
            if n:
                empty_port = free_port()
                cfg0 = tmp / f"empty-{n}.toml"
                cfg0.write_text(service_config(empty_port, empty_url), encoding="utf-8")
                empty = start([*cmd, str(cfg0)], empty_port, tmp / f"empty-{n}.log", timeout=120)
                procs.append(empty)
                servers = {"bare_202_handler": servers["bare_202_handler"], "edigate_at_0": (empty_port, empty.pid)}
                servers[f"edigate_at_{n}"] = (sized_port, sized.pid)
            result["listings_http"] = asyncio.run(listings(sized_port, args.repeat))
            result["ingest"] = ingest_rounds(servers, args.rounds, args.seconds, args.concurrency)
            result["rss_mb"] = {name: rss_mb(pid) for name, (_, pid) in servers.items()}
            result["load_average_after"] = loadavg()
    finally:
        for p in procs:
            stop(p)
        if dialect == "postgresql":
            pg_admin(f'DROP DATABASE IF EXISTS "{empty_pg}" WITH (FORCE)')
    ing = result["ingest"]
    bare_rate = ing["bare_202_handler"]["median_msgs_per_s"]
    result["ratio_to_bare"] = {
        k: round(v["median_msgs_per_s"] / bare_rate, 3) for k, v in ing.items() if k.startswith("edigate")
    }
    if n:
        result["ingest_at_n_over_at_0"] = round(
            ing[f"edigate_at_{n}"]["median_msgs_per_s"] / ing["edigate_at_0"]["median_msgs_per_s"], 3
        )
        result["cpu_per_msg_at_n_over_at_0"] = round(
            ing[f"edigate_at_{n}"]["median_server_cpu_us_per_msg"]
            / max(1, ing["edigate_at_0"]["median_server_cpu_us_per_msg"]),
            3,
        )
        result["reset_after"] = asyncio.run(scale_store.reset(url, result["fill"]))
    print(dialect, n, json.dumps({k: v for k, v in result.items() if k != "fill"}), flush=True)
    return result


def round_ratios(r: dict[str, Any]) -> list[float]:
    """Filled over empty store, msg/s, per interleaved round (the pair measured side by side)."""
    rounds = r["ingest"]["rounds"]
    if not r["n"]:
        return []
    pairs = zip(rounds[f"edigate_at_{r['n']}"], rounds["edigate_at_0"], strict=True)
    return [round(a["msgs_per_s"] / b["msgs_per_s"], 3) for a, b in pairs]


def sizes_report(results: dict[str, Any]) -> str:
    lines = [
        "# Cost at 0, 1 M and 3 M stored messages (bench/bench_scale.py)",
        "",
        "Each size is one run under the machine's benchmark lock: the in-process store calls first (sweeps,",
        "retention, health tick; in ms over the repeats), then the real `edigate serve` on the filled store",
        "(HTTP listings, client-side ms, one request at a time), then closed-loop ingest of 2.4 KB XDIS91",
        "(64 keep-alive clients) taking turns between a bare aiohttp 202 handler, the service on an empty store",
        "and the service on the filled store, interleaved round by round. Stores filled by",
        "`bench/scale_store.py` (the store's own code for a 4,000-row seed, exact copies of it by",
        "INSERT … SELECT; `tests/integration/bench/test_scale_fill.py`). 2 shared cores: loads below.",
    ]
    for dialect in ("sqlite", "postgresql"):
        runs = [v for k, v in results.items() if k.startswith(f"{dialect}/") and "listings_http" in v]
        if not runs:
            continue
        runs.sort(key=lambda r: r["n"])
        head = " | ".join(f"{r['n']:,}" for r in runs)
        lines += ["", f"## {dialect}", "", f"| operation (median / p99 / max ms) | {head} |"]
        lines.append("|---|" + "---|" * len(runs))

        def cell(d: dict[str, Any]) -> str:
            return f"{d['median_ms']} / **{d['p99_ms']}** / {d['max_ms']}"

        for op in runs[0]["listings_http"]:
            lines.append(f"| {op} | " + " | ".join(cell(r["listings_http"][op]) for r in runs) + " |")
        for op in [k for k, v in runs[0]["probe"].items() if isinstance(v, dict)]:
            lines.append(f"| {op} (in-process) | " + " | ".join(cell(r["probe"][op]) for r in runs) + " |")
        lines += ["", "| ingest, 2.4 KB XDIS91, 64 clients (median of rounds) | " + head + " |"]
        lines.append("|---|" + "---|" * len(runs))
        for label, key in (
            ("bare aiohttp 202 handler msg/s", "bare_202_handler"),
            ("edigate on an empty store msg/s", "edigate_at_0"),
        ):
            lines.append(
                f"| {label} | "
                + " | ".join(str(r["ingest"].get(key, {}).get("median_msgs_per_s", "–")) for r in runs)
                + " |"
            )
        filled = [r["ingest"][f"edigate_at_{r['n']}"] for r in runs]
        lines.append(
            "| edigate on the filled store msg/s (p99 ms, server CPU µs/msg) | "
            + " | ".join(
                f"{i['median_msgs_per_s']} ({i['median_p99_ms']}, {i['median_server_cpu_us_per_msg']})" for i in filled
            )
            + " |"
        )
        lines.append(
            "| filled / empty store (msg/s; CPU per msg) | "
            + " | ".join(
                f"**{r.get('ingest_at_n_over_at_0', 1.0)}**; {r.get('cpu_per_msg_at_n_over_at_0', 1.0)}" for r in runs
            )
            + " |"
        )
        lines.append(
            "| filled / empty store, round by round (msg/s) | "
            + " | ".join(", ".join(str(x) for x in round_ratios(r)) or "–" for r in runs)
            + " |"
        )
        lines.append(
            "| filled store / bare handler | "
            + " | ".join(str(r["ratio_to_bare"][f"edigate_at_{r['n']}"]) for r in runs)
            + " |"
        )
        lines.append("| RSS after (MB) | " + " | ".join(str(r["rss_mb"]) for r in runs) + " |")
        lines.append(
            "| load average before → after | "
            + " | ".join(f"{' '.join(r['load_average_before'])} → {' '.join(r['load_average_after'])}" for r in runs)
            + " |"
        )
        lines.append(
            "| fill: rows, queued, seconds; bytes per row | "
            + " | ".join(
                f"{r['fill']['rows']:,}, {r['fill']['queued']:,}, {r['fill']['fill_seconds']} s; "
                f"{r['fill'].get('storage', {}).get('bytes_per_row')}"
                if "fill" in r
                else "–"
                for r in runs
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", nargs="?", default="run", choices=("run", "compare", "fill", "probe", "storage"))
    ap.add_argument("--src", type=Path, default=REPO)
    ap.add_argument("--url")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--pending-share", type=float, default=0.1, help="share of the rows left pending (fill)")
    ap.add_argument("--deliver-receipts", action="store_true", help="fill: deliver the receipts too")
    ap.add_argument("--no-storage", action="store_true", help="probe: leave out the storage scan")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--before-src", type=Path, help="compare: an export of the commit to compare with")
    ap.add_argument("--sizes", default="0,1000000,3000000")
    ap.add_argument("--dialects", default="sqlite,postgresql")
    ap.add_argument("--data-dir", type=Path, default=Path("/work/scale-data"), help="run: the filled stores")
    ap.add_argument("--rounds", type=int, default=3, help="run: ingest rounds per server")
    ap.add_argument("--seconds", type=float, default=8.0, help="run: seconds per ingest round")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--lock", type=Path, default=Path("/work/notes/bench.lock"), help="run: the benchmark lock")
    ap.add_argument("--out", help="results file stem under bench/results (run: scale-sizes, compare: scale)")
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
            else probe(args.url, args.repeat, not args.no_storage)
        )
        print(json.dumps(asyncio.run(coro)))
        return 0
    if args.mode == "run":
        stem = RESULTS / (args.out or "scale-sizes")
        with tempfile.TemporaryDirectory(prefix="edigate-scale-") as tmp:
            for dialect in args.dialects.split(","):
                for size in args.sizes.split(","):
                    one = at_size(dialect, int(size), args, Path(tmp))
                    # the sizes' runs add to one results file (runs of other sizes may have written it meanwhile)
                    results: dict[str, Any] = (
                        json.loads(stem.with_suffix(".json").read_text()) if stem.with_suffix(".json").exists() else {}
                    )
                    results[f"{dialect}/{size}"] = one
                    write_results(stem.name, results, sizes_report(results))
        return 0
    if args.before_src is None:
        ap.error("compare: --before-src is required (an export of the commit to compare with)")
    args.out = args.out or "scale"
    results = {"load_average_before": Path("/proc/loadavg").read_text().split()[:3]}
    with tempfile.TemporaryDirectory(prefix="edigate-scale-") as tmp:
        for dialect in args.dialects.split(","):
            for size in args.sizes.split(","):
                results[f"{dialect}/{size}"] = one_size(
                    dialect, int(size), args.before_src.resolve(), args.repeat, Path(tmp)
                )
                results["load_average_after"] = Path("/proc/loadavg").read_text().split()[:3]
                write_results(args.out, results, report(results, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
