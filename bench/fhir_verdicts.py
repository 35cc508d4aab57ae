"""Verdict safety for changes to the validator engine: the full verdict of every MedCom example and of many
mutants of them, from one validator build, and a comparison of two such recordings.

Run:  .venv/bin/python bench/fhir_verdicts.py record --jar JAR --out FILE.json.gz [--java-option OPT]...
      .venv/bin/python bench/fhir_verdicts.py compare BEFORE.json.gz AFTER.json.gz [--md OUT.md]

`record` starts the given jar (the HTTP server edigate uses, `--threads 2`) and posts every input of
tests/harness/engine_verdicts.py's corpus: every MedCom example Bundle (../shared/medcom/fhir-examples and
the packages' own examples) as JSON and as FHIR XML, each against the two other standards too (slicing and
profile mismatches: many errors), and deterministic mutants of each. The
verdict of one input is its issue list: severity, IssueType code, message id, FHIRPath expression and
diagnostics, in the validator's order.

`compare` says, per input, whether the error-level issues (error, fatal) are identical, and how the warning
and information issues differ. It exits 1 when any error-level issue list differs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_fhir_validator import PACKAGES, start_validator  # noqa: E402
from tests.harness.engine_verdicts import ERROR, Case, corpus, post, verdict  # noqa: E402


def record(args: argparse.Namespace) -> None:
    validator = start_validator(PACKAGES, threads=2, java_options=tuple(args.java_option), jar=Path(args.jar))
    try:
        cases = corpus(validator.url, args.leaves)
        print(f"{len(cases)} inputs; validator ready in {validator.start_seconds:.1f} s", flush=True)
        t0 = time.monotonic()

        def one(case: Case) -> tuple[str, list[list[str]]]:
            name, standard, body, media_type = case
            raw = post(validator.url, f"/validate?standard={standard}", body, media_type)
            return name, verdict(json.loads(raw))

        with ThreadPoolExecutor(2) as pool:
            results = dict(pool.map(one, cases))
        cpu = validator.cpu_seconds()
        print(f"validated in {time.monotonic() - t0:.0f} s; JVM CPU {cpu:.0f} s", flush=True)
    finally:
        validator.stop()
    data = {"jar": args.jar, "java_options": args.java_option, "verdicts": results}
    with gzip.open(args.out, "wt", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, sort_keys=True)


def compare(args: argparse.Namespace) -> int:
    def load(path: str) -> dict[str, list[list[str]]]:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return dict(json.load(f)["verdicts"])

    before, after = load(args.before), load(args.after)
    lines = []
    differ = 0
    other = 0
    errors = sum(1 for v in before.values() for i in v if i[0] in ERROR)
    warnings = sum(1 for v in before.values() for i in v if i[0] not in ERROR)
    if before.keys() != after.keys():
        lines.append(f"- input sets differ: {sorted(before.keys() ^ after.keys())[:10]}")
        differ += 1
    for name in sorted(before.keys() & after.keys()):
        b, a = before[name], after[name]
        if [i for i in b if i[0] in ERROR] != [i for i in a if i[0] in ERROR]:
            differ += 1
            lines.append(f"- ERRORS DIFFER: {name}")
        elif b != a:
            other += 1
            lines.append(f"- warnings/information differ: {name}")
    refused = sum(1 for v in before.values() if any(i[0] in ERROR for i in v))
    summary = [
        f"inputs: {len(before)} (before) / {len(after)} (after); issues before: {errors} error-level, {warnings} other",
        f"inputs whose error-level issues differ: {differ}",
        f"inputs whose warning/information issues differ (errors identical): {other}",
        f"inputs with at least one error-level issue: {refused}",
    ]
    text = "\n".join(summary + lines[:200])
    print(text)
    if args.md:
        Path(args.md).write_text(text + "\n")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--jar", required=True)
    rec.add_argument("--out", required=True)
    rec.add_argument("--java-option", action="append", default=["-Xmx1536m"])
    rec.add_argument("--leaves", type=int, default=12)
    cmp = sub.add_parser("compare")
    cmp.add_argument("before")
    cmp.add_argument("after")
    cmp.add_argument("--md")
    args = parser.parse_args()
    if args.command == "record":
        record(args)
        return 0
    return compare(args)


if __name__ == "__main__":
    raise SystemExit(main())
