"""Benchmark: the bare FHIR validator (validator/, HAPI FHIR's reference validation) called directly over
HTTP, no edigate: throughput at concurrency 2-4, p50/p99 latency, JVM start time and memory.

Run:  .venv/bin/python bench/bench_fhir_validator.py [--packages DIR] [--requests N] [--out-name NAME]
      [--variant LABEL=JAR[:JVM-OPTION,...]]...   (before/after: builds or JVM flags, one after the other)
      (`make validator` first; the packages default to ../shared/medcom/fhir-packages)

Method: one validator JVM started by this script (`--threads 2`, the default edigate uses), its start timed
to READY and its own load/warm-up figures read from the READY line; each case is warmed up (8 requests),
then `--requests` requests are sent by `concurrency` client threads, each with its own keep-alive
connection. Every answer must be 200 and, for these official examples, carry no error (an error would
mean the benchmark measured a refusal). Reported per case: msg/s, p50/p99 latency, and the JVM's own CPU
per message (from /proc, so the load of other jobs on the shared machine shows less there than in msg/s).
RSS is read after warm-up and after the run.

Cases: CareCommunication official examples of 16, 41 and 100 KB, one of 16 KB grown to ~100 KB by a long
text (the payload string), and HospitalNotification (13 KB). The edigate ingest rows (validate, durable
commit, 202) are to be added beside these by the FHIR ingest work, reusing `start_validator`, `CASES` and
`run_load`.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edigate.fhir.config import DEFAULT_JAR  # noqa: E402
from edigate.fhir.standards import STANDARDS  # noqa: E402
from edigate.fhir.supervisor import priority_prefix, standard_args  # noqa: E402

EXAMPLES = REPO.parent / "shared" / "medcom" / "fhir-examples"
PACKAGES = REPO.parent / "shared" / "medcom" / "fhir-packages"
RESULTS = REPO / "bench" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------ the messages


def _example(folder: str, bundle_id: str) -> bytes:
    return (EXAMPLES / folder / f"Bundle-{bundle_id}.json").read_bytes()


def _long_text(target_bytes: int) -> Callable[[], bytes]:
    """The 16 KB CareCommunication with its payload text grown until the message is `target_bytes`."""

    def make() -> bytes:
        bundle = json.loads(_example("carecommunication", "0d5b3c18-fab6-4d93-9d88-c9c8abf1f18c"))
        communication = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Communication")
        payload = copy.deepcopy(communication["payload"][0])
        sentence = "Borgeren er set i dag; vi aftaler opfølgning og skriver igen efter næste besøg. "
        base = len(json.dumps(bundle).encode())
        payload["contentString"] += " " + sentence * max(1, (target_bytes - base) // len(sentence.encode()))
        communication["payload"][0] = payload
        return json.dumps(bundle, ensure_ascii=False).encode()

    return make


# (case name, standard, body maker)
CASES: tuple[tuple[str, str, Callable[[], bytes]], ...] = (
    (
        "CareCommunication 16 KB",
        "CareCommunication",
        lambda: _example("carecommunication", "0d5b3c18-fab6-4d93-9d88-c9c8abf1f18c"),
    ),
    (
        "CareCommunication 41 KB",
        "CareCommunication",
        lambda: _example("carecommunication", "d11968f5-4bdf-4b50-b146-a8e1cc890fc3"),
    ),
    (
        "CareCommunication 100 KB",
        "CareCommunication",
        lambda: _example("carecommunication", "b56549f7-ed10-422d-8088-f7222b686e46"),
    ),
    ("CareCommunication 100 KB long text", "CareCommunication", _long_text(100_000)),
    (
        "HospitalNotification 13 KB",
        "HospitalNotification",
        lambda: _example("hospitalnotification", "a5e5b880-c087-4055-b9ec-99108695f81d"),
    ),
)


# ------------------------------------------------------------------------------------------ the validator


@dataclass
class Validator:
    proc: subprocess.Popen[bytes]
    port: int
    start_seconds: float  # exec to READY, measured here
    ready_line: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()


def has_parent_watch(jar: Path) -> bool:
    """Whether this build knows --exit-on-stdin-eof (older builds, compared before/after, do not)."""
    with zipfile.ZipFile(jar) as z:
        return "dk/edigate/validator/ParentWatch.class" in z.namelist()


def start_validator(
    packages: Path,
    threads: int = 2,
    java_options: tuple[str, ...] = (),
    jar: Path = DEFAULT_JAR,
    log: Path | None = None,
    niceness: int = 0,
    scheduling: str = "normal",
    cpus: str = "",
) -> Validator:
    """Start the validator JVM and wait for READY; its stdin is a pipe this process holds, so a benchmark
    that is killed takes the JVM with it (where the build has the parent-death watch)."""
    if not jar.is_file():
        raise SystemExit(f"{jar} is missing: run `make validator`")
    cmd = ["java", *java_options, "-jar", str(jar), "--packages", str(packages), "--port", "0"]
    cmd += ["--threads", str(threads), *standard_args(STANDARDS)]
    cmd = [*priority_prefix(niceness, scheduling), *cmd]  # as edigate's supervisor runs it
    if cpus:  # CPU affinity (taskset execs, same pid; every JVM thread inherits it)
        cmd = ["taskset", "-c", cpus, *cmd]
    if has_parent_watch(jar):
        cmd.append("--exit-on-stdin-eof")
    t0 = time.monotonic()
    err = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child's stderr
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    if log:
        err.close()  # type: ignore[union-attr]
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode().strip()
        if line.startswith("READY port="):
            port = int(line.split()[1].split("=")[1])
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
            return Validator(proc, port, time.monotonic() - t0, line)
    raise SystemExit(f"the validator exited ({proc.wait()}) before READY")


# ------------------------------------------------------------------------------------------ the load


@dataclass
class Row:
    case: str
    server: str
    size_bytes: int
    concurrency: int
    requests: int
    msgs_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_ms_per_msg: float | None


def run_load(
    url: str,
    path: str,
    body: bytes,
    content_type: str,
    concurrency: int,
    requests: int,
    check: Callable[[int, bytes], bool],
) -> tuple[float, list[float], int]:
    """(elapsed s, latencies s, failed answers): `requests` POSTs by `concurrency` keep-alive clients."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    failed = [0]
    lock = threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            t = time.perf_counter()
            conn.request("POST", path, body=body, headers={"Content-Type": content_type})
            resp = conn.getresponse()
            data = resp.read()
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                if not check(resp.status, data):
                    failed[0] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t0, latencies, failed[0]


def no_errors(status: int, data: bytes) -> bool:
    if status != 200:
        return False
    return not any(i.get("severity") in ("error", "fatal") for i in json.loads(data).get("issue", []))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def bare_validator_rows(
    validator: Validator, requests: int, concurrencies: tuple[int, ...], label: str = "bare validator"
) -> list[Row]:
    rows = []
    for case, standard, make in CASES:
        body = make()
        path = f"/validate?standard={standard}"
        run_load(validator.url, path, body, "application/fhir+json", 2, 8, no_errors)  # warm this case
        for concurrency in concurrencies:
            cpu0 = validator.cpu_seconds()
            elapsed, latencies, failed = run_load(
                validator.url, path, body, "application/fhir+json", concurrency, requests, no_errors
            )
            cpu = validator.cpu_seconds() - cpu0
            rows.append(
                Row(
                    case=case,
                    server=label,
                    size_bytes=len(body),
                    concurrency=concurrency,
                    requests=len(latencies),
                    msgs_per_s=round(len(latencies) / elapsed, 2),
                    p50_ms=round(statistics.median(latencies) * 1000, 1),
                    p99_ms=round(percentile(latencies, 0.99) * 1000, 1),
                    errors=failed,
                    server_cpu_ms_per_msg=round(cpu / len(latencies) * 1000, 1),
                )
            )
            print(
                f"{case:36} c={concurrency} {rows[-1].msgs_per_s:7.2f} msg/s p50 {rows[-1].p50_ms:7.1f} ms "
                f"p99 {rows[-1].p99_ms:7.1f} ms cpu {rows[-1].server_cpu_ms_per_msg} ms/msg errors {failed}",
                flush=True,
            )
    return rows


# ------------------------------------------------------------------------------------------ the report


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def write_results(name: str, meta: dict[str, Any], rows: list[Row]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({**meta, "rows": [asdict(r) for r in rows]}, indent=1) + "\n")
    lines = [
        "# FHIR validator benchmark (bench/bench_fhir_validator.py)",
        "",
        f"Run {meta['started']} on {meta['machine']}. Load average before: {meta['load_before']}, "
        f"after: {meta['load_after']} (the machine is shared). HAPI FHIR {meta['hapi_fhir']}, "
        f"--threads {meta['threads']}; the variants ran one after the other in this run.",
        "",
    ]
    for v in meta["variants"]:
        lines.append(
            f"- **{v['label']}**: jar {v['jar']}, JVM options {v['java_options'] or 'none'}. Start to READY "
            f"{v['start_seconds']:.1f} s ({v['ready_line']}). RSS after warm-up {v['rss_mb_ready']:.0f} MB, "
            f"after the run {v['rss_mb_after']:.0f} MB. Load average at its start {v['load_at_start']}."
        )
    lines += [
        "",
        "| case | server | size | concurrency | msg/s | p50 ms | p99 ms | server CPU ms/msg | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.case} | {r.server} | {r.size_bytes / 1024:.0f} KB | {r.concurrency} | {r.msgs_per_s} | {r.p50_ms} | "
            f"{r.p99_ms} | {r.server_cpu_ms_per_msg} | {r.errors} |"
        )
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def parse_variant(text: str) -> tuple[str, Path, tuple[str, ...]]:
    """LABEL=JAR or LABEL=JAR:-Xopt,-Xopt2 -> (label, jar, JVM options)."""
    label, _, rest = text.partition("=")
    jar, _, opts = rest.partition(":")
    if not label or not jar:
        raise argparse.ArgumentTypeError(f"--variant: expected LABEL=JAR[:OPTION,OPTION], got {text!r}")
    return label, Path(jar), tuple(o for o in opts.split(",") if o)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=Path, default=PACKAGES)
    parser.add_argument("--requests", type=int, default=40, help="requests per case and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--java-option", action="append", default=[], help="e.g. -Xmx1g (repeatable)")
    parser.add_argument("--out-name", default="fhir_validator")
    parser.add_argument("--jar", type=Path, default=DEFAULT_JAR, help="another build, e.g. to compare before/after")
    parser.add_argument(
        "--variant",
        type=parse_variant,
        action="append",
        default=[],
        help="LABEL=JAR[:OPTION,...] (repeatable): builds or JVM options measured one after the other in one run",
    )
    args = parser.parse_args()
    variants = args.variant or [("bare validator", args.jar, tuple(args.java_option))]
    meta: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}",
        "load_before": load_average(),
        "threads": args.threads,
        "variants": [],
    }
    rows: list[Row] = []
    for label, jar, java_options in variants:
        v: dict[str, Any] = {"label": label, "jar": str(jar), "java_options": " ".join(java_options)}
        v["load_at_start"] = load_average()
        validator = start_validator(args.packages, args.threads, java_options, jar)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", validator.port, timeout=30)
            conn.request("GET", "/health")
            meta["hapi_fhir"] = json.loads(conn.getresponse().read())["hapi_fhir"]
            conn.close()
            v.update(
                start_seconds=validator.start_seconds, ready_line=validator.ready_line, rss_mb_ready=validator.rss_mb()
            )
            print(f"{label}: READY after {validator.start_seconds:.1f} s, RSS {v['rss_mb_ready']:.0f} MB", flush=True)
            rows += bare_validator_rows(validator, args.requests, tuple(args.concurrency), label)
            v["rss_mb_after"] = validator.rss_mb()
        finally:
            validator.stop()
        meta["variants"].append(v)
    meta["load_after"] = load_average()
    print(f"results: {write_results(args.out_name, meta, rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
