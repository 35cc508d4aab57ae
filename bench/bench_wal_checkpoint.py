"""SQLite commit times with the WAL checkpoint in the commit (SQLite's default) against a checkpoint thread
(edigate.store.wal_checkpoint, what the service does), alternating in one run (issue 14).

Each mode writes batches of `--batch` gw_messages rows with 2.4 KB bodies at `--rate` batches per second
for `--seconds`, through SQLAlchemy on a connection set up as the service's (`Database.sqlite_pragmas`:
WAL, synchronous=FULL), each batch one `BEGIN IMMEDIATE` transaction. Reported per mode: the COMMIT's
own time (p50 / p90 / p99 / max, commits over 20 ms), the WAL file's size at the end, and the thread's
checkpoints. Load average recorded.

    .venv/bin/python bench/bench_wal_checkpoint.py [--seconds 40] [--rounds 2]
Writes bench/results/wal_checkpoint.json and .md. Run it under `flock /work/notes/bench.lock`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.loadgen import percentile  # noqa: E402
from bench.results_file import write_results  # noqa: E402
from edigate.store.db import Database, WalCheckpoints  # noqa: E402
from edigate.store.schema import messages  # noqa: E402
from edigate.store.wal_checkpoint import WalCheckpointer  # noqa: E402

BODY = os.urandom(1200).hex().encode()  # 2.4 KB that does not compress to nothing


def rows(first: int, n: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "envelope_id": f"WC{i}",
            "sender_ean": "5790001382445",
            "receiver_ean": "5790000198764",
            "type": "XDIS91",
            "ack_requested": True,
            "is_receipt": False,
            "generated": False,
            "state": "received",
            "delivery_state": "pending",
            "body": BODY,
            "body_size": len(BODY),
            "created_at": now,
            "updated_at": now,
            "attempts": 0,
        }
        for i in range(first, first + n)
    ]


async def one_mode(mode: WalCheckpoints, tmp: Path, seconds: float, rate: float, batch: int) -> dict[str, Any]:
    path = tmp / f"{mode}-{time.monotonic_ns()}.db"
    db = Database.open(f"sqlite:///{path}", wal_checkpoints=mode)
    await db.migrate()
    engine = sa.create_engine(f"sqlite:///{path}")
    sa.event.listen(engine, "connect", db.sqlite_pragmas)
    checkpointer = WalCheckpointer(str(path)) if mode == "thread" else None
    if checkpointer is not None:
        await checkpointer.start()
    commits: list[float] = []

    def write(k: int) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            conn.execute(sa.insert(messages), rows(k * batch, batch))
            before_commit = time.perf_counter()
        commits.append((time.perf_counter() - before_commit) * 1000)

    t0 = time.perf_counter()
    k = 0
    while time.perf_counter() - t0 < seconds:
        delay = t0 + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await asyncio.to_thread(write, k)
        k += 1
    wal = path.with_name(path.name + "-wal")
    wal_mb = round(wal.stat().st_size / 1e6, 1) if wal.exists() else 0.0
    if checkpointer is not None:
        await checkpointer.stop()
    engine.dispose()
    await db.close()
    commits.sort()
    return {
        "mode": mode,
        "commits": len(commits),
        "p50_ms": round(percentile(commits, 0.5), 1),
        "p90_ms": round(percentile(commits, 0.9), 1),
        "p99_ms": round(percentile(commits, 0.99), 1),
        "max_ms": round(commits[-1], 1),
        "over_20_ms": sum(1 for c in commits if c > 20),
        "wal_mb_at_end": wal_mb,
        "thread_checkpoints": checkpointer.checkpoints if checkpointer else None,
        "thread_longest_checkpoint_ms": round(checkpointer.longest_ms, 1) if checkpointer else None,
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }


def report(r: dict[str, Any]) -> str:
    lines = [
        "# SQLite commits: WAL checkpoint in the commit vs a checkpoint thread (bench/bench_wal_checkpoint.py)",
        "",
        f"{r['batch']} gw_messages rows of 2.4 KB per transaction, {r['rate']:g} transactions/s for {r['seconds']:g} s"
        " per round, WAL, synchronous=FULL; the modes alternate. `commit`: SQLite's default (the commit that takes"
        " the WAL past 1,000 pages checkpoints before it returns); `thread`: the service's WalCheckpointer"
        " (PASSIVE every second, own connection and thread). Times are the COMMIT statement's own.",
        "",
        "| round | mode | commits | p50 ms | p90 ms | p99 ms | max ms | commits > 20 ms | WAL MB at end |"
        " thread checkpoints (longest ms) | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, m in enumerate(r["runs"]):
        thread = f"{m['thread_checkpoints']} ({m['thread_longest_checkpoint_ms']})" if m["thread_checkpoints"] else ""
        lines.append(
            f"| {i // 2 + 1} | {m['mode']} | {m['commits']} | {m['p50_ms']} | {m['p90_ms']} | {m['p99_ms']} |"
            f" {m['max_ms']} | {m['over_20_ms']} | {m['wal_mb_at_end']} | {thread} | {' '.join(m['load_average'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--rate", type=float, default=10.0, help="transactions per second")
    ap.add_argument("--batch", type=int, default=30, help="rows per transaction")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    result: dict[str, Any] = {"seconds": args.seconds, "rate": args.rate, "batch": args.batch, "runs": []}
    with tempfile.TemporaryDirectory(prefix="edigate-wal-") as tmp:
        modes: tuple[WalCheckpoints, ...] = ("commit", "thread")
        for _ in range(args.rounds):
            for mode in modes:
                run = asyncio.run(one_mode(mode, Path(tmp), args.seconds, args.rate, args.batch))
                print(run, flush=True)
                result["runs"].append(run)
    write_results("wal_checkpoint", result, report(result))
    print(report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
