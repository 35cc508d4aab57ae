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


def delivered_through(rx: Receiver, marker: str, timeout: float = 30.0) -> list[str]:
    """The envelope ids `rx` has got once `marker`, a message posted after the ones under test, has come.
    One receiver's queue is first in, first out, so by then anything queued before the marker (a second
    copy, a redelivery) has come too: the positive barrier before a "nothing more arrived" check."""
    got = wait_delivered(rx, [marker], timeout)
    assert marker in got, f"the marker {marker} did not arrive within {timeout:g} s: {got}"
    return got
