"""edigate's changes to the HL7 validation engine (validator/patches/) change CPU, not verdicts.

The validator jar replaces a few classes of HAPI FHIR 8.8.1's engine with edited copies (see docs/fhir.md,
"Performance"). These tests check, against the shared validator, that every error-level issue is exactly what
the unchanged engine said for three MedCom examples and their mutants (recorded from the unchanged build in
tests/integration/fhir/data/), and that the main change, reusing a reference target's validation within one
message, is in effect in the running jar. bench/fhir_verdicts.py compares all examples and more mutants.
"""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from edigate.fhir.validation import scrub_cpr
from tests.harness.engine_verdicts import ERROR, Case, corpus, post, verdict
from tests.harness.fhir import example_named

GOLDEN = Path(__file__).parent / "data" / "engine_verdicts_hapi_8.8.1.json"
EXAMPLES = ("Bundle-0d5b3c18", "Bundle-a5e5b880", "Bundle-a8c041b8")  # one per standard
LEAVES = 12  # as when the verdicts were recorded


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/health", timeout=60) as resp:
        return dict(json.loads(resp.read()))


def error_verdict(url: str, case: Case) -> tuple[str, list[list[str]]]:
    name, standard, body, media_type = case
    issues = verdict(json.loads(post(url, f"/validate?standard={standard}", body, media_type)))
    return name, [[s, c, m, scrub_cpr(e), scrub_cpr(d)] for s, c, m, e, d in issues if s in ERROR]


def test_error_issues_are_those_of_the_unchanged_engine(fhir_validator_url: str) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))["verdicts"]
    cases = corpus(fhir_validator_url, LEAVES, [example_named(f) for f in EXAMPLES])
    assert sorted(c[0] for c in cases) == sorted(golden), "the corpus is not the one the verdicts were recorded for"
    with ThreadPoolExecutor(2) as pool:  # the validator runs two validations at once
        now = dict(pool.map(lambda c: error_verdict(fhir_validator_url, c), cases))
    differ = [name for name in golden if now[name] != golden[name]]
    assert not differ, f"{len(differ)} of {len(golden)} verdicts changed, e.g. {differ[0]}: {now[differ[0]]}"
    assert sum(1 for v in golden.values() if v) > 50  # the mutants are refused, so errors were compared


def test_a_reference_targets_validation_is_reused_within_a_message(fhir_validator_url: str) -> None:
    """The 41 KB CareCommunication references its Patient, Organizations and Practitioners several times."""
    before = health(fhir_validator_url)["engine"]
    _, errors = error_verdict(
        fhir_validator_url,
        ("care", "CareCommunication", example_named("Bundle-d11968f5").body, "application/fhir+json"),
    )
    after = health(fhir_validator_url)["engine"]
    assert errors == []
    assert after["reference_targets_validated"] > before["reference_targets_validated"]
    assert after["reference_targets_reused"] > before["reference_targets_reused"]


XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'
NARRATIVES = {  # Patient.text.div -> the narrative's error diagnostics the unchanged engine gives
    "allowed": (f'<div {XHTML}><table border="1"><tr><td colspan="2">a</td></tr></table></div>', []),
    "element": (f"<div {XHTML}><script>x</script></div>", ["txt-1", "Invalid element name in the XHTML ('script')"]),
    "attribute": (
        f'<div {XHTML}><p onclick="x">a</p></div>',
        ["txt-1", "Invalid attribute name in the XHTML ('onclick' on 'p')"],
    ),
    "entities": (  # HTML's named entities are known to the parser, and not allowed in FHIR's XHTML
        f"<div {XHTML}><p>S&oslash;ren &AElig; &rarr;</p></div>",
        [f"Invalid entity in the XHTML ('&{e};')" for e in ("oslash", "AElig", "rarr")],
    ),
}


def narrative_errors(url: str, div: str) -> list[str]:
    doc = json.loads(example_named("Bundle-0d5b3c18").body)
    patient = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["text"]["div"] = div
    body = json.dumps(doc).encode()
    issues = verdict(json.loads(post(url, "/validate?standard=CareCommunication", body, "application/fhir+json")))
    return [("txt-1" if "txt-1" in d else d) for s, _, _, e, d in issues if s in ERROR and e.endswith("text.div")]


def test_narratives_are_judged_alike_by_every_parser(fhir_validator_url: str) -> None:
    """The engine makes an XHTML parser per narrative; edigate's build fills the parser's tables (allowed
    elements and attributes, HTML's named entities) once and shares them. Each table decides one of these
    verdicts, recorded from the unchanged engine; in alternation, many parsers later, they stay the same."""
    for _ in range(3):
        for name, (div, expected) in NARRATIVES.items():
            assert narrative_errors(fhir_validator_url, div) == expected, name
