"""A/B of the validator JVM's settings for OIOXML ingest with FHIR beside it, side by side in one run.

Each variant is a validator JVM (its own JVM options, niceness and scheduling policy) with its own
`edigate serve` pointed at it. After every JVM is warmed up (`--warmup-seconds` of closed-loop load, the JIT
compiles the engine meanwhile) and its bare throughput is measured, rounds alternate: per round, per variant
(the order rotates each round), OIOXML alone on that variant's edigate, then OIOXML with FHIR at `--rate`
msg/s beside it. Reported per variant: bare validator msg/s, OIOXML msg/s alone and beside (median and every
round), the slowdown, CPU-s/s of edigate and of the JVM, the JVM's CPU per validation at `--rate`, FHIR p99
beside saturating OIOXML.

    .venv/bin/python bench/bench_fhir_beside_ab.py --variant base=nice10:normal \\
        --variant batch=nice10:batch --variant serial=nice10:batch:-XX:+UseSerialGC [--rounds 3] [--seconds 15]
Variant: LABEL=nice<N>:<normal|batch|idle>[@CPUS][:JVM-OPTION[,JVM-OPTION...]] (`@1`: the JVM bound to CPU 1
with taskset, `@0,1` to both). Writes bench/results/NAME.json/.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_fhir_ingest import PACKAGES, FhirBodies, fhir_request, gateway_config, oioxml_request, templates  # noqa: E402
from bench.bench_fhir_validator import Validator, start_validator  # noqa: E402
from bench.bench_ingest import Bodies  # noqa: E402
from bench.loadgen import closed_loop, load_average, open_loop, process_cpu_seconds, start, stop  # noqa: E402
from edigate.fhir.config import DEFAULT_JAR  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402


@dataclass
class Variant:
    label: str
    niceness: int
    scheduling: str
    java_options: tuple[str, ...]
    cpus: str = ""
    validator: Validator | None = None
    base: str = ""
    gw_pid: int = 0
    bare: dict[str, Any] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)


def parse_variant(text: str) -> Variant:
    label, _, spec = text.partition("=")
    parts = spec.split(":", 2)
    if len(parts) < 2 or not parts[0].startswith("nice"):
        raise SystemExit(f"--variant {text!r}: LABEL=nice<N>:<normal|batch|idle>[@CPUS][:JVM-OPTION,...]")
    options = tuple(o for o in (parts[2].split(",") if len(parts) == 3 else []) if o)
    policy, _, cpus = parts[1].partition("@")
    return Variant(label, int(parts[0][4:]), policy, options, cpus)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", required=True)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rate", type=float, default=15.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup-seconds", type=float, default=40.0)
    ap.add_argument("--jar", type=Path, default=DEFAULT_JAR)
    ap.add_argument("--out", default="fhir_beside_ab")
    args = ap.parse_args()
    variants = [parse_variant(v) for v in args.variant]
    kinds = templates()
    per_run = int(args.seconds * 400) + 100
    results: dict[str, Any] = {"load_average_before": load_average(), "seconds": args.seconds, "rate": args.rate}
    with tempfile.TemporaryDirectory(prefix="edigate-fhir-ab-") as tmp, ExitStack() as stack:
        tmpdir = Path(tmp)
        for v in variants:
            v.validator = start_validator(
                PACKAGES,
                2,
                v.java_options,
                args.jar,
                tmpdir / f"{v.label}-validator.log",
                v.niceness,
                v.scheduling,
                v.cpus,
            )
            stack.callback(v.validator.stop)
            port = free_port()
            cfg = tmpdir / f"{v.label}.toml"
            cfg.write_text(gateway_config(port, tmpdir / f"{v.label}.db", v.validator.url), encoding="utf-8")
            gw = start(
                [sys.executable, "-m", "edigate", "serve", "--config", str(cfg)], port, tmpdir / f"{v.label}.log"
            )
            stack.callback(stop, gw)
            v.base, v.gw_pid = f"http://127.0.0.1:{port}", gw.pid
            print(f"{v.label}: validator READY after {v.validator.start_seconds:.1f} s", flush=True)
        for v in variants:
            assert v.validator is not None
            url = v.validator.url
            asyncio.run(closed_loop(fhir_request("bare", url, FhirBodies(40, kinds)), args.warmup_seconds, 8))
            c0 = v.validator.cpu_seconds()
            r = asyncio.run(closed_loop(fhir_request("bare", url, FhirBodies(per_run, kinds)), args.seconds, 8))
            r["jvm_cpu_ms_per_validation"] = round((v.validator.cpu_seconds() - c0) / max(1, r["requests"]) * 1e3, 1)
            v.bare = r
            print(f"{v.label}: bare {r['msgs_per_s']} msg/s, {r['jvm_cpu_ms_per_validation']} ms CPU each", flush=True)

        def phase(v: Variant, beside: bool, tag: str) -> dict[str, Any]:
            """`tag`: the OIOXML ids' prefix, short (an id longer than OIOXML allows is refused: 422)."""
            assert v.validator is not None
            oio = Bodies(tag, per_run * 20, "mixed")

            async def run() -> dict[str, Any]:
                fhir_task = None
                if beside:
                    fb = FhirBodies(per_run, kinds)
                    fhir_task = asyncio.create_task(
                        open_loop(fhir_request("edigate", v.base, fb), args.seconds, args.rate)
                    )
                t0, e0, j0 = time.perf_counter(), process_cpu_seconds(v.gw_pid), v.validator.cpu_seconds()  # type: ignore[union-attr]
                r = await closed_loop(oioxml_request(v.base, oio), args.seconds, 32)
                wall = time.perf_counter() - t0
                r["edigate_cpu_per_s"] = round((process_cpu_seconds(v.gw_pid) - e0) / wall, 3)
                jvm = v.validator.cpu_seconds() - j0  # type: ignore[union-attr]
                r["jvm_cpu_per_s"] = round(jvm / wall, 3)
                if fhir_task is not None:
                    f = await fhir_task
                    r["fhir_beside"] = f
                    r["jvm_cpu_ms_per_validation"] = round(jvm / max(1, args.rate * wall) * 1e3, 1)
                r["load_average"] = load_average()
                return r

            return asyncio.run(run())

        for i in range(args.rounds):
            order = variants[i % len(variants) :] + variants[: i % len(variants)]
            for v in order:
                n = variants.index(v)
                alone = phase(v, False, f"{n}A{i}")
                with_fhir = phase(v, True, f"{n}B{i}")
                if alone["errors"] or with_fhir["errors"]:
                    raise SystemExit(
                        f"{v.label}: OIOXML answers other than 202: {alone['errors']}, {with_fhir['errors']}"
                    )
                rnd = {
                    "alone": alone,
                    "beside": with_fhir,
                    "slowdown": round(1 - with_fhir["msgs_per_s"] / alone["msgs_per_s"], 3),
                }
                v.rounds.append(rnd)
                print(
                    f"round {i + 1} {v.label}: alone {alone['msgs_per_s']} beside {with_fhir['msgs_per_s']} "
                    f"({rnd['slowdown']:.1%}) edigate {alone['edigate_cpu_per_s']}/{with_fhir['edigate_cpu_per_s']} "
                    f"jvm {with_fhir['jvm_cpu_per_s']} ({with_fhir['jvm_cpu_ms_per_validation']} ms/validation) "
                    f"fhir p99 {with_fhir['fhir_beside']['p99_ms']} load {with_fhir['load_average']}",
                    flush=True,
                )
    results["load_average_after"] = load_average()
    rows = [
        "# OIOXML ingest with FHIR beside it: validator JVM settings A/B (bench/bench_fhir_beside_ab.py)",
        "",
        f"Load average before {results['load_average_before']}, after {results['load_average_after']}. "
        f"{args.rounds} rounds of {args.seconds:g} s, variants alternated (order rotating per round); FHIR "
        f"offered at {args.rate:g} msg/s beside OIOXML at concurrency 32; bare validator at concurrency 8 "
        f"after {args.warmup_seconds:g} s warm-up.",
        "",
        "| variant | bare validator msg/s (JVM ms CPU each) | OIOXML alone msg/s (rounds) | beside (rounds) | "
        "slowdown median (rounds) | edigate CPU-s/s alone / beside | JVM CPU-s/s beside | JVM ms CPU per "
        "validation at rate | FHIR p99 ms beside (rounds) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in variants:
        a = [r["alone"]["msgs_per_s"] for r in v.rounds]
        b = [r["beside"]["msgs_per_s"] for r in v.rounds]
        s = [r["slowdown"] for r in v.rounds]
        med = statistics.median
        summary = {
            "variant": f"nice {v.niceness}, {v.scheduling}, {' '.join(v.java_options) or 'default JVM options'}"
            + (f", CPUs {v.cpus}" if v.cpus else ""),
            "bare_msgs_per_s": v.bare["msgs_per_s"],
            "bare_jvm_cpu_ms": v.bare["jvm_cpu_ms_per_validation"],
            "alone_median": med(a),
            "beside_median": med(b),
            "slowdown_of_medians": round(1 - med(b) / med(a), 3),
            "slowdown_median": med(s),
            "rounds": v.rounds,
        }
        results[v.label] = summary
        pct = ", ".join(f"{x:.0%}" for x in s)
        rows.append(
            f"| {v.label} ({summary['variant']}) | {v.bare['msgs_per_s']} ({v.bare['jvm_cpu_ms_per_validation']}) | "
            f"{med(a)} ({', '.join(map(str, a))}) | {med(b)} ({', '.join(map(str, b))}) | "
            f"{med(s):.1%} ({pct}); of medians {summary['slowdown_of_medians']:.1%} | "
            f"{med(r['alone']['edigate_cpu_per_s'] for r in v.rounds)} / "
            f"{med(r['beside']['edigate_cpu_per_s'] for r in v.rounds)} | "
            f"{med(r['beside']['jvm_cpu_per_s'] for r in v.rounds)} | "
            f"{med(r['beside']['jvm_cpu_ms_per_validation'] for r in v.rounds)} | "
            f"{', '.join(str(r['beside']['fhir_beside']['p99_ms']) for r in v.rounds)} |"
        )
    out = REPO / "bench" / "results"
    (out / f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / f"{args.out}.md").write_text("\n".join(rows) + "\n", encoding="utf-8")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
