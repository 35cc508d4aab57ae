"""Issue 10 item 14 through the running service: a letter re-sent under a new envelope id gets 200
(duplicate of the first) whether the two posts arrive one after another or together in one group commit.

The service here waits 100 ms to fill a group commit, so two posts released together by a barrier share
one COMMIT; the assertions hold for any batching (the answer must not depend on it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.receiver import Receiver
from tests.harness.service import Fleet, make_service
from tests.integration.gateway.conftest import TOKENS, call, config_text
from tests.unit.medcom.samples import xdis91_message


@pytest.fixture
def service_url(storage_url: str, tmp_path: Path) -> Iterator[str]:
    fleet, rx = Fleet(), Receiver().start()
    try:
        text = config_text(storage_url, rx.url, rx.url, tmp_path / "out")
        svc = make_service(text, tmp_path, env={"EDIGATE_STORAGE__GROUP_COMMIT_WAIT_MS": "100"})
        yield fleet.start(svc).base_url
    finally:
        fleet.stop()
        rx.stop()


def post(url: str, xml: bytes) -> tuple[int, dict]:
    reply = call(url, "POST", "/api/v1/messages", xml, token=TOKENS["hospital"])
    return reply.status, reply.body


def post_together(url: str, bodies: list[bytes]) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(len(bodies))
    out: list[tuple[int, dict] | None] = [None] * len(bodies)

    def send(i: int) -> None:
        barrier.wait()
        out[i] = post(url, bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(o is not None for o in out)
    return out  # type: ignore[return-value]


def pair(n: int) -> list[bytes]:
    """The letter LETRT<n> first in envelope A, then re-sent in envelope B (the receipt was lost)."""
    return [
        xdis91_message(envelope_id=f"ENVRTA{n:03d}", letter_id=f"LETRT{n:03d}"),
        xdis91_message(envelope_id=f"ENVRTB{n:03d}", letter_id=f"LETRT{n:03d}"),
    ]


def assert_one_accepted_one_duplicate(answers: list[tuple[int, dict]]) -> None:
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 202], answers
    accepted = next(body for status, body in answers if status == 202)
    duplicate = next(body for status, body in answers if status == 200)
    assert duplicate["duplicate"] is True and duplicate["id"] == accepted["id"], answers


def test_same_answer_one_after_another_and_together(service_url: str) -> None:
    for n in range(2):  # one after another, both orders
        first, second = pair(n) if n == 0 else pair(n)[::-1]
        answers = [post(service_url, first), post(service_url, second)]
        assert [s for s, _ in answers] == [202, 200], answers
        assert_one_accepted_one_duplicate(answers)
    for n in range(2, 8):  # together, both orders of submission
        bodies = pair(n) if n % 2 else pair(n)[::-1]
        assert_one_accepted_one_duplicate(post_together(service_url, bodies))
