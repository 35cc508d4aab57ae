"""edigate's own CPU per FHIR message, without the JVM: `edigate serve` against a stub validator.

The stub answers every `POST /validate` with the reference validator's "No issues" OperationOutcome at once
(measurement only: the verdicts are the real validator's everywhere else), so what is measured is edigate's
part of a FHIR ingest: the intake and its hardening, reading the MessageHeader and addressing, the HTTP call
to the validator, the OperationOutcome, the body's stored form, the durable commit, the answer.

Each `--tree` (a checkout of edigate; default this one) runs its own `edigate serve` (SQLite) side by side:
per body kind the trees take turns, `--rounds` times, so an A/B comparison sees the same minutes of the
shared machine's load. The figure is the service process's CPU (all threads, /proc) per accepted message.

    .venv/bin/python bench/bench_fhir_cpu.py [--tree NAME=PATH]... [--seconds 8] [--rounds 2]
        [--concurrency 8] [--py-spy DIR] [--out fhir_cpu]
Writes bench/results/NAME.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_fhir_ingest import sender_gln  # noqa: E402
from bench.gateway_config import BenchPartner, service_config  # noqa: E402
from bench.loadgen import closed_loop, load_average, process_cpu_seconds, start, stop  # noqa: E402
from bench.results_file import write_results  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402

EXAMPLES = REPO.parent / "shared" / "medcom" / "fhir-examples"
GLN_A, GLN_B = "5790000209354", "5790001348120"
TOKENS = {GLN_A: "bench-fhir-a", GLN_B: "bench-fhir-b"}
# one example of each size class (the 41 and 100 KB ones are sent by GLN_B to GLN_A)
KINDS = {
    "CareCommunication 16 KB": "carecommunication/Bundle-0d5b3c18-fab6-4d93-9d88-c9c8abf1f18c.json",
    "CareCommunication 41 KB": "carecommunication/Bundle-d11968f5-4bdf-4b50-b146-a8e1cc890fc3.json",
    "CareCommunication 100 KB": "carecommunication/Bundle-b56549f7-ed10-422d-8088-f7222b686e46.json",
    "HospitalNotification 15 KB": "hospitalnotification/Bundle-bfab3e80-9584-11ec-b909-0242ac120002.json",
}
STUB_VALIDATOR = textwrap.dedent("""
    import sys
    from aiohttp import web
    NO_ISSUES = (b'{"resourceType":"OperationOutcome","issue":[{"severity":"information",'
                 b'"code":"informational","diagnostics":"No issues"}]}')
    async def validate(request):
        await request.read()
        return web.Response(body=NO_ISSUES, content_type="application/fhir+json")
    async def health(request):
        return web.json_response({"status": "READY"})
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/validate", validate)
    app.router.add_get("/health", health)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
""")


class FhirBodies:
    """Unique copies of one example (new Bundle.id and MessageHeader.id each), made before the clock starts."""

    def __init__(self, path: Path, n: int) -> None:
        doc = json.loads(path.read_text(encoding="utf-8"))
        text = json.dumps(doc)
        mh, bid = doc["entry"][0]["resource"]["id"], doc["id"]
        self.token = TOKENS[sender_gln(text) or GLN_A]
        self.items = [text.replace(mh, str(uuid.uuid4())).replace(bid, str(uuid.uuid4())).encode() for _ in range(n)]
        self.i = 0

    def next(self) -> bytes:
        body = self.items[self.i % len(self.items)]
        self.i += 1
        return body


def config(port: int, db: Path, validator_url: str) -> str:
    partners = [
        BenchPartner(GLN_A, "Bench hospital (FHIR)", "hospital", TOKENS[GLN_A]),
        BenchPartner(GLN_B, "Bench municipality (FHIR)", "municipality", TOKENS[GLN_B]),
    ]
    fhir = f'[fhir]\nvalidator_url = "{validator_url}"\ntimeout_seconds = 60\nthreads = 2\nqueue_depth = 64'
    return service_config(port, f"sqlite:///{db}", partners, sections=fhir)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", default=None, help="NAME=PATH of an edigate checkout (repeatable)")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--py-spy", type=Path, default=None, help="also record a py-spy profile per tree into DIR")
    ap.add_argument("--perf", type=Path, default=None, help="also record `perf record -g` per tree into DIR")
    ap.add_argument("--kind", action="append", default=None, help=f"only these bodies (of {', '.join(KINDS)})")
    ap.add_argument("--out", default="fhir_cpu")
    args = ap.parse_args()
    kinds = {k: v for k, v in KINDS.items() if args.kind is None or k in args.kind}
    trees = dict(t.split("=", 1) for t in (args.tree or [f"this={REPO}"]))
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "seconds": args.seconds,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "trees": {name: _describe(Path(path)) for name, path in trees.items()},
        "load_average_before": load_average(),
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="edigate-fhir-cpu-") as tmp:
        tmpdir = Path(tmp)
        vport = free_port()
        stub = subprocess.Popen([sys.executable, "-c", STUB_VALIDATOR, str(vport)])
        services: dict[str, Service] = {}
        spies: list[subprocess.Popen[bytes]] = []
        try:
            _wait_port(vport)
            for name, path in trees.items():
                port = free_port()
                cfg = tmpdir / f"{name}.toml"
                cfg.write_text(config(port, tmpdir / f"{name}.db", f"http://127.0.0.1:{vport}"), encoding="utf-8")
                cmd = [sys.executable, "-m", "edigate", "serve", "--config", str(cfg)]
                services[name] = Service(start(cmd, port, tmpdir / f"{name}.log", cwd=Path(path), timeout=180), port)
            # warm-up: every tree, every kind (imports, first-call caches, SQLite file growth)
            for rel in kinds.values():
                for service in services.values():
                    _run(service, FhirBodies(EXAMPLES / rel, 200), 1.5, args.concurrency)
            if args.py_spy is not None:
                args.py_spy.mkdir(parents=True, exist_ok=True)
                for name, service in services.items():
                    spies.append(_py_spy(service.proc.pid, args.py_spy / f"{name}.txt"))
            if args.perf is not None:
                args.perf.mkdir(parents=True, exist_ok=True)
                for name, service in services.items():
                    perf = [
                        "perf",
                        "record",
                        "-F",
                        "999",
                        "-g",
                        "-o",
                        str(args.perf / f"{name}.data"),
                        "-p",
                        str(service.proc.pid),
                    ]
                    spies.append(subprocess.Popen(perf, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for rnd in range(args.rounds):
                for kind, rel in kinds.items():
                    for name, service in services.items():
                        bodies = FhirBodies(EXAMPLES / rel, int(args.seconds * 1000) + 50)
                        r = _run(service, bodies, args.seconds, args.concurrency)
                        r.update(tree=name, kind=kind, round=rnd + 1, load_average=load_average())
                        results["runs"].append(r)
                        print(f"{name:10} {kind:28} {r['cpu_us_per_msg']:6} µs/msg  {r}", flush=True)
        finally:
            for spy in spies:
                spy.send_signal(2)
                spy.wait(60)
            for service in services.values():
                stop(service.proc)
            stub.terminate()
            stub.wait(10)
    results["load_average_after"] = load_average()
    per_kind: dict[str, dict[str, list[int]]] = {}
    for r in results["runs"]:
        per_kind.setdefault(r["kind"], {}).setdefault(r["tree"], []).append(r["cpu_us_per_msg"])
    results["median_cpu_us_per_msg"] = {
        kind: {tree: round(statistics.median(v)) for tree, v in by_tree.items()} for kind, by_tree in per_kind.items()
    }
    names = list(trees)
    rows = [
        "# edigate's own CPU per FHIR message (bench/bench_fhir_cpu.py, stub validator, no JVM)",
        "",
        f"Machine: {results['machine']}. Load average before: {results['load_average_before']}, after: "
        f"{results['load_average_after']} (the machine is shared). {args.rounds} rounds x {args.seconds:g} s per "
        f"kind and tree, concurrency {args.concurrency}, trees taking turns.",
        "",
        "Trees: " + "; ".join(f"{n} = {d}" for n, d in results["trees"].items()),
        "",
        "| body | " + " | ".join(f"{n} µs/msg (median)" for n in names) + " | per round | msgs/s |",
        "|---|" + "---|" * len(names) + "---|---|",
    ]
    for kind, by_tree in results["median_cpu_us_per_msg"].items():
        runs = [r for r in results["runs"] if r["kind"] == kind]
        per_round = "; ".join(f"{r['tree']} {r['cpu_us_per_msg']}" for r in runs)
        rates = "; ".join(f"{r['tree']} {r['msgs_per_s']}" for r in runs)
        rows.append(f"| {kind} | " + " | ".join(str(by_tree.get(n, "")) for n in names) + f" | {per_round} | {rates} |")
    rows.append("")
    rows.append("Load average after each run: " + "; ".join(r["load_average"] for r in results["runs"]))
    write_results(args.out, results, "\n".join(rows))
    return 0


@dataclass(frozen=True)
class Service:
    proc: subprocess.Popen[bytes]
    port: int


def _run(service: Service, bodies: FhirBodies, seconds: float, concurrency: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{service.port}/api/v1/messages"
    headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {bodies.token}"}
    before = process_cpu_seconds(service.proc.pid)
    r = asyncio.run(closed_loop(lambda: (url, bodies.next(), headers, 202), seconds, concurrency))
    used = process_cpu_seconds(service.proc.pid) - before
    r["cpu_us_per_msg"] = round(used / max(1, r["requests"]) * 1e6)
    return r


def _py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--py-spy: py-spy is not on PATH")
    cmd = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--output",
        str(out),
        "--rate",
        "200",
        "--threads",
        "--gil",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_port(port: int, timeout: float = 20) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("the stub validator did not start")


def _describe(path: Path) -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(path), "log", "-1", "--format=%h %s"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head = "?"
    dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "edigate"], capture_output=True, text=True)
    return f"{path} ({head[:60]}{', uncommitted changes' if dirty.stdout.strip() else ''})"


if __name__ == "__main__":
    sys.exit(main())
