"""A saturated validator: edigate keeps at most `[fhir] queue_depth` FHIR messages waiting for it and answers
one more at once with 503, a transient-error Acknowledgement and Retry-After (MedCom senders resend), instead
of letting every FHIR answer wait longer and longer. Against the real validator (the session's shared one).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edigate.fhir.validation import FhirValidatorBusy, HttpFhirValidator
from tests.harness import config as cfg
from tests.harness.http import Reply, request
from tests.harness.service import Fleet, Service, make_service
from tests.integration.fhir.conftest import FAST_DELIVERY, TOKENS, bare_errors, post_as_a
from tests.unit.fhir.examples import CARE, GLN_A, GLN_B, dump, example, header, new_message

JSON = "application/fhir+json"


async def test_the_client_refuses_beyond_its_queue_at_once(fhir_validator_url: str) -> None:
    """One at the validator, one waiting: the other three of five sent together are refused without waiting,
    the validator is not reported down for it, and the two admitted get their verdicts."""
    body = dump(example(CARE))
    client = HttpFhirValidator(fhir_validator_url, timeout_seconds=240, max_concurrency=1, queue_depth=1)
    try:
        results = await asyncio.gather(
            *(client.validate("CareCommunication", body, JSON) for _ in range(5)), return_exceptions=True
        )
        busy = [r for r in results if isinstance(r, FhirValidatorBusy)]
        verdicts = [r for r in results if not isinstance(r, BaseException)]
        assert len(busy) == 3 and len(verdicts) == 2, results
        assert all(v.valid for v in verdicts)
        assert "queue_depth 1" in busy[0].reason
        assert client.status() == (True, "ok")  # busy is not down: /readyz stays ready
        assert client.waiting == 0 and client.busy_refusals == 3
        assert (await client.validate("CareCommunication", body, JSON)).valid  # the queue is free again
    finally:
        await client.stop()


@pytest.fixture
def busy_service(storage_url: str, fhir_validator_url: str, tmp_path: Path) -> Iterator[Service]:
    text = "".join(
        [
            cfg.base(storage_url, "test admin", TOKENS["admin"]),
            cfg.table("delivery", FAST_DELIVERY),
            cfg.table(
                "fhir", {"validator_url": fhir_validator_url, "timeout_seconds": 120, "threads": 1, "queue_depth": 0}
            ),
            cfg.partner(GLN_A, "A", "hospital", "Fyn", cfg.MAILBOX_DELIVERY, token=TOKENS["a"]),
            cfg.partner(GLN_B, "B", "municipality", "Fyn", cfg.MAILBOX_DELIVERY, token=TOKENS["b"]),
        ]
    )
    fleet = Fleet()
    try:
        yield fleet.start(make_service(text, tmp_path))
    finally:
        fleet.stop()


def post(service: Service, body: bytes) -> Reply:
    return post_as_a(service, body, timeout=240)


def test_a_saturated_validator_is_answered_503_and_the_resend_is_accepted(
    busy_service: Service, fhir_validator_url: str
) -> None:
    """threads 1, queue_depth 0: of eight messages sent at the same moment one is validated and the others are
    answered 503 at once (a transient-error Acknowledgement that itself passes the validator, Retry-After).
    Nothing refused is stored: each resend is then accepted, once."""
    template = example(CARE)
    docs = [new_message(template) for _ in range(8)]
    replies: dict[int, Reply] = {}
    start = threading.Barrier(len(docs))

    def send(i: int) -> None:
        start.wait()
        replies[i] = post(busy_service, dump(docs[i]))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(docs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert len(replies) == len(docs)
    statuses = sorted(r.status for r in replies.values())
    assert set(statuses) <= {202, 503} and 202 in statuses and 503 in statuses, statuses

    refused = [i for i, r in replies.items() if r.status == 503]
    for i in refused:
        reply = replies[i]
        assert reply.headers["Retry-After"] == "10"
        ack = json.loads(reply.raw)
        assert header(ack)["response"]["code"] == "transient-error"
        assert header(ack)["response"]["identifier"] == header(docs[i])["id"]
        issues = [e["resource"] for e in ack["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
        assert issues[0]["issue"][0]["code"] == "throttled"
        assert "send meddelelsen igen" in issues[0]["issue"][0]["diagnostics"]
    assert bare_errors(fhir_validator_url, "Acknowledgement", replies[refused[0]].raw, JSON) == []

    for i in refused:  # the sender resends after Retry-After: now there is room
        assert post(busy_service, dump(docs[i])).status == 202
    listed = request(f"{busy_service.base_url}/api/v1/messages?limit=100", "GET", token=TOKENS["admin"])
    assert listed.status == 200
    stored = sorted(m["envelope_id"] for m in listed.body["messages"])
    assert stored == sorted(d["id"] for d in docs)  # each message once, the 503s not half-stored
