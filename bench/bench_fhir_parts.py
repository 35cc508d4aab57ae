"""edigate's FHIR-specific work per message, part by part, in-process (thread CPU time, best of 5 repeats).

The parts the ingest of one FHIR message runs besides the generic intake (HTTP server, authentication,
durable commit): reading (the hardened JSON parse, then MessageHeader/addressing/CPR), the call to the
validator (against a stub that answers "No issues" at once: the client's own CPU), the OperationOutcome,
the body's stored form (zlib). Each `--tree` runs in a process of its own with that checkout first on
sys.path, so two checkouts compare side by side.

    .venv/bin/python bench/bench_fhir_parts.py [--tree NAME=PATH]... [--out fhir_parts]
Writes bench/results/NAME.json and .md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_fhir_cpu import EXAMPLES, KINDS, STUB_VALIDATOR, _describe, _wait_port  # noqa: E402
from bench.loadgen import load_average  # noqa: E402
from bench.results_file import write_results  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402

MEASURE = textwrap.dedent("""
    import asyncio, json, sys, time
    tree, port, files = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    sys.path.insert(0, tree)
    from edigate.fhir.reading import load_json, read_message
    from edigate.fhir.validation import HttpFhirValidator, parse_operation_outcome
    from edigate.store.body_encoding import pack

    NO_ISSUES = (b'{"resourceType":"OperationOutcome","issue":[{"severity":"information",'
                 b'"code":"informational","diagnostics":"No issues"}]}')

    def cpu(fn, n):
        best = 1e9
        for _ in range(5):
            t = time.thread_time()
            for _ in range(n):
                fn()
            best = min(best, (time.thread_time() - t) / n)
        return round(best * 1e6)

    async def client_cpu(body, n):
        client = HttpFhirValidator(f"http://127.0.0.1:{port}", timeout_seconds=30)
        for _ in range(20):
            await client.validate("CareCommunication", body, "application/fhir+json")
        best = 1e9
        for _ in range(5):
            t = time.process_time()  # this process: the client's CPU, the stub runs in another
            for _ in range(n):
                await client.validate("CareCommunication", body, "application/fhir+json")
            best = min(best, (time.process_time() - t) / n)
        await client.stop()
        return round(best * 1e6)

    out = {}
    for kind, path in files.items():
        body = json.dumps(json.load(open(path, encoding="utf-8"))).encode()  # as the benchmarks send it
        text = body.decode()
        n = max(20, int(2_000_000 / len(body)))
        out[kind] = {
            "json.loads, no checks": cpu(lambda: json.loads(text), n),
            "load_json (hardened)": cpu(lambda: load_json(body), n),
            "read_message (all reading)": cpu(lambda: read_message(body), n),
            "validator call (client CPU)": asyncio.run(client_cpu(body, max(50, n // 4))),
            "OperationOutcome parse": cpu(lambda: parse_operation_outcome(NO_ISSUES), 2000),
            "stored form (zlib)": cpu(lambda: pack(body), max(10, n // 4)),
        }
    print(json.dumps(out))
""")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", default=None, help="NAME=PATH of an edigate checkout (repeatable)")
    ap.add_argument("--out", default="fhir_parts")
    args = ap.parse_args()
    trees = dict(t.split("=", 1) for t in (args.tree or [f"this={REPO}"]))
    files = {kind: str(EXAMPLES / rel) for kind, rel in KINDS.items()}
    results: dict[str, Any] = {
        "load_average_before": load_average(),
        "trees": {n: _describe(Path(p)) for n, p in trees.items()},
    }
    port = free_port()
    stub = subprocess.Popen([sys.executable, "-c", STUB_VALIDATOR, str(port)])
    try:
        _wait_port(port)
        parts = {}
        for name, path in trees.items():
            cmd = [sys.executable, "-c", MEASURE, path, str(port), json.dumps(files)]
            parts[name] = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            print(name, parts[name], flush=True)
    finally:
        stub.terminate()
        stub.wait(10)
    results["parts_us"] = parts
    results["load_average_after"] = load_average()
    names = list(trees)
    rows = [
        "# edigate's FHIR-specific CPU per message, part by part (bench/bench_fhir_parts.py, in-process)",
        "",
        f"Thread CPU (the validator call: this process's CPU, the stub answering in another), best of 5 repeats. "
        f"Load average before: {results['load_average_before']}, after: {results['load_average_after']}.",
        "",
        "Trees: " + "; ".join(f"{n} = {d}" for n, d in results["trees"].items()),
        "",
        "| body | part | " + " | ".join(f"{n} µs" for n in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for kind in KINDS:
        for part in parts[names[0]][kind]:
            rows.append(f"| {kind} | {part} | " + " | ".join(str(parts[n][kind][part]) for n in names) + " |")
    write_results(args.out, results, "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
