"""Filled stores for the scale benchmarks, kept outside the repository and reused between runs.

A fill of 3 M messages takes 10-15 minutes on this machine, so each (dialect, size) is filled once
(`bench_scale.fill`, the store's own code for a seed and exact copies of it) into `--data-dir`
(default /work/scale-data): SQLite as `sqlite-<n>.db`, PostgreSQL as database `edigate_scale_<n>`, each
with `<dialect>-<n>.json` beside it (the fill's figures and the highest ids it wrote; its presence means
the fill finished). Before each use `reset` deletes what a previous run added (rows above those ids) and
checks that the filled rows are still as filled (their count by state), so every run starts from the
same store.

    .venv/bin/python bench/scale_store.py fill --dialect sqlite --n 3000000   # fill ahead of a run
    .venv/bin/python bench/scale_store.py drop --dialect sqlite --n 3000000   # remove it
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_scale import pg_admin, run_in  # noqa: E402

DATA_DIR = Path("/work/scale-data")
PG = "postgresql://postgres@127.0.0.1:5432"


def url_of(dialect: str, n: int, data_dir: Path = DATA_DIR) -> str:
    if dialect == "sqlite":
        return f"sqlite:///{data_dir / f'sqlite-{n}.db'}"
    return f"{PG}/edigate_scale_{n}"


def info_path(dialect: str, n: int, data_dir: Path) -> Path:
    return data_dir / f"{dialect}-{n}.json"


def pg_exists(name: str) -> bool:
    import asyncpg

    async def run() -> bool:
        conn = await asyncpg.connect(f"{PG}/postgres")
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    return asyncio.run(run())


def drop(dialect: str, n: int, data_dir: Path = DATA_DIR) -> None:
    info_path(dialect, n, data_dir).unlink(missing_ok=True)
    if dialect == "sqlite":
        for f in data_dir.glob(f"sqlite-{n}.db*"):
            f.unlink()
    else:
        pg_admin(f'DROP DATABASE IF EXISTS "edigate_scale_{n}" WITH (FORCE)')


def ensure_filled(dialect: str, n: int, data_dir: Path = DATA_DIR) -> dict[str, Any]:
    """The fill's figures of the store (dialect, n), filling it first when no finished fill is there."""
    data_dir.mkdir(parents=True, exist_ok=True)
    info_file = info_path(dialect, n, data_dir)
    url = url_of(dialect, n, data_dir)
    present = Path(url.removeprefix("sqlite:///")).exists() if dialect == "sqlite" else pg_exists(f"edigate_scale_{n}")
    if info_file.exists() and present:
        return dict(json.loads(info_file.read_text(encoding="utf-8")))
    drop(dialect, n, data_dir)
    if dialect == "postgresql":
        pg_admin(f'CREATE DATABASE "edigate_scale_{n}"')
    filled = run_in(REPO, "fill", "--url", url, "--n", str(n))
    info = {**filled, **asyncio.run(marks(url))}
    info_file.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


async def marks(url: str) -> dict[str, Any]:
    """The highest ids of the filled tables and the filled messages' count by state."""
    import sqlalchemy as sa

    from edigate.store.db import Database
    from edigate.store.schema import events, letters, messages

    db = Database.open(url)
    try:
        async with db.engine.connect() as conn:
            top = {
                f"max_id_{t.name}": int((await conn.execute(sa.select(sa.func.max(t.c.id)))).scalar_one() or 0)
                for t in (messages, letters, events)
            }
            by_state = await states(conn, top["max_id_gw_messages"])
    finally:
        await db.close()
    return {**top, "by_state": by_state}


async def states(conn: Any, max_id: int) -> dict[str, int]:
    import sqlalchemy as sa

    from edigate.store.schema import messages as m

    rows = await conn.execute(
        sa.select(m.c.state, m.c.delivery_state, sa.func.count())
        .where(m.c.id <= max_id)
        .group_by(m.c.state, m.c.delivery_state)
    )
    return {f"{s}/{d}": int(c) for s, d, c in rows}


async def reset(url: str, info: dict[str, Any]) -> dict[str, Any]:
    """Delete what runs added after the fill; raise if the filled rows changed (then the fill is stale)."""
    import sqlalchemy as sa

    from edigate.store.db import Database
    from edigate.store.schema import events, letters, messages

    db = Database.open(url)
    removed = {}
    try:
        async with db.engine.begin() as conn:
            for t in (events, letters, messages):
                result = await conn.execute(sa.delete(t).where(t.c.id > info[f"max_id_{t.name}"]))
                removed[t.name] = result.rowcount
        async with db.engine.connect() as conn:
            now = await states(conn, info["max_id_gw_messages"])
            if db.dialect == "sqlite":
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await db.close()
    if now != info["by_state"]:
        raise RuntimeError(f"the filled rows changed since the fill: {now} != {info['by_state']}; refill")
    return removed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("fill", "drop", "reset"))
    ap.add_argument("--dialect", choices=("sqlite", "postgresql"), required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = ap.parse_args()
    if args.mode == "drop":
        drop(args.dialect, args.n, args.data_dir)
        return 0
    info = ensure_filled(args.dialect, args.n, args.data_dir)
    if args.mode == "reset":
        print(json.dumps(asyncio.run(reset(url_of(args.dialect, args.n, args.data_dir), info))))
    else:
        print(json.dumps(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
