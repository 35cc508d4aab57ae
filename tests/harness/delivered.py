"""Which messages reached a receiver, by the envelope id in each body."""

from __future__ import annotations

import time
from collections.abc import Iterable

from tests.harness.receiver import Receiver


def envelope_ids(bodies: list[bytes]) -> list[str]:
    """The first `<Identifier>` of each body (a MedCom envelope id), in order, repeats kept."""
    out = []
    for b in bodies:
        start = b.index(b"<Identifier>") + len(b"<Identifier>")
        out.append(b[start : b.index(b"</Identifier>", start)].decode())
    return out


def wait_delivered(rx: Receiver, expected: Iterable[str], timeout: float, poll: float = 0.2) -> list[str]:
    """Poll until every id in `expected` has reached `rx` or `timeout` has passed (no error: the caller
    asserts); the envelope ids `rx` has received by then, repeats kept."""
    wanted = set(expected)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not wanted <= set(envelope_ids(rx.bodies())):
        time.sleep(poll)
    return envelope_ids(rx.bodies())
