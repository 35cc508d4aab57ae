"""Benchmark: what invalid messages cost the valid ones (issue 10, item 7).

The real `edigate serve` (subprocess, SQLite), an open loop at a fixed offered rate of 2 KB XDIS91
messages, measured twice in one run on one service: all valid, then with 10 % of the posts replaced by
invalid ~60 KB messages (many small elements and a wrong StatusCode: the costly kind to explain).
Reported: p50/p99 of the VALID messages in each phase, and what the invalid ones were answered.
With `--gateway-src DIR` a second tree (e.g. an export of the commit before the fix) is measured the
same way right after, so before and after share the machine's load.

    .venv/bin/python bench/bench_invalid_mix.py [--seconds 10] [--rate 100] [--gateway-src DIR]
Writes bench/results/invalid_mix.json and bench/results/invalid_mix.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_ingest import TOKEN, config, load_average, start, stop  # noqa: E402
from bench.results_file import write_results  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402
from tests.unit.medcom.samples import xdis91_message  # noqa: E402

# The other 10 %: (size, invalid). A valid 60 KB message is the control: what the size alone costs.
OTHERS = {
    "ten_percent_invalid_60k": (6000, True),
    "ten_percent_valid_60k": (6000, False),
    "ten_percent_invalid_2k": (6, True),
}


def other_body(i: int, tag: str, paragraphs: int, invalid: bool) -> bytes:
    """A ~60 KB XDIS91 of many small elements (costly for xmlschema) or a 2 KB one; invalid: a wrong StatusCode."""
    text = "x" if paragraphs > 100 else "Vedr. udskrivelse: patienten udskrives i morgen kl. 10."
    xml = xdis91_message(envelope_id=f"{tag}I{i:08d}", letter_id=f"{tag}J{i:08d}", paragraphs=paragraphs, text=text)
    return xml.replace(b"<StatusCode>nytbrev", b"<StatusCode>bogus") if invalid else xml


async def phase(url: str, tag: str, seconds: float, rate: float, other: str | None) -> dict[str, Any]:
    """Open loop (sent on schedule whatever the replies); latency from the scheduled send time. Every
    tenth post is `other` (see OTHERS) when given; the rest are 2 KB valid XDIS91."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/xml"}
    n = int(seconds * rate)
    every = 10 if other else 0
    template = other_body(0, tag, *OTHERS[other]) if other else b""
    bodies = [
        template.replace(f"{tag}I00000000".encode(), f"{tag}I{i:08d}".encode()).replace(
            f"{tag}J00000000".encode(), f"{tag}J{i:08d}".encode()
        )
        if every and i % every == every - 1
        else xdis91_message(envelope_id=f"{tag}V{i:08d}", letter_id=f"{tag}W{i:08d}")
        for i in range(n)
    ]
    lat: dict[bool, list[float]] = {True: [], False: []}
    statuses: dict[bool, Counter[int]] = {True: Counter(), False: Counter()}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def one(scheduled: float, body: bytes, valid: bool) -> None:
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    statuses[valid][resp.status] += 1
            except (aiohttp.ClientError, TimeoutError):
                statuses[valid][0] += 1  # 0: no answer (connection refused or timed out)
            lat[valid].append(time.perf_counter() - scheduled)

        tasks = []
        t0 = time.perf_counter()
        for i, body in enumerate(bodies):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            valid = not (every and i % every == every - 1)
            tasks.append(asyncio.create_task(one(scheduled, body, valid)))
        await asyncio.gather(*tasks)
    out: dict[str, Any] = {}
    for valid, name in ((True, "valid"), (False, "other")):
        xs = sorted(lat[valid])
        if xs:
            out[name] = {
                "count": len(xs),
                "statuses": {str(k): v for k, v in sorted(statuses[valid].items())},
                "p50_ms": round(statistics.median(xs) * 1000, 1),
                "p99_ms": round(xs[max(0, int(len(xs) * 0.99) - 1)] * 1000, 1),
                "max_ms": round(xs[-1] * 1000, 1),
            }
    return out


def measure(src: Path, label: str, args: argparse.Namespace, tmpdir: Path) -> dict[str, Any]:
    port = free_port()
    cfg = tmpdir / f"{label}.toml"
    cfg.write_text(config(port, tmpdir / f"{label}.db"), encoding="utf-8")
    gw = start([sys.executable, "-m", "edigate", "serve", "--config", str(cfg)], port, tmpdir / f"{label}.log", src)
    url = f"http://127.0.0.1:{port}/api/v1/messages"
    try:
        asyncio.run(phase(url, label[:2].upper() + "W", 2, args.rate, "ten_percent_invalid_2k"))  # warm-up
        result = {"all_valid": asyncio.run(phase(url, label[:2].upper() + "A", args.seconds, args.rate, None))}
        for k, other in enumerate(OTHERS):
            result[other] = asyncio.run(phase(url, f"{label[:2].upper()}{k}", args.seconds, args.rate, other))
    finally:
        stop(gw)
    print(label, json.dumps(result), flush=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--gateway-src", type=Path, help="a second source tree to measure the same way (before)")
    args = ap.parse_args()
    results: dict[str, Any] = {
        "offered_rate_per_s": args.rate,
        "seconds_per_phase": args.seconds,
        "load_average_before": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="edigate-invalid-") as tmp:
        results["after"] = measure(REPO, "after", args, Path(tmp))
        if args.gateway_src:
            results["before"] = measure(args.gateway_src.resolve(), "before", args, Path(tmp))
    results["load_average_after"] = load_average()
    lines = [
        "# Invalid messages beside valid ones (bench/bench_invalid_mix.py)",
        "",
        f"Open loop, {args.rate:g} posts/s offered, {args.seconds:g} s per phase, one SQLite service per tree; "
        f"load average before {results['load_average_before']}, after {results['load_average_after']} "
        "(2 shared cores). 90 % of the posts are 2 KB valid XDIS91; the other 10 % are named in the traffic "
        "column (invalid: a wrong StatusCode; 60 KB: 6,000 small elements, the costly kind for xmlschema).",
        "",
        "| tree | traffic | 2 KB valid p50 ms | 2 KB valid p99 ms | valid max ms | other 10 % p50 ms "
        "| other 10 % p99 ms | answers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label in ("before", "after"):
        for traffic, r in results.get(label, {}).items():
            v, inv = r["valid"], r.get("other", {})
            answers = f"valid {v['statuses']}" + (f", other {inv['statuses']}" if inv else "")
            lines.append(
                f"| {label} | {traffic} | {v['p50_ms']} | {v['p99_ms']} | {v['max_ms']} | "
                f"{inv.get('p50_ms', '–')} | {inv.get('p99_ms', '–')} | {answers} |"
            )
    write_results("invalid_mix", results, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
