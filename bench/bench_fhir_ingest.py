"""FHIR ingest benchmark: edigate's FHIR ingest beside the bare reference validator, in one run.

1. The validator JVM (validator/target/edigate-fhir-validator.jar, or --validator-url): its start time
   (READY) and memory (RSS), then `POST /validate` directly, no edigate ("bare").
2. `edigate serve` (SQLite) with `[fhir] validator_url` at that validator: `POST /api/v1/messages`
   (validate, durable commit, 202) with the same bodies and concurrency.
3. An open-loop run at the national peak (15 msg/s) against edigate: p99 of all answers and of the 202s
   (beyond `[fhir] queue_depth` waiting messages edigate answers 503 + Retry-After at once).
4. OIOXML ingest alone and OIOXML ingest while FHIR traffic (15 msg/s) runs beside it, alternated
   (`--rounds` of each: the machine's load drifts between minutes, so one of each would compare two
   different machines); per phase the CPU that edigate, the validator JVM and this load generator used.

Bodies: MedCom's CareCommunication (16-105 KB) and HospitalNotification (12-17 KB) examples, each sent
with a fresh Bundle.id and MessageHeader.id so nothing is a duplicate. Before measuring, the bare validator
gets `--warmup-seconds` of load: the JIT compiles the HL7 engine over the first minutes, and a measurement
that starts at READY mostly measures the compiler. The load loops are bench/loadgen.py's, shared with
bench/bench_ingest.py, over aiohttp's client or bench/raw_http.py's (`--client`): the load generator shares
the 2 cores with what it measures, and the raw client costs less of them. The validator is started as
bench/bench_fhir_validator.py starts it.

    .venv/bin/python bench/bench_fhir_ingest.py [--seconds 20] [--concurrency 8] [--validator-url URL]
        [--jar JAR] [--java-option OPT]... [--rounds 3] [--nice 10] [--scheduling normal] [--queue-depth 8]
        [--client raw|aiohttp] [--out NAME]
Writes bench/results/fhir_ingest.json and .md (or NAME.json/.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import loadgen, machine_cpu, raw_http  # noqa: E402
from bench.bench_fhir_validator import start_validator  # noqa: E402
from bench.bench_ingest import Bodies  # noqa: E402
from bench.gateway_config import BenchPartner, hospital_and_municipality, service_config  # noqa: E402
from bench.loadgen import (  # noqa: E402
    Request,
    load_average,
    own_cpu_seconds,
    process_cpu_seconds,
    rss_mb,
    start,
    stop,
)
from edigate.fhir.config import DEFAULT_JAR, FhirSettings  # noqa: E402
from edigate.fhir.supervisor import VALIDATOR_NICENESS  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402

SHARED = REPO.parent / "shared" / "medcom"
GLN_A, GLN_B = "5790000209354", "5790001348120"
TOKEN_FHIR, TOKEN_OIO = "bench-fhir-a", "bench-hospital"
PACKAGES = SHARED / "fhir-packages"
CLIENTS = {"aiohttp": loadgen, "raw": raw_http}  # the same closed_loop / open_loop over either HTTP client


def templates() -> list[tuple[str, str, str, str]]:
    """(standard, json text, MessageHeader.id, Bundle.id) of MedCom's examples sent by A (to B)."""
    out: list[tuple[str, str, str, str]] = []
    for folder, standard in (
        ("carecommunication", "CareCommunication"),
        ("hospitalnotification", "HospitalNotification"),
    ):
        for path in sorted((SHARED / "fhir-examples" / folder).glob("Bundle-*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            mh = doc["entry"][0]["resource"]
            out.append((standard, json.dumps(doc), mh["id"], doc["id"]))
    return [(s, text, mh, bid) for s, text, mh, bid in out if sender_gln(text) == GLN_A]


def sender_gln(text: str) -> str | None:
    doc = json.loads(text)
    ref = doc["entry"][0]["resource"]["sender"]["reference"].rsplit("/", 1)[-1]
    for e in doc["entry"]:
        if e["resource"].get("id") == ref:
            for i in e["resource"].get("identifier", []):
                if i.get("system") == "https://www.gs1.org/gln":
                    return str(i["value"])
    return None


class FhirBodies:
    """Unique FHIR messages made before the clock starts: new Bundle.id and MessageHeader.id each."""

    def __init__(self, n: int, kinds: list[tuple[str, str, str, str]]) -> None:
        self.items: list[tuple[str, bytes]] = []
        for i in range(n):
            standard, text, mh, bid = kinds[i % len(kinds)]
            fresh = text.replace(mh, str(uuid.uuid4())).replace(bid, str(uuid.uuid4()))
            self.items.append((standard, fresh.encode("utf-8")))
        self.i = 0
        self.sizes = sorted({len(b) for _, b in self.items})

    def next(self) -> tuple[str, bytes]:
        item = self.items[self.i % len(self.items)]
        self.i += 1
        return item


def fhir_request(kind: str, base: str, bodies: FhirBodies) -> Callable[[], Request]:
    """The next FHIR POST: straight to the validator ("bare") or through edigate's ingest."""

    def next_request() -> Request:
        standard, body = bodies.next()
        if kind == "bare":
            return f"{base}/validate?standard={standard}", body, {"Content-Type": "application/fhir+json"}, 200
        headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {TOKEN_FHIR}"}
        return f"{base}/api/v1/messages", body, headers, 202

    return next_request


def oioxml_request(base: str, bodies: Bodies) -> Callable[[], Request]:
    headers = {"Authorization": f"Bearer {TOKEN_OIO}", "Content-Type": "application/xml"}
    return lambda: (f"{base}/api/v1/messages", bodies.next(), headers, 202)


def gateway_config(port: int, db: Path, validator_url: str, queue_depth: int = 8) -> str:
    fhir_partners = [
        BenchPartner(GLN_A, "Bench hospital (FHIR)", "hospital", TOKEN_FHIR),
        BenchPartner(GLN_B, "Bench municipality (FHIR)", "municipality"),
    ]
    sections = (
        f'[fhir]\nvalidator_url = "{validator_url}"\ntimeout_seconds = 60\nthreads = 2\nqueue_depth = {queue_depth}'
    )
    return service_config(
        port, f"sqlite:///{db}", [*fhir_partners, *hospital_and_municipality(TOKEN_OIO)], sections=sections
    )


def cpu_of(pid: int | None) -> float:
    return process_cpu_seconds(pid) if pid is not None else 0.0


async def idle_for(seconds: float) -> dict[str, Any]:
    await asyncio.sleep(seconds)
    return {"seconds": seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rate", type=float, default=15.0, help="offered FHIR load for the latency run (msg/s)")
    ap.add_argument("--validator-url", default=None, help="use a running validator instead of starting the jar")
    ap.add_argument("--jar", type=Path, default=DEFAULT_JAR, help="the validator build to start")
    ap.add_argument(
        "--java-option",
        action="append",
        default=None,
        help="JVM option for the validator (repeatable; default: those of edigate's default [fhir] java_options)",
    )
    ap.add_argument(
        "--warmup-seconds",
        type=float,
        default=60.0,
        help="bare-validator load before measuring: the JIT compiles the engine for the first minutes",
    )
    ap.add_argument(
        "--nice",
        type=int,
        default=VALIDATOR_NICENESS,
        help="the validator JVM's niceness (default: what edigate's supervisor uses)",
    )
    ap.add_argument(
        "--scheduling",
        choices=("batch", "idle", "normal"),
        default=FhirSettings().validator_scheduling,
        help="the validator JVM's scheduling policy (default: edigate's [fhir] validator_scheduling default)",
    )
    ap.add_argument("--rounds", type=int, default=3, help="alternated rounds of OIOXML alone / with FHIR beside")
    ap.add_argument("--queue-depth", type=int, default=8, help="edigate's [fhir] queue_depth")
    ap.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="raw",
        help="the load generator's HTTP client for every phase (raw: bench/raw_http.py, ~115 instead of ~295 µs "
        "of CPU per OIOXML request: bench/results/fhir_ingest_client_*.md)",
    )
    ap.add_argument("--out", default="fhir_ingest", help="results file stem under bench/results")
    args = ap.parse_args()
    closed_loop, open_loop = CLIENTS[args.client].closed_loop, CLIENTS[args.client].open_loop
    java_options = tuple(FhirSettings().java_options if args.java_option is None else args.java_option)
    kinds = templates()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "validator_jvm_options": " ".join(java_options),
        "validator_niceness": args.nice,
        "validator_scheduling": args.scheduling,
        "queue_depth": args.queue_depth,
        "rate": args.rate,
        "client": args.client,
        "load_average_before": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="edigate-fhir-bench-") as tmp:
        tmpdir = Path(tmp)
        validator = None
        if args.validator_url:
            vurl = args.validator_url.rstrip("/")
        else:
            validator = start_validator(
                PACKAGES, 2, java_options, args.jar, tmpdir / "validator.log", args.nice, args.scheduling
            )
            vurl = validator.url
            results["validator_start_s"] = round(validator.start_seconds, 1)
            results["validator_ready_line"] = validator.ready_line
            results["validator_rss_mb_ready"] = rss_mb(validator.proc.pid)
            print(
                f"validator READY after {validator.start_seconds:.1f} s, RSS {results['validator_rss_mb_ready']} MB",
                flush=True,
            )
        port = free_port()
        cfg = tmpdir / "bench.toml"
        cfg.write_text(gateway_config(port, tmpdir / "bench.db", vurl, args.queue_depth), encoding="utf-8")
        gw = start([sys.executable, "-m", "edigate", "serve", "--config", str(cfg)], port, tmpdir / "gw.log")
        base = f"http://127.0.0.1:{port}"
        try:
            per_run = int(args.seconds * 400) + 100
            results["body_sizes_bytes"] = FhirBodies(len(kinds), kinds).sizes
            warm = FhirBodies(40, kinds)
            w = asyncio.run(closed_loop(fhir_request("bare", vurl, warm), args.warmup_seconds, args.concurrency))
            results["warmup"] = {"seconds": args.warmup_seconds, "requests": w["requests"]}
            jvm_pid = validator.proc.pid if validator is not None else None

            def snapshot() -> tuple[float, ...]:
                busy, steal = machine_cpu.machine_seconds()  # steal: the host running another guest on our cores
                return (
                    process_cpu_seconds(gw.pid),
                    cpu_of(jvm_pid),
                    own_cpu_seconds(),
                    time.perf_counter(),
                    busy,
                    steal,
                )

            def measured(name: str, work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
                """One phase, with the CPU each process used per wall-clock second (over the phase, or over
                the `window` of (before, after) snapshots the phase reports)."""
                before = snapshot()
                r = asyncio.run(work)
                before, after = r.pop("window", (before, snapshot()))
                wall = after[3] - before[3]
                r["cpu_per_s"] = {
                    who: round((after[i] - before[i]) / wall, 2)
                    for i, who in ((0, "edigate"), (1, "validator"), (2, "loadgen"), (4, "machine"), (5, "steal"))
                }
                r["edigate_cpu_s"] = after[0] - before[0]
                r["load_average"] = load_average()
                results[name] = r
                print(f"{name:26} {r}", flush=True)
                return r

            idle = measured("edigate_idle", idle_for(10.0))
            background = idle["cpu_per_s"]["edigate"]  # edigate's own loops (health tick, drains), not per message
            for name, kind, url in (("bare_validator", "bare", vurl), ("edigate_fhir_ingest", "edigate", base)):
                bodies = FhirBodies(per_run, kinds)
                r = measured(name, closed_loop(fhir_request(kind, url, bodies), args.seconds, args.concurrency))
                if kind == "edigate":
                    net = r["edigate_cpu_s"] - background * args.seconds
                    r["edigate_cpu_us_per_msg"] = round(r["edigate_cpu_s"] / max(1, r["requests"]) * 1e6)
                    r["edigate_cpu_us_per_msg_net"] = round(net / max(1, r["requests"]) * 1e6)
            ratio = results["edigate_fhir_ingest"]["msgs_per_s"] / max(0.1, results["bare_validator"]["msgs_per_s"])
            results["edigate_to_bare_ratio"] = round(ratio, 3)
            print(f"edigate / bare validator = {ratio:.0%}", flush=True)
            bodies = FhirBodies(per_run, kinds)
            measured(
                f"edigate_fhir_at_{args.rate:g}_per_s",
                open_loop(fhir_request("edigate", base, bodies), args.seconds, args.rate),
            )

            async def beside(oio_bodies: Bodies) -> dict[str, Any]:
                fhir_bodies = FhirBodies(per_run, kinds)
                fhir_task = asyncio.create_task(
                    open_loop(fhir_request("edigate", base, fhir_bodies), args.seconds, args.rate)
                )
                before = snapshot()
                oio = await closed_loop(oioxml_request(base, oio_bodies), args.seconds, 32)
                oio["window"] = (before, snapshot())  # the OIOXML run, not the FHIR answers that come after it
                oio["fhir_beside"] = await fhir_task
                return oio

            alone_runs, beside_runs = [], []
            for i in range(args.rounds):
                oio_bodies = Bodies(f"A{i}", per_run * 20, "mixed")
                alone_runs.append(
                    measured(f"oioxml_alone_{i + 1}", closed_loop(oioxml_request(base, oio_bodies), args.seconds, 32))
                )
                beside_runs.append(
                    measured(f"oioxml_with_fhir_beside_{i + 1}", beside(Bodies(f"B{i}", per_run * 20, "mixed")))
                )
            alone = statistics.median(r["msgs_per_s"] for r in alone_runs)
            with_fhir = statistics.median(r["msgs_per_s"] for r in beside_runs)
            results["oioxml_alone_median_msgs_per_s"] = alone
            results["oioxml_with_fhir_median_msgs_per_s"] = with_fhir
            slower = 1 - with_fhir / max(0.1, alone)
            results["oioxml_slowdown_with_fhir"] = round(slower, 3)
            # each round's own pair (alone, then beside a minute later): the load of a shared VM drifts
            results["oioxml_slowdown_per_round"] = [
                round(1 - b["msgs_per_s"] / max(0.1, a["msgs_per_s"]), 3)
                for a, b in zip(alone_runs, beside_runs, strict=True)
            ]
            # edigate's CPU per OIOXML message, alone and beside FHIR (beside: FHIR's own work included)
            results["edigate_cpu_us_per_oioxml_msg"] = {
                "alone": round(statistics.median(r["edigate_cpu_s"] / max(1, r["requests"]) for r in alone_runs) * 1e6),
                "with_fhir_beside": round(
                    statistics.median(r["edigate_cpu_s"] / max(1, r["requests"]) for r in beside_runs) * 1e6
                ),
            }
            print(f"oioxml median {alone} alone, {with_fhir} with FHIR beside ({slower:.0%} slower)", flush=True)
            if validator is not None:
                results["validator_rss_mb_after"] = rss_mb(validator.proc.pid)
            results["load_average_after"] = load_average()
        finally:
            stop(gw)
            if validator is not None:
                validator.stop()
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    rows = [
        "# FHIR ingest benchmark (bench/bench_fhir_ingest.py)",
        "",
        f"Machine: {results['machine']}. Load average before: {results['load_average_before']}, "
        f"after: {results.get('load_average_after', '?')} (the machine is shared).",
        f"Validator start (READY): {results.get('validator_start_s', 'external')} s; RSS at READY "
        f"{results.get('validator_rss_mb_ready', '?')} MB, "
        f"after the run {results.get('validator_rss_mb_after', '?')} MB.",
        f"Bodies: {results['body_sizes_bytes']} bytes (CareCommunication, HospitalNotification).",
        "",
        f"Validator JVM options: {results['validator_jvm_options'] or 'none'}; "
        f"niceness {results['validator_niceness']}, scheduling {results['validator_scheduling']} "
        f"(edigate's at 0). edigate's [fhir] threads 2, queue_depth {results['queue_depth']}. "
        f"Warm-up before measuring: {results.get('warmup', {})}. Load generator's HTTP client: "
        f"{results.get('client', 'aiohttp')} (its CPU is the loadgen column).",
        "",
        "| run | msgs/s | p50 ms | p99 ms | 202s/s | p99 of 202s ms | errors (by status) | CPU s/s edigate "
        "/ validator / loadgen (the machine's busy, the hypervisor's steal) | load average after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, val in results.items():
        if isinstance(val, dict) and "msgs_per_s" in val:
            rows.append(row(key, val))
            if isinstance(val.get("fhir_beside"), dict):
                rows.append(row(f"  FHIR beside it ({results['rate']:g} msg/s offered)", val["fhir_beside"]))
    fhir = results["edigate_fhir_ingest"]
    rows += [
        "",
        f"edigate's idle CPU (its background loops): {results['edigate_idle']['cpu_per_s']['edigate']} s/s. "
        f"edigate's CPU per FHIR message: {fhir['edigate_cpu_us_per_msg']} µs, "
        f"{fhir['edigate_cpu_us_per_msg_net']} µs without the idle share.",
        f"edigate / bare validator: {results['edigate_to_bare_ratio']:.0%}; OIOXML median "
        f"{results['oioxml_alone_median_msgs_per_s']} msg/s alone, {results['oioxml_with_fhir_median_msgs_per_s']} "
        f"with FHIR beside: {results['oioxml_slowdown_with_fhir']:.0%} slower (per round: "
        f"{' / '.join(f'{x:.0%}' for x in results['oioxml_slowdown_per_round'])}; median "
        f"{statistics.median(results['oioxml_slowdown_per_round']):.0%}). edigate's CPU per OIOXML message "
        f"(median): {results['edigate_cpu_us_per_oioxml_msg']} µs.",
    ]
    (out / f"{args.out}.md").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return 0


def row(key: str, val: dict[str, Any]) -> str:
    cpu = val.get("cpu_per_s", {})
    cpus = " / ".join(str(cpu.get(k, "")) for k in ("edigate", "validator", "loadgen")) if cpu else ""
    if cpu and "machine" in cpu:
        cpus += f" (machine {cpu['machine']}, steal {cpu['steal']})"
    return (
        f"| {key} | {val['msgs_per_s']} | {val['p50_ms']} | {val['p99_ms']} | {val.get('ok_per_s', '')} | "
        f"{val.get('ok_p99_ms', '')} | {val['errors']} {val.get('error_statuses') or ''} | {cpus} | "
        f"{val.get('load_average', '')} |"
    )


if __name__ == "__main__":
    sys.exit(main())
