"""No state carries over between validations: the validator keeps its contexts, caches and JIT-warm code for
the life of the JVM and validates on several threads at once, so a verdict must not depend on what was
validated before or beside it.

The reference is each message's verdict when it is validated alone, once, one after the other. Then the
same messages - valid, invalid, the valid one again, across the three standards - are validated again in
an order that alternates them, and then all at once, interleaved on the JVM's worker threads. Every verdict
(each issue's severity, code, diagnostics and FHIRPath) must equal its reference.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from typing import Any

from edigate.fhir.validation import FhirValidationResult, HttpFhirValidator
from tests.harness.fhir import example_named

CARE = "fhir-examples/carecommunication/Bundle-0d5b3c18"
NOTIFICATION = "fhir-examples/hospitalnotification/Bundle-a5e5b880"
ACK = "fhir-examples/acknowledgement/Bundle-a8c041b8"
JSON = "application/fhir+json"


def without_destination(fragment: str) -> dict[str, Any]:
    bundle = copy.deepcopy(example_named(fragment).bundle)
    del bundle["entry"][0]["resource"]["destination"]
    return bundle


def without_payload(fragment: str) -> dict[str, Any]:
    bundle = copy.deepcopy(example_named(fragment).bundle)
    communication = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Communication")
    del communication["payload"]
    return bundle


def messages() -> dict[str, tuple[str, bytes]]:
    """label -> (standard, body)."""
    return {
        "care valid": ("CareCommunication", example_named(CARE).body),
        "care no destination": ("CareCommunication", json.dumps(without_destination(CARE)).encode()),
        "care no payload": ("CareCommunication", json.dumps(without_payload(CARE)).encode()),
        "notification valid": ("HospitalNotification", example_named(NOTIFICATION).body),
        "notification no destination": (
            "HospitalNotification",
            json.dumps(without_destination(NOTIFICATION)).encode(),
        ),
        "ack valid": ("Acknowledgement", example_named(ACK).body),
        "ack no destination": ("Acknowledgement", json.dumps(without_destination(ACK)).encode()),
    }


def describe(result: FhirValidationResult) -> str:
    return "\n".join(f"  {i.severity} {i.code} {i.expression}: {i.diagnostics}" for i in result.issues)


async def test_verdicts_do_not_depend_on_what_came_before_or_beside(fhir_validator_url: str) -> None:
    cases = messages()
    client = HttpFhirValidator(fhir_validator_url, timeout_seconds=240, max_concurrency=16)
    try:
        reference = {}
        for label, (standard, body) in cases.items():  # each alone, one after the other
            reference[label] = await client.validate(standard, body, JSON)
        for label, result in reference.items():  # the references are the verdicts they should be
            assert result.valid == label.endswith("valid"), f"{label}:\n{describe(result)}"

        # valid, invalid, the valid one again, across standards
        order = [
            "care valid",
            "care no destination",
            "care valid",
            "notification no destination",
            "care no payload",
            "notification valid",
            "ack no destination",
            "care valid",
            "ack valid",
            "notification valid",
        ]
        for label in order:
            standard, body = cases[label]
            again = await client.validate(standard, body, JSON)
            assert again == reference[label], (
                f"{label} after others:\n{describe(again)}\nalone:\n{describe(reference[label])}"
            )

        # all at once, three rounds shuffled together: interleaved on the JVM's worker threads
        batch = [label for label in cases for _ in range(3)]
        random.Random(13).shuffle(batch)
        results = await asyncio.gather(*(client.validate(cases[label][0], cases[label][1], JSON) for label in batch))
        for label, result in zip(batch, results, strict=True):
            assert result == reference[label], (
                f"{label} interleaved:\n{describe(result)}\nalone:\n{describe(reference[label])}"
            )
    finally:
        await client.stop()
