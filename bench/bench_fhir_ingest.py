"""FHIR ingest benchmark: edigate's FHIR ingest beside the bare reference validator, in one run.

1. The validator JVM (validator/target/edigate-fhir-validator.jar, or --validator-url): its start time
   (READY) and memory (RSS), then `POST /validate` directly, no edigate ("bare").
2. `edigate serve` (SQLite) with `[fhir] validator_url` at that validator: `POST /api/v1/messages`
   (validate, durable commit, 202) with the same bodies and concurrency.
3. An open-loop run at the national peak (15 msg/s) against edigate: p99.
4. OIOXML ingest alone, then OIOXML ingest while FHIR traffic (15 msg/s) runs beside it.

Bodies: MedCom's CareCommunication (16-105 KB) and HospitalNotification (12-17 KB) examples, each sent
with a fresh Bundle.id and MessageHeader.id so nothing is a
duplicate.

    .venv/bin/python bench/bench_fhir_ingest.py [--seconds 20] [--concurrency 8] [--validator-url URL]
Writes bench/results/fhir_ingest.json and bench/results/fhir_ingest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_ingest import Bodies, load_average, process_cpu_seconds, start, stop  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN  # noqa: E402

SHARED = REPO.parent / "shared" / "medcom"
GLN_A, GLN_B = "5790000209354", "5790001348120"
TOKEN_FHIR, TOKEN_OIO = "bench-fhir-a", "bench-hospital"
JAR = REPO / "validator" / "target" / "edigate-fhir-validator.jar"
STANDARDS = [
    "CareCommunication=medcom.fhir.dk.carecommunication#5.0.2",
    "HospitalNotification=medcom.fhir.dk.hospitalnotification#3.0.2",
    "Acknowledgement=medcom.fhir.dk.acknowledgement#2.0.3",
]


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


def summary(lat: list[float], elapsed: float, errors: Counter[int]) -> dict[str, Any]:
    lat.sort()
    return {
        "requests": len(lat),
        "errors": sum(errors.values()),
        "error_statuses": {str(k): v for k, v in sorted(errors.items())},
        "msgs_per_s": round(len(lat) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else 0.0,
        "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)] * 1000, 1) if lat else 0.0,
    }


async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], ok: int) -> int:
    async with session.post(url, data=body, headers=headers) as resp:
        await resp.read()
        return resp.status


def target(kind: str, base: str, standard: str) -> tuple[str, dict[str, str], int]:
    if kind == "bare":
        return f"{base}/validate?standard={standard}", {"Content-Type": "application/fhir+json"}, 200
    return (
        f"{base}/api/v1/messages",
        {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {TOKEN_FHIR}"},
        202,
    )


async def closed_loop(kind: str, base: str, bodies: FhirBodies, seconds: float, concurrency: int) -> dict[str, Any]:
    lat: list[float] = []
    errors: Counter[int] = Counter()
    stop_at = time.perf_counter() + seconds
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as s:

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                standard, body = bodies.next()
                url, headers, ok = target(kind, base, standard)
                t0 = time.perf_counter()
                status = await post(s, url, body, headers, ok)
                if status != ok:
                    errors[status] += 1
                lat.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return summary(lat, time.perf_counter() - t0, errors)


async def open_loop(kind: str, base: str, bodies: FhirBodies, seconds: float, rate: float) -> dict[str, Any]:
    lat: list[float] = []
    errors: Counter[int] = Counter()
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as s:

        async def one(scheduled: float, standard: str, body: bytes) -> None:
            url, headers, ok = target(kind, base, standard)
            status = await post(s, url, body, headers, ok)
            if status != ok:
                errors[status] += 1
            lat.append(time.perf_counter() - scheduled)

        tasks = []
        t0 = time.perf_counter()
        for i in range(int(seconds * rate)):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            standard, body = bodies.next()
            tasks.append(asyncio.create_task(one(scheduled, standard, body)))
        await asyncio.gather(*tasks)
        return summary(lat, time.perf_counter() - t0, errors)


async def oioxml_closed_loop(base: str, bodies: Bodies, seconds: float, concurrency: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN_OIO}", "Content-Type": "application/xml"}
    lat: list[float] = []
    errors: Counter[int] = Counter()
    stop_at = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                body = bodies.next()
                t0 = time.perf_counter()
                status = await post(s, f"{base}/api/v1/messages", body, headers, 202)
                if status != 202:
                    errors[status] += 1
                lat.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return summary(lat, time.perf_counter() - t0, errors)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def start_validator(log: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    cmd = [
        "java",
        "-Xmx1g",
        "-jar",
        str(JAR),
        "--packages",
        str(SHARED / "fhir-packages"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--threads",
        "2",
    ]
    for s in STANDARDS:
        cmd += ["--standard", s]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(log, "ab"))  # noqa: SIM115
    assert proc.stdout is not None
    for raw in proc.stdout:
        m = re.match(rb"^READY port=(\d+)", raw)
        if m:
            return proc, f"http://127.0.0.1:{int(m.group(1))}", time.monotonic() - t0
    raise RuntimeError(f"the validator exited before READY (see {log})")


def gateway_config(port: int, db: Path, validator_url: str) -> str:
    fhir = hashlib.sha256(TOKEN_FHIR.encode()).hexdigest()
    oio = hashlib.sha256(TOKEN_OIO.encode()).hexdigest()
    return f"""
[server]
listen = "127.0.0.1:{port}"
[storage]
url = "sqlite:///{db}"
[logging]
level = "warning"
[fhir]
validator_url = "{validator_url}"
timeout_seconds = 60
[[partners]]
ean = "{GLN_A}"
name = "Bench hospital (FHIR)"
kind = "hospital"
tokens_sha256 = ["{fhir}"]
delivery = {{ kind = "mailbox" }}
[[partners]]
ean = "{GLN_B}"
name = "Bench municipality (FHIR)"
kind = "municipality"
delivery = {{ kind = "mailbox" }}
[[partners]]
ean = "{HOSPITAL_EAN}"
name = "Bench hospital"
kind = "hospital"
tokens_sha256 = ["{oio}"]
delivery = {{ kind = "mailbox" }}
[[partners]]
ean = "{MUNICIPALITY_EAN}"
name = "Bench municipality"
kind = "municipality"
delivery = {{ kind = "mailbox" }}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rate", type=float, default=15.0, help="offered FHIR load for the latency run (msg/s)")
    ap.add_argument("--validator-url", default=None, help="use a running validator instead of starting the jar")
    args = ap.parse_args()
    kinds = templates()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "load_average_before": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="edigate-fhir-bench-") as tmp:
        tmpdir = Path(tmp)
        vproc = None
        if args.validator_url:
            vurl = args.validator_url.rstrip("/")
        else:
            vproc, vurl, ready_s = start_validator(tmpdir / "validator.log")
            results["validator_start_s"] = round(ready_s, 1)
            results["validator_rss_mb_ready"] = rss_mb(vproc.pid)
            print(f"validator READY after {ready_s:.1f} s, RSS {results['validator_rss_mb_ready']} MB", flush=True)
        port = free_port()
        cfg = tmpdir / "bench.toml"
        cfg.write_text(gateway_config(port, tmpdir / "bench.db", vurl), encoding="utf-8")
        gw = start([sys.executable, "-m", "edigate", "serve", "--config", str(cfg)], port, tmpdir / "gw.log")
        base = f"http://127.0.0.1:{port}"
        try:
            per_run = int(args.seconds * 400) + 100
            results["body_sizes_bytes"] = FhirBodies(len(kinds), kinds).sizes
            asyncio.run(closed_loop("bare", vurl, FhirBodies(40, kinds), 5, args.concurrency))  # JIT warm-up
            for name, kind, url in (("bare_validator", "bare", vurl), ("edigate_fhir_ingest", "edigate", base)):
                cpu0 = process_cpu_seconds(gw.pid)
                r = asyncio.run(closed_loop(kind, url, FhirBodies(per_run, kinds), args.seconds, args.concurrency))
                if kind == "edigate":
                    r["edigate_cpu_us_per_msg"] = round(
                        (process_cpu_seconds(gw.pid) - cpu0) / max(1, r["requests"]) * 1e6
                    )
                results[name] = r
                print(f"{name:22} {r}", flush=True)
            ratio = results["edigate_fhir_ingest"]["msgs_per_s"] / max(0.1, results["bare_validator"]["msgs_per_s"])
            results["edigate_to_bare_ratio"] = round(ratio, 3)
            print(f"edigate / bare validator = {ratio:.0%}", flush=True)
            r = asyncio.run(open_loop("edigate", base, FhirBodies(per_run, kinds), args.seconds, args.rate))
            results[f"edigate_fhir_at_{args.rate:g}_per_s"] = r
            print(f"fixed {args.rate:g}/s          {r}", flush=True)

            oio_alone = asyncio.run(oioxml_closed_loop(base, Bodies("OA", per_run * 20, "mixed"), args.seconds, 32))
            results["oioxml_alone"] = oio_alone
            print(f"oioxml alone           {oio_alone}", flush=True)

            async def beside() -> tuple[dict[str, Any], dict[str, Any]]:
                fhir_task = asyncio.create_task(
                    open_loop("edigate", base, FhirBodies(per_run, kinds), args.seconds, args.rate)
                )
                oio = await oioxml_closed_loop(base, Bodies("OB", per_run * 20, "mixed"), args.seconds, 32)
                return oio, await fhir_task

            oio_beside, fhir_beside = asyncio.run(beside())
            results["oioxml_with_fhir_beside"] = oio_beside
            results["fhir_beside_oioxml"] = fhir_beside
            slower = 1 - oio_beside["msgs_per_s"] / max(0.1, oio_alone["msgs_per_s"])
            results["oioxml_slowdown_with_fhir"] = round(slower, 3)
            print(f"oioxml with FHIR beside {oio_beside}  ({slower:.0%} slower)", flush=True)
            print(f"fhir beside oioxml     {fhir_beside}", flush=True)
            if vproc is not None:
                results["validator_rss_mb_after"] = rss_mb(vproc.pid)
            results["load_average_after"] = load_average()
        finally:
            stop(gw)
            if vproc is not None:
                stop(vproc)  # type: ignore[arg-type]
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fhir_ingest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
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
        "| run | msgs/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|",
    ]
    for key, val in results.items():
        if isinstance(val, dict) and "msgs_per_s" in val:
            rows.append(f"| {key} | {val['msgs_per_s']} | {val['p50_ms']} | {val['p99_ms']} | {val['errors']} |")
    rows += [
        "",
        f"edigate / bare validator: {results['edigate_to_bare_ratio']:.0%}; OIOXML slower with FHIR beside: "
        f"{results['oioxml_slowdown_with_fhir']:.0%}.",
    ]
    (out / "fhir_ingest.md").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
