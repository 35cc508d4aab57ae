"""One read deadline for every request body (issue 10, item 11): a body dripped a byte at a time gets 408
after `server.body_read_timeout_seconds` whatever its content type and route; multipart forms to `/login`
and `/subscriptions/new` used to hang for as long as the client dripped."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

from tests.integration.hardening.conftest import BODY_TIMEOUT, World
from tests.integration.hardening.test_hostile_http import post_head

TARGETS = [
    ("/login", "multipart/form-data; boundary=drip"),
    ("/subscriptions/new", "multipart/form-data; boundary=drip"),
    ("/incidents/new", "multipart/form-data; boundary=drip"),
    ("/login", "application/x-www-form-urlencoded"),
    ("/subscriptions/new", "application/x-www-form-urlencoded"),
    ("/api/v1/subscriptions", "application/json"),
    ("/api/v1/incidents", "multipart/form-data; boundary=drip"),
    ("/api/v1/messages", "application/xml"),
]
PART = b'--drip\r\nContent-Disposition: form-data; name="token"\r\n\r\n'


def drip(port: int, path: str, ctype: str) -> tuple[bytes, float]:
    """Send the head and then one byte every 0.2 s; the first bytes of the answer and when they came."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT + 15) as s:
        s.sendall(post_head(path, length=100_000, ctype=ctype, token=None))
        body = PART if ctype.startswith("multipart/") else b"x" * 10
        s.sendall(body)
        s.settimeout(0.2)
        while time.monotonic() - started < BODY_TIMEOUT + 15:
            try:
                reply = s.recv(4096)
                return reply, time.monotonic() - started
            except TimeoutError:
                s.sendall(b"x")
    return b"", time.monotonic() - started


def test_every_dripped_body_gets_408_within_the_deadline(world: World) -> None:
    with ThreadPoolExecutor(len(TARGETS)) as pool:
        futures = {pool.submit(drip, world.service.port, p, c): (p, c) for p, c in TARGETS}
        results = {futures[f]: f.result() for f in futures}
    for (path, ctype), (reply, seconds) in results.items():
        print(f"{path} {ctype.split(';')[0]}: {reply[:12]!r} after {seconds:.1f} s")
        assert reply.startswith(b"HTTP/1.1 408"), (path, ctype, reply[:200])
        assert seconds < BODY_TIMEOUT + 5, (path, ctype, seconds)
    assert world.call("GET", "/healthz", role="anonymous").status == 200
