"""Benchmark: database bytes per stored message, before and after body compression (issue 14).

Each tree (`--before-src`, this tree) fills its own store of N messages with the store's own code paths
(`bench_scale.fill`: real 2.4 KB XDIS91 originals, their XCTL03 receipts, 10 % pending), so each stores
bodies in its own form; then the bytes of every table and index are divided by the rows (SQLite: dbstat;
PostgreSQL: pg_relation_size with TOAST). Same machine, one run; the load average is recorded.

    .venv/bin/python bench/bench_storage.py --before-src DIR [--n 40000] [--dialects sqlite,postgresql]
Writes bench/results/storage.json and bench/results/storage.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_scale import pg_admin, run_in  # noqa: E402
from bench.results_file import write_results  # noqa: E402


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def one(dialect: str, tree: Path, n: int, tmp: Path) -> dict[str, Any]:
    if dialect == "sqlite":
        url = f"sqlite:///{tmp / f'{uuid.uuid4().hex[:8]}.db'}"
        name = None
    else:
        name = f"edigate_storage_{uuid.uuid4().hex[:8]}"
        pg_admin(f'CREATE DATABASE "{name}"')
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        load = loadavg()
        filled = run_in(tree, "fill", "--url", url, "--n", str(n))
        return {"fill": filled, "storage": run_in(tree, "storage", "--url", url), "load_average": load}
    finally:
        if name is not None:
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "# Bytes per stored message (bench/bench_storage.py)",
        "",
        f"Each tree fills its own store of {args.n:,} messages through the store's code (real 2.4 KB XDIS91",
        "originals and their XCTL03 receipts, 10 % pending); bytes of all gw_ tables and indexes / rows.",
        "Before = the tree named by --before-src (bodies stored as they arrive); after = this tree (bodies",
        "compressed before they are stored). Not encrypted: sealing adds a constant 33 bytes + the key id.",
        f"Load average (1/5/15 min, 2 shared cores) at start {results['load_average_before']}, "
        f"end {results['load_average_after']}.",
    ]
    for dialect in args.dialects.split(","):
        b, a = results.get(f"{dialect}/before"), results.get(f"{dialect}/after")
        if not b or not a:
            continue
        bs, as_ = b["storage"], a["storage"]
        lines += [
            "",
            f"## {dialect}",
            "",
            "| | before | after |",
            "|---|---|---|",
            f"| database bytes per message (tables + indexes) | {bs['bytes_per_row']:,} | {as_['bytes_per_row']:,} |",
            f"| rows | {bs['rows']:,} | {as_['rows']:,} |",
            f"| fill seconds (load average at start) | {b['fill']['fill_seconds']} ({' '.join(b['load_average'])})"
            f" | {a['fill']['fill_seconds']} ({' '.join(a['load_average'])}) |",
            "",
            "By table and index (bytes per message, before → after):",
            "",
        ]
        bp, ap = bs["by_object_bytes_per_row"], as_["by_object_bytes_per_row"]
        for name in sorted(set(bp) | set(ap)):
            lines.append(f"- `{name}`: {bp.get(name, '–')} → {ap.get(name, '–')}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before-src", type=Path, required=True)
    ap.add_argument("--n", type=int, default=40_000)
    ap.add_argument("--dialects", default="sqlite,postgresql")
    ap.add_argument("--out", default="storage")
    args = ap.parse_args()
    results: dict[str, Any] = {"load_average_before": loadavg()}
    with tempfile.TemporaryDirectory(prefix="edigate-storage-") as tmp:
        for dialect in args.dialects.split(","):
            for label, tree in (("before", args.before_src.resolve()), ("after", REPO)):
                results[f"{dialect}/{label}"] = one(dialect, tree, args.n, Path(tmp))
                results["load_average_after"] = loadavg()
                write_results(args.out, results, report(results, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
