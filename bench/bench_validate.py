"""Benchmark: messages/s for edigate's parse + validate + envelope extraction vs bare lxml parse + validate.

Single core, same bytes, same compiled schema. Target: edigate >= 60% of bare lxml.
Run:  .venv/bin/python bench/bench_validate.py [--schema-dir DIR] [--rounds N] [--round-ms MS] [--out FILE]

Method (the machine is usually shared, so the method is built for noise):
- the process is pinned to one CPU (os.sched_setaffinity) and both sides run in the same process, one thread;
- each case is warmed up first (schemas compiled, caches filled, allocator settled);
- then N rounds; in each round bare lxml and edigate run back to back for the same number of messages, in
  alternating order, so both see the same load. Reported: each side's best round (msg/s) and the ratio of
  the bests, plus the median of the per-round ratios as a check on the best-of figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import lxml  # noqa: E402
from lxml import etree  # noqa: E402

from edigate.medcom import Validator  # noqa: E402
from edigate.medcom.schemas import default_schema_dir  # noqa: E402
from tests.unit.medcom import samples  # noqa: E402
from tests.unit.medcom.readers import tree_reader_only  # noqa: E402


def _latin1(make: Callable[[], bytes]) -> Callable[[], bytes]:
    """The same message declared and encoded as ISO-8859-1 (no windows-1252 shortcut in play)."""

    def reencoded() -> bytes:
        text = make().decode("cp1252").replace('encoding="windows-1252"', 'encoding="ISO-8859-1"', 1)
        return text.encode("latin-1")

    return reencoded


# (name, message, schema entry file, counts for the target)
CASES = (
    ("XDIS91", samples.xdis91_message, "2006/07/01/EMessage.xsd", True),
    ("XDIS20", samples.xdis20_message, "2005/08/07/EMessage.xsd", True),
    ("GGOP", samples.ggop_message, "1.0.4/EMessage.xsd", True),
    ("XDIS20-l1", _latin1(samples.xdis20_message), "2005/08/07/EMessage.xsd", False),
)


def pin_to_one_cpu() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[-1]
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu} of {len(cpus)} allowed"


def measure(
    bare: Callable[[], object], ours: Callable[[], object], rounds: int, round_seconds: float
) -> tuple[float, float, float]:
    """(best bare msg/s, best edigate msg/s, median of per-round ratios)."""
    for fn in (bare, ours):  # warm-up: about 0.2 s per side
        deadline = time.perf_counter() + 0.2
        while time.perf_counter() < deadline:
            for _ in range(20):
                fn()
    start = time.perf_counter()
    for _ in range(200):
        bare()
    per_message = (time.perf_counter() - start) / 200
    n = max(100, int(round_seconds / per_message))
    best = [0.0, 0.0]
    ratios = []
    for r in range(rounds):
        rate = [0.0, 0.0]
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for side in order:
            fn = (bare, ours)[side]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            rate[side] = n / (time.perf_counter() - t0)
            best[side] = max(best[side], rate[side])
        ratios.append(rate[1] / rate[0])
    return best[0], best[1], statistics.median(ratios)


def machine_note() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"machine: {os.cpu_count()} CPUs, {cpu}\n"
        f"python {platform.python_version()}, lxml {lxml.__version__}, libxml2 "
        f"{'.'.join(map(str, etree.LIBXML_VERSION))}, {platform.platform()}"
    )


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--schema-dir", type=Path, default=None, help="schemas for XDIS91/XDIS20")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per case")
    ap.add_argument("--round-ms", type=float, default=200.0, help="time per side and round")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "validate.txt")
    ap.add_argument("--append", action="store_true", help="append to --out instead of replacing it")
    ap.add_argument("--tree-reader", action="store_true", help="also measure with the envelope byte reader off")
    args = ap.parse_args()

    pinned = pin_to_one_cpu()
    load_before = load()
    rows = []
    worst = 1.0
    for name, make, entry, target in CASES:
        classic = not entry.startswith("1.0")
        schema_dir = args.schema_dir if (args.schema_dir and classic) else default_schema_dir()
        if not (schema_dir / entry).is_file():
            rows.append(f"{name:11} skipped: {schema_dir / entry} not found")
            continue
        validator = Validator(schema_dir)
        data = make()
        assert validator.validate(data).valid, f"{name} sample is not valid with {schema_dir}"
        schema = validator.schemas.get(entry)  # the very same compiled schema
        parser = etree.XMLParser(resolve_entities=False, no_network=True)

        def bare(data: bytes = data, schema: etree.XMLSchema = schema, parser: etree.XMLParser = parser) -> bool:
            return bool(schema.validate(etree.fromstring(data, parser)))

        def ours(data: bytes = data, validator: Validator = validator) -> object:
            return validator.validate(data).envelope

        def ours_tree(data: bytes = data, validator: Validator = validator) -> object:
            with tree_reader_only():
                return validator.validate(data).envelope

        label = "project" if schema_dir == default_schema_dir() else str(schema_dir)
        variants = [(name, ours)] + ([(f"{name}/tree", ours_tree)] if args.tree_reader and target else [])
        for row_name, fn in variants:
            bare_rate, ours_rate, median_ratio = measure(bare, fn, args.rounds, args.round_ms / 1000)
            ratio = ours_rate / bare_rate
            if target and fn is ours:
                worst = min(worst, ratio)
            rows.append(
                f"{row_name:11} {len(data):6d} {label[-26:]:26} {1e6 / bare_rate:8.1f} {1e6 / ours_rate:8.1f} "
                f"{bare_rate:9.0f} {ours_rate:9.0f} {ratio:6.0%} {median_ratio:7.0%}"
            )
    lines = [
        f"edigate validate benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        machine_note(),
        f"load average {load_before} at start, {load()} at end (1/5/15 min); {pinned}",
        f"one thread; per case: warm-up, then {args.rounds} interleaved rounds of ~{args.round_ms:.0f} ms "
        "per side; best round per side, and the median of the per-round ratios",
        "",
        f"{'type':11} {'bytes':>6} {'schemas':26} {'bare us':>8} {'ours us':>8} "
        f"{'bare msg/s':>9} {'ours msg/s':>9} {'ratio':>6} {'median':>7}",
        *rows,
        "",
        f"worst ratio {worst:.0%} of XDIS91, XDIS20, GGOP (target >= 60%)",
        "XDIS20-l1 is XDIS20 re-encoded as ISO-8859-1: the ratio without the windows-1252 decoding shortcut",
        *(
            ["…/tree rows: the same validation with the byte reader of the envelope switched off (tree reader only)"]
            if args.tree_reader
            else []
        ),
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.append and args.out.is_file():
        text = args.out.read_text() + "\n" + text
    args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
