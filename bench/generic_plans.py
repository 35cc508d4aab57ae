"""Probe: the listings', sweeps', retention's and ingest's statements under PostgreSQL's generic plans on a
filled store (issue 14), read-only.

asyncpg prepares every statement; after five executions PostgreSQL may keep a plan made for unknown
parameter values. Each statement here is compiled as the service sends it (its parameters as $1..), prepared,
and run through ``EXPLAIN (ANALYZE) EXECUTE`` with ``plan_cache_mode`` forced to custom and to generic. An
UPDATE is explained as the SELECT of its WHERE (the same scan; nothing is written).

    .venv/bin/python bench/generic_plans.py --url postgresql://postgres@127.0.0.1/edigate_scale_3000000 \\
        [--only NAME,..] [--repeat 3] [--json OUT]   (GENERIC_PLANS_SRC=/path/to/tree for another tree's code)

Prints one line per statement and plan mode: the scan nodes (index or Seq Scan), execution ms (best of
--repeat), rows."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# GENERIC_PLANS_SRC=DIR: the statements of another tree (the code before a change), same probe
sys.path.insert(0, os.environ.get("GENERIC_PLANS_SRC", str(REPO)))

import asyncpg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg  # noqa: E402

from edigate.store.messages import SearchFilter, alert_update, overdue_update, search_query  # noqa: E402
from edigate.store.retention import candidates, due_count, purgeable  # noqa: E402
from edigate.store.schema import letters, messages  # noqa: E402
from tests.harness.generic_plans import literal  # noqa: E402

HOSPITAL = "5790000000050"  # the scale store's: originals hospital -> municipality, receipts back
MUNICIPALITY = "5790000000074"
OTHER = "5790000123454"
AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the newest stored message
m, lt = messages.c, letters.c


def statements() -> list[tuple[str, Any, dict[str, Any]]]:
    """(name, statement, values) of every statement the brief names, with values for the scale store."""
    out: list[tuple[str, Any, dict[str, Any]]] = []
    filters = {
        "list none": SearchFilter(),
        "list state=acknowledged": SearchFilter(state="acknowledged"),
        "list state=failed (none)": SearchFilter(state="failed"),
        "list since=future": SearchFilter(since=AT + timedelta(days=1)),
        "list since=1h": SearchFilter(since=AT - timedelta(hours=1)),
        "list envelope_id": SearchFilter(envelope_id="E1234567"),
        "list letter_id": SearchFilter(letter_id="L1234567"),
        "list sender": SearchFilter(sender=HOSPITAL),
        "list receiver=other (none)": SearchFilter(receiver=OTHER),
        "list sender+state (none)": SearchFilter(sender=MUNICIPALITY, state="acknowledged"),
        "list receiver+state": SearchFilter(receiver=MUNICIPALITY, state="acknowledged"),
        "list sender+receiver": SearchFilter(sender=HOSPITAL, receiver=MUNICIPALITY),
        "list state+since=future": SearchFilter(state="acknowledged", since=AT + timedelta(days=1)),
        "list receiver+since=future": SearchFilter(receiver=MUNICIPALITY, since=AT + timedelta(days=1)),
        "list cursor deep": SearchFilter(after=(AT - timedelta(days=10), 10**9)),
        "list state+cursor": SearchFilter(state="acknowledged", after=(AT - timedelta(days=10), 10**9)),
        "list own hospital": SearchFilter(visible_to=frozenset({HOSPITAL})),
        "list own hospital+state=acknowledged": SearchFilter(visible_to=frozenset({HOSPITAL}), state="acknowledged"),
        "list own municipality+state=acknowledged": SearchFilter(
            visible_to=frozenset({MUNICIPALITY}), state="acknowledged"
        ),
        "list own+since=future": SearchFilter(visible_to=frozenset({HOSPITAL}), since=AT + timedelta(days=1)),
        "list own two+state+cursor": SearchFilter(
            visible_to=frozenset({HOSPITAL, OTHER}), state="acknowledged", after=(AT - timedelta(days=5), 10**9)
        ),
        "list own+envelope_id": SearchFilter(visible_to=frozenset({HOSPITAL}), envelope_id="E1234567"),
    }
    for name, f in filters.items():
        stmt, values = search_query(f)
        out.append((name, stmt, values))
    now = AT + timedelta(minutes=1)
    out.append(("receipt overdue sweep", overdue_update(now - timedelta(minutes=30), now), {}))
    out.append(("receipt alert sweep", alert_update(now - timedelta(minutes=90), now), {}))
    cutoff = now - timedelta(days=30)
    out.append(("retention first batch", candidates(cutoff, None, 100), {}))
    out.append(("retention next batch", candidates(cutoff, (cutoff - timedelta(days=1), 5), 100), {}))
    out.append(("purge dry run count", due_count(cutoff, (cutoff - timedelta(days=1), 5)), {}))
    out.append(("purge batch update", sa.update(messages).where(m.id.in_(list(range(1, 101))), purgeable(cutoff)), {}))
    dead = sa.select(m.id, m.created_at).where(m.state == "failed").order_by(m.created_at.desc(), m.id.desc())
    out.append(("dead-letter desk page", dead.limit(51), {}))
    try:  # the tree's own statement (a tree before it was written inline: the same SQL)
        from edigate.store.dead_letter_desk import receivers_statement

        receivers = receivers_statement()
    except ImportError:
        receivers = (
            sa.select(m.receiver_ean, sa.func.count())
            .where(m.state == "failed", sa.func.length(m.body) > 0)
            .group_by(m.receiver_ean)
        )
    out.append(("dead-letter desk receivers", receivers, {}))
    # ingest's duplicate matrix (edigate.store.ingest._load_known), a batch of 1 and of 20
    for n in (1, 20):
        envs = [f"E{1000000 + i}" for i in range(n)]
        out.append(
            (
                f"ingest known envelopes x{n}",
                sa.select(m.id, m.envelope_id, m.sender_ean, m.state).where(
                    m.envelope_id.in_(envs), m.resend_of_id.is_(None)
                ),
                {},
            )
        )
        out.append(
            (
                f"ingest known letters x{n}",
                sa.select(lt.message_id, lt.letter_id, lt.sender_ean).where(lt.letter_id.in_(envs)),
                {},
            )
        )
    out.append(
        (
            "ingest FHIR originals",
            sa.select(m.id, m.state, m.receiver_ean, lt.sender_ean, lt.letter_id)
            .select_from(letters.join(messages, lt.message_id == m.id))
            .where(lt.letter_id.in_(["L1"]), m.resend_of_id.is_(None), m.generated.is_(False))
            .order_by(m.id),
            {},
        )
    )
    out.append(
        (
            "ingest correlate receipt",
            sa.select(m.id, m.state, m.receiver_ean)
            .where(m.envelope_id == "E1234", m.sender_ean == HOSPITAL, m.resend_of_id.is_(None))
            .order_by(m.id),
            {},
        )
    )
    return out


def compiled(stmt: Any, values: dict[str, Any]) -> tuple[str, list[Any]]:
    """The SQL text and positional arguments asyncpg gets for `stmt` (an UPDATE as the SELECT of its WHERE)."""
    if isinstance(stmt, sa.Update) and stmt.whereclause is not None:
        stmt = sa.select(m.id).where(stmt.whereclause)
    c = stmt.compile(dialect=pg_asyncpg.dialect())
    expanded = c.construct_expanded_state(values)  # IN lists and the constants (a page's size) rendered
    args = []
    for v in expanded.positional_parameters:
        if isinstance(v, datetime) and v.tzinfo is not None:  # the store's UtcDateTime binds naive UTC
            v = v.astimezone(UTC).replace(tzinfo=None)
        args.append(v)
    return expanded.statement, args


def scans(plan: dict[str, Any]) -> list[str]:
    """The scan nodes of a JSON plan, e.g. 'Index Scan Backward gw_messages_created'."""
    out = []
    node = plan
    stack = [node]
    while stack:
        node = stack.pop()
        kind = node["Node Type"]
        if "Scan" in kind:
            out.append(
                f"{kind}{' Backward' if node.get('Scan Direction') == 'Backward' else ''} "
                f"{node.get('Index Name') or node.get('Relation Name')}"
            )
        if kind == "Sort":
            out.append("Sort")
        stack.extend(reversed(node.get("Plans", [])))
    return out


async def probe(url: str, only: set[str] | None, repeat: int) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url)
    results = []
    try:
        await conn.execute("SET default_transaction_read_only = on")
        await conn.execute("SET statement_timeout = '60s'")
        for name, stmt, values in statements():
            if only and not any(o in name for o in only):
                continue
            sql, args = compiled(stmt, values)
            for mode in ("force_custom_plan", "force_generic_plan"):
                await conn.execute(f"SET plan_cache_mode = {mode}")
                prepared = await conn.prepare(sql)
                best = None
                for _ in range(repeat):
                    given = f"({', '.join(literal(a) for a in args)})" if args else ""
                    rows = await conn.fetch(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {prepared.get_name()}{given}")
                    doc = json.loads(rows[0][0])[0]
                    ms = doc["Execution Time"]
                    if best is None or ms < best[0]:
                        best = (ms, doc)
                assert best is not None
                ms, doc = best
                results.append(
                    {
                        "statement": name,
                        "mode": mode.split("_")[1],
                        "ms": round(ms, 2),
                        "rows": doc["Plan"].get("Actual Rows"),
                        "scans": scans(doc["Plan"]),
                    }
                )
                r = results[-1]
                print(f"{name:45} {r['mode']:7} {r['ms']:10.2f} ms  rows={r['rows']}  {'; '.join(r['scans'])}")
    finally:
        await conn.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1/edigate_scale_3000000")
    ap.add_argument("--only", default="")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    only = {o for o in a.only.split(",") if o} or None
    import edigate

    print("load", Path("/proc/loadavg").read_text().split()[:3], "tree", Path(edigate.__file__).parents[1])
    results = asyncio.run(probe(a.url, only, a.repeat))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
