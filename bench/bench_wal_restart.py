"""Why the SQLite WAL never starts again from its beginning under steady writes, and what a RESTART
checkpoint costs the writer (issue 14). Plain sqlite3, one file, three kinds of threads as in the service:

- one writer: `--rate` transactions per second, each `BEGIN IMMEDIATE`, `--rows` inserts with a random
  indexed key and as many updates of random older rows (the delivery's state changes), COMMIT; its time
  from BEGIN to the end of COMMIT is what a batch of the service waits (busy_timeout 10 s, synchronous=FULL);
- `--readers` readers: short SELECTs back to back (the delivery loop, the health tick, duplicate checks);
- the checkpoint thread, one `--policy`:
  `passive`: PASSIVE every second, never anything else (does the WAL start again by itself?);
  `restart`: the service before issue 14's fix: PASSIVE, and RESTART (busy_timeout 2,000 ms) past 10,000 frames;
  `service`: edigate.store.wal_checkpoint.WalCheckpointer.checkpoint as it is in this checkout.

Reported per policy: the writer's transaction times (p50/p99/max, count over 20 ms), the largest WAL in
frames, how often the WAL started again (a checkpoint seeing fewer frames than the one before) without a
RESTART of the thread, the RESTARTs and their times, the thread's counters.

    .venv/bin/python bench/bench_wal_restart.py [--seconds 30] [--policies passive,restart,service]
Writes bench/results/wal_restart.json and .md. Run it under `flock /work/notes/bench.lock`.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.loadgen import percentile  # noqa: E402
from bench.results_file import write_results  # noqa: E402
from edigate.store.wal_checkpoint import WalCheckpointer  # noqa: E402
from tests.harness.sqlite_wal import connect_like_service  # noqa: E402

BODY = os.urandom(300).hex().encode()


def fill(path: Path, n: int) -> None:
    conn = connect_like_service(path)
    conn.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, k TEXT NOT NULL, state INTEGER NOT NULL, body BLOB)")
    conn.execute("CREATE INDEX m_k ON m (k)")
    conn.execute("CREATE INDEX m_state ON m (state, id)")
    for start in range(0, n, 20_000):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO m (k, state, body) VALUES (?, 0, ?)",
            ((os.urandom(8).hex(), BODY) for _ in range(min(20_000, n - start))),
        )
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


class Run:
    def __init__(self, path: Path, n: int, args: argparse.Namespace) -> None:
        self.path, self.n, self.args = path, n, args
        self.stop = threading.Event()
        self.txn_ms: list[tuple[float, float]] = []  # (at s, ms)
        self.reads = 0
        self.rounds: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        self.service: dict[str, Any] = {}

    def writer(self) -> None:
        conn, a = connect_like_service(self.path), self.args
        t0, k, top = time.perf_counter(), 0, self.n
        while not self.stop.is_set():
            delay = t0 + k / a.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            began = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO m (k, state, body) VALUES (?, 0, ?)", ((os.urandom(8).hex(), BODY) for _ in range(a.rows))
            )
            top += a.rows
            conn.executemany("UPDATE m SET state = 1 WHERE id = ?", ((random.randint(1, top),) for _ in range(a.rows)))
            conn.execute("COMMIT")
            self.txn_ms.append((began - self.started, (time.perf_counter() - began) * 1000))
            k += 1
        conn.close()

    def reader(self) -> None:
        conn = connect_like_service(self.path)
        while not self.stop.is_set():
            conn.execute("SELECT id, body FROM m WHERE id > ? LIMIT 20", (random.randint(1, self.n),)).fetchall()
            self.reads += 1
            time.sleep(self.args.read_pause_ms / 1000)
        conn.close()

    def checkpoints(self, policy: str) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=2000")
        checkpointer = WalCheckpointer(str(self.path)) if policy == "service" else None
        if checkpointer is not None:
            checkpointer._open()
        while not self.stop.wait(1.0):
            at = time.perf_counter() - self.started
            t = time.perf_counter()
            restart_ms = None
            if checkpointer is not None:
                restarts = checkpointer.restarts
                busy, frames, copied = checkpointer.checkpoint()
                restarted = checkpointer.restarts > restarts
                restart_ms = checkpointer.last_restart_ms if restarted else None
            else:
                busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                restarted = False
                if policy == "restart" and frames > 10_000:
                    r = time.perf_counter()
                    busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                    restart_ms = (time.perf_counter() - r) * 1000
                    restarted = True
            self.rounds.append(
                {
                    "at_s": round(at, 2),
                    "ms": round((time.perf_counter() - t) * 1000, 1),
                    "restart_ms": restart_ms and round(restart_ms, 1),
                    "busy": busy,
                    "frames": frames,
                    "copied": copied,
                    "restarted": restarted,
                    "wal_mb": round(os.path.getsize(f"{self.path}-wal") / 1e6, 1),
                }
            )
        if checkpointer is not None:
            names = ("checkpoints", "restarts", "restarts_busy", "longest_ms", "longest_restart_ms")
            self.service = {k: round(getattr(checkpointer, k), 1) for k in names}
            checkpointer._close()
        conn.close()

    def go(self, policy: str, seconds: float) -> dict[str, Any]:
        self.started = time.perf_counter()
        threads = [threading.Thread(target=self.writer), threading.Thread(target=self.checkpoints, args=(policy,))]
        threads += [threading.Thread(target=self.reader) for _ in range(self.args.readers)]
        for th in threads:
            th.start()
        time.sleep(seconds)
        self.stop.set()
        for th in threads:
            th.join()
        ms = sorted(m for _, m in self.txn_ms)
        natural = sum(
            1
            for prev, cur in zip(self.rounds, self.rounds[1:], strict=False)
            if cur["frames"] < prev["frames"] and not prev["restarted"]
        )
        restarts = [r for r in self.rounds if r["restarted"]]
        # the writer's slowest transactions, and the thread's round that ended nearest to each
        slow = sorted(self.txn_ms, key=lambda x: -x[1])[:5]
        return {
            "policy": policy,
            "transactions": len(ms),
            "reads": self.reads,
            "p50_ms": round(percentile(ms, 0.5), 1),
            "p99_ms": round(percentile(ms, 0.99), 1),
            "max_ms": round(ms[-1], 1),
            "over_20_ms": sum(1 for m in ms if m > 20),
            "largest_wal_frames": max((r["frames"] for r in self.rounds), default=0),
            "natural_restarts": natural,
            "rounds": len(self.rounds),
            "rounds_fully_copied": sum(1 for r in self.rounds if r["copied"] == r["frames"]),
            "thread_restarts": len(restarts),
            "restart_ms": sorted(r["restart_ms"] or r["ms"] for r in restarts),
            "slowest_transactions": [(round(at, 2), round(m, 1)) for at, m in slow],
            "service": self.service,
            "largest_wal_file_mb": max((r["wal_mb"] for r in self.rounds), default=0.0),
            "load_average": Path("/proc/loadavg").read_text().split()[:3],
            "trace": self.rounds,
        }


def report(r: dict[str, Any]) -> str:
    a = r["args"]
    lines = [
        "# SQLite: does the WAL start again by itself, what does a RESTART cost the writer"
        " (bench/bench_wal_restart.py)",
        "",
        f"Store: {a['n']:,} rows, 3 indexes. Writer: {a['rate']:g} transactions/s of {a['rows']} inserts + {a['rows']}"
        f" updates (BEGIN IMMEDIATE → COMMIT timed), synchronous=FULL; {a['readers']} readers of short SELECTs"
        f" ({a['read_pause_ms']} ms apart); {a['seconds']:g} s per policy, each on a fresh copy of the store.",
        "",
        "| policy | txns | p50 ms | p99 ms | max ms | > 20 ms | largest WAL (frames) | largest WAL file MB |"
        " rounds (fully copied) | WAL started again by itself | RESTARTs | RESTART ms (max 5) | thread counters |"
        " load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in r["runs"]:
        lines.append(
            f"| {m['policy']} | {m['transactions']} | {m['p50_ms']} | {m['p99_ms']} | {m['max_ms']} |"
            f" {m['over_20_ms']} | {m['largest_wal_frames']:,} | {m['largest_wal_file_mb']} | {m['rounds']}"
            f" ({m['rounds_fully_copied']}) | {m['natural_restarts']} | {m['thread_restarts']} |"
            f" {m['restart_ms'][-5:]} | {m['service'] or ''} | {' '.join(m['load_average'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=30.0, help="writer transactions per second")
    ap.add_argument("--rows", type=int, default=10, help="inserts (and updates) per transaction")
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--read-pause-ms", type=float, default=2.0)
    ap.add_argument("--policies", default="passive,restart,service")
    ap.add_argument("--out", default="wal_restart")
    args = ap.parse_args()
    result: dict[str, Any] = {"args": vars(args), "runs": []}
    with tempfile.TemporaryDirectory(prefix="edigate-walr-", dir=os.environ.get("TMPDIR", "/work")) as tmp:
        base = Path(tmp) / "base.db"
        fill(base, args.n)
        for policy in args.policies.split(","):
            path = Path(tmp) / f"{policy}.db"
            path.write_bytes(base.read_bytes())
            run = Run(path, args.n, args).go(policy, args.seconds)
            print({k: v for k, v in run.items() if k != "trace"}, flush=True)
            result["runs"].append(run)
    write_results(args.out, result, report(result))
    print(report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
