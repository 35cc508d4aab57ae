"""Inputs and verdicts for checking that a change to the validator engine changes no verdict.

The corpus: every MedCom example Bundle (as JSON, as FHIR XML, and against each other standard) and
deterministic mutants of each: top-level elements of the entries' resources deleted in turn, coded or
referencing leaves (code, system, reference, value, status, use, ...) replaced in turn by a wrong value
(`leaves` of each kind per example, spread evenly over the Bundle), and a few whole-Bundle changes (type,
event code, destination, entries dropped, reordered or duplicated). Used by bench/fhir_verdicts.py (all
examples, before/after builds) and tests/integration/fhir/test_engine_changes.py (a subset, against
verdicts recorded from the unchanged HAPI FHIR build).
"""

from __future__ import annotations

import copy
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

from edigate.fhir.standards import STANDARDS
from tests.harness.fhir import FhirExample, fhir_examples

JSON = "application/fhir+json"
XML = "application/fhir+xml"
MUTABLE_LEAVES = ("code", "system", "reference", "value", "status", "use", "display", "id", "type", "gender")
ERROR = ("error", "fatal")

Case = tuple[str, str, bytes, str]  # name, standard, body, media type


def _leaves(node: Any, path: str) -> Iterator[tuple[str, list[Any] | dict[str, Any], str | int]]:
    """(path, container, key) of every string leaf whose key is in MUTABLE_LEAVES."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str) and k in MUTABLE_LEAVES:
                yield f"{path}.{k}", node, k
            else:
                yield from _leaves(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{path}[{i}]")


def _dump(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, ensure_ascii=False).encode()


def mutants(name: str, standard: str, body: bytes, leaves: int) -> Iterator[Case]:
    """Deterministic mutants of one example (see the module docstring)."""
    original = json.loads(body)
    elements = [
        (i, key)
        for i, entry in enumerate(original.get("entry", []))
        for key in entry.get("resource", {})
        if key != "resourceType"
    ]
    for i, key in elements[:: max(1, len(elements) // leaves)]:
        bundle = copy.deepcopy(original)
        del bundle["entry"][i]["resource"][key]
        yield f"{name} del entry[{i}].{key}", standard, _dump(bundle), JSON
    found = list(_leaves(original, "Bundle"))
    step = max(1, len(found) // leaves)
    for n in range(0, len(found), step):
        bundle = copy.deepcopy(original)
        path = found[n][0]
        target = list(_leaves(bundle, "Bundle"))[n]
        container, key = target[1], target[2]
        container[key] = "0101011234" if key == "value" else "zz-wrong"  # type: ignore[index]
        yield f"{name} set {path}", standard, _dump(bundle), JSON
    fixed = [
        ("bundle type collection", lambda b: b.__setitem__("type", "collection")),
        ("event code wrong", lambda b: b["entry"][0]["resource"]["eventCoding"].__setitem__("code", "wrong")),
        ("no destination", lambda b: b["entry"][0]["resource"].pop("destination", None)),
        ("no entries but the header", lambda b: b.__setitem__("entry", b["entry"][:1])),
        ("entries reversed", lambda b: b.__setitem__("entry", [b["entry"][0], *reversed(b["entry"][1:])])),
        ("duplicate entry", lambda b: b["entry"].append(copy.deepcopy(b["entry"][-1]))),
    ]
    for label, change in fixed:
        bundle = copy.deepcopy(original)
        change(bundle)
        yield f"{name} {label}", standard, _dump(bundle), JSON


def corpus(url: str, leaves: int, examples: list[FhirExample] | None = None) -> list[Case]:
    """Every input of the comparison for `examples` (default: all MedCom examples); `url` converts to XML."""
    names = [s.name for s in STANDARDS]
    cases: list[Case] = []
    for example in fhir_examples() if examples is None else examples:
        own = example.standard
        for standard in names:
            cases.append((f"{example.source} as {standard}", standard, example.body, JSON))
        if own is None:
            continue
        xml = post(url, "/convert", example.body, JSON, XML)
        cases.append((f"{example.source} xml", own, xml, XML))
        cases.extend(mutants(example.source, own, example.body, leaves))
    return cases


def post(url: str, path: str, body: bytes, media_type: str, accept: str | None = None) -> bytes:
    headers = {"Content-Type": media_type, **({"Accept": accept} if accept else {})}
    request = urllib.request.Request(f"{url}{path}", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=300) as resp:
        return bytes(resp.read())


def verdict(outcome: dict[str, Any]) -> list[list[str]]:
    """An OperationOutcome as [severity, code, message id, expressions, diagnostics] per issue, in order."""
    return [
        [
            str(i.get("severity")),
            str(i.get("code")),
            str((i.get("details") or {}).get("text", "")),
            "|".join(i.get("expression") or ()),
            str(i.get("diagnostics", "")),
        ]
        for i in outcome.get("issue", [])
    ]
