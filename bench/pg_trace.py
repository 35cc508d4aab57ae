"""What PostgreSQL was doing during a benchmark, sampled every 0.2 s (the benches' `--pg-trace FILE`).

A thread with its own connection samples, for the bench's database: the wait events and statements of the
active backends (client backends, autovacuum workers, the checkpointer, the WAL writer), the cumulative WAL
counters (`pg_stat_wal`), the checkpoint counters (`pg_stat_bgwriter`) and `gw_messages`' update, HOT-update,
dead-row and autovacuum counters. `summarise` folds the samples into the bench's 5-second windows, so a slow
window can be laid beside what the server did in it (issue 14). Nothing of this runs in the product.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

from bench.sampler_thread import SamplerThread

INTERVAL = 0.2

ACTIVITY = """
SELECT backend_type, coalesce(wait_event_type, 'CPU') AS wtype, coalesce(wait_event, '') AS wevent,
       left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS query
FROM pg_stat_activity
WHERE pid <> pg_backend_pid()
  AND ((datname = current_database() AND state = 'active') OR backend_type IN ('checkpointer', 'autovacuum worker'))
"""
COUNTERS = """
SELECT w.wal_bytes::bigint, w.wal_fpi, w.wal_records, w.wal_sync, w.wal_write,
       b.checkpoints_timed, b.checkpoints_req, b.buffers_checkpoint, b.buffers_backend, b.buffers_backend_fsync,
       t.n_tup_upd, t.n_tup_hot_upd, t.n_dead_tup, t.autovacuum_count, t.autoanalyze_count
FROM pg_stat_wal w, pg_stat_bgwriter b
LEFT JOIN pg_stat_user_tables t ON t.relname = 'gw_messages'
"""


class PgTrace(SamplerThread):
    """Samples into `path` (JSON lines: wall time `t`, counters, active backends) until stopped."""

    name = "pg-trace"

    def __init__(self, url: str, path: Path, interval: float = INTERVAL) -> None:
        self.url = url.replace("postgresql+asyncpg://", "postgresql://")
        self.path = path
        super().__init__(interval)

    def _run(self) -> None:
        asyncio.run(self._sample())

    async def _sample(self) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute("SET jit = off")
            with self.path.open("w", encoding="utf-8") as out:
                while not self._stop.is_set():
                    t = time.time()
                    counters = dict(await conn.fetchrow(COUNTERS) or {})
                    active = [dict(r) for r in await conn.fetch(ACTIVITY)]
                    out.write(json.dumps({"t": round(t, 3), "c": counters, "a": active}) + "\n")
                    await asyncio.sleep(max(0.0, self.interval - (time.time() - t)))
        finally:
            await conn.close()


def _label(a: dict[str, Any]) -> str:
    kind = {"client backend": "client", "autovacuum worker": "autovacuum"}.get(a["backend_type"], a["backend_type"])
    return f"{kind}:{a['wtype']}:{a['wevent']}" if a["wevent"] else f"{kind}:{a['wtype']}"


def summarise(path: Path, t0_wall: float, width: float = 5.0) -> list[dict[str, Any]]:
    """Per window of `width` s from `t0_wall`: WAL MB and full-page images written, checkpoints started,
    updates / HOT updates of gw_messages, autovacuum/autoanalyze runs, whether the checkpointer was writing
    or an autovacuum worker ran, and the commonest wait events of active backends (samples each)."""
    samples = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    by: dict[int, list[dict[str, Any]]] = {}
    for s in samples:
        by.setdefault(int((s["t"] - t0_wall) // width), []).append(s)
    out: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for w in sorted(by):
        group = by[w]
        first = previous or group[0]["c"]
        last = group[-1]["c"]
        previous = last

        def delta(key: str, first: dict[str, Any] = first, last: dict[str, Any] = last) -> int:
            return int((last.get(key) or 0) - (first.get(key) or 0))

        waits: Counter[str] = Counter()
        autovacuum: set[str] = set()
        checkpoint_writing = 0
        for s in group:
            for a in s["a"]:
                if a["backend_type"] == "checkpointer":
                    checkpoint_writing += a["wevent"] in ("CheckpointWriteDelay", "DataFileSync", "DataFileWrite")
                    continue
                if a["backend_type"] == "autovacuum worker" and a["query"]:
                    autovacuum.add(a["query"][:60])
                waits[_label(a)] += 1
        out.append(
            {
                "from_s": w * width,
                "samples": len(group),
                "wal_mb": round(delta("wal_bytes") / 1e6, 1),
                "wal_fpi": delta("wal_fpi"),
                "checkpoints": delta("checkpoints_timed") + delta("checkpoints_req"),
                "checkpoint_writing_samples": checkpoint_writing,
                "updates": delta("n_tup_upd"),
                "hot_updates": delta("n_tup_hot_upd"),
                "autovacuum": sorted(autovacuum),
                "waits": dict(waits.most_common(4)),
            }
        )
    return out


def totals(path: Path, start_wall: float, end_wall: float) -> dict[str, Any]:
    """Counter differences between two wall times (e.g. the purge's start and end)."""
    samples = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    inside = [s for s in samples if start_wall <= s["t"] <= end_wall]
    if len(inside) < 2:
        return {}
    a, b = inside[0]["c"], inside[-1]["c"]
    return {k: int((b.get(k) or 0) - (a.get(k) or 0)) for k in a if isinstance(a.get(k), int)}


def markdown(rows: list[dict[str, Any]], slow: dict[float, float]) -> list[str]:
    """The trace per window as a table; `slow` maps a window's start to its p99 (ms) for the windows to mark."""
    lines = [
        "| from s | p99 ms | WAL MB | FPI | ckpt | ckpt writing | upd | HOT | autovacuum | top waits (samples) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p99 = slow.get(r["from_s"])
        waits = ", ".join(f"{k} {v}" for k, v in r["waits"].items())
        lines.append(
            f"| {r['from_s']:.0f} | {'' if p99 is None else p99} | {r['wal_mb']} | {r['wal_fpi']} |"
            f" {r['checkpoints']} | {r['checkpoint_writing_samples']} | {r['updates']} | {r['hot_updates']} |"
            f" {'; '.join(r['autovacuum'])} | {waits} |"
        )
    return lines
