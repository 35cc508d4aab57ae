"""MedCom's example Bundles (../shared/medcom/fhir-examples) and small edits of them for the tests."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "medcom" / "fhir-examples"
GLN_SYSTEM = "https://www.gs1.org/gln"
# the two organisations MedCom's examples send between
GLN_A = "5790000209354"  # "Receiver Organization" in the Acknowledgement examples
GLN_B = "5790001348120"
CARE = "carecommunication/Bundle-add5e7e2-0c0f-4a4a-bfff-f6f984fa7e3c.json"  # A -> B, MessageHeader 42cb9200…
ACK_OK = "acknowledgement/Bundle-a8c041b8-c65a-4fde-a90f-962076918834.json"  # B -> A, answers 42cb9200… ok
ACK_FATAL = "acknowledgement/Bundle-bc9535ef-ed94-4060-a928-7baddec7ee71.json"  # B -> A, fatal-error
HOSPITAL_NOTIFICATION = "hospitalnotification/Bundle-a5e5b880-c087-4055-b9ec-99108695f81d.json"


def shared_examples() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"MedCom's FHIR examples are not at {SHARED} (../shared/medcom/fhir-examples)")
    return SHARED


def example(name: str) -> dict[str, Any]:
    return json.loads((shared_examples() / name).read_text(encoding="utf-8"))


def dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode("utf-8")


def header(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["entry"][0]["resource"]  # type: ignore[no-any-return]


def resend(doc: dict[str, Any]) -> dict[str, Any]:
    """MedCom's resend: the same message (same MessageHeader.id) in a new Bundle.id."""
    out = copy.deepcopy(doc)
    out["id"] = str(uuid.uuid4())
    return out


def new_message(doc: dict[str, Any]) -> dict[str, Any]:
    """A new message: new Bundle.id and new MessageHeader.id (references to the header follow)."""
    out = resend(doc)
    old = header(out)["id"]
    new = str(uuid.uuid4())
    text = json.dumps(out).replace(old, new)
    return json.loads(text)  # type: ignore[no-any-return]


def with_gln(doc: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return json.loads(
        json.dumps(doc)
        .replace(f'"value": "{old}"', f'"value": "{new}"')
        .replace(f'"value":"{old}"', f'"value":"{new}"')
    )  # type: ignore[no-any-return]


def answering(ack: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    """An Acknowledgement example made to answer `original` (response.identifier = its MessageHeader.id)."""
    out = new_message(ack)
    header(out)["response"]["identifier"] = header(original)["id"]
    return out


def cprs(doc: dict[str, Any]) -> list[str]:
    return [
        i["value"]
        for e in doc["entry"]
        if e["resource"]["resourceType"] == "Patient"
        for i in e["resource"].get("identifier", [])
        if i.get("system") == "urn:oid:1.2.208.176.1.2"
    ]
