"""Hostile HTTP input against the real running service: every case gets a clear 4xx with a reason, the
service stays up (healthz) and its memory stays bounded (VmRSS before and after the barrage).
"""

from __future__ import annotations

import functools
import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.hardening.conftest import MAX_BODY, TOKENS, World, rss_kib
from tests.unit.medcom.samples import xdis91_message

RSS_GROWTH_LIMIT_KIB = 100 * 1024


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Raw({self.status}, {self.body[:300]!r})"


def raw_request(port: int, data: bytes, *, body_chunks: Iterator[bytes] | None = None, timeout: float = 30.0) -> Raw:
    """Send bytes as they are (no client normalisation); read one response until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        try:
            for chunk in body_chunks or ():
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking everything: fine
        buf = b""
        try:
            while True:
                part = s.recv(65536)
                if not part:
                    break
                buf += part
                if _complete(buf):
                    break
        except ConnectionResetError:
            pass
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines and lines[0].startswith(b"HTTP/1."), f"no HTTP response: {buf[:200]!r}"
    headers = {}
    for line in lines[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    return Raw(int(lines[0].split()[1]), headers, body)


def _complete(buf: bytes) -> bool:
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def post_head(
    path: str,
    *,
    length: int | None,
    ctype: str | None = "application/xml",
    token: str | None = TOKENS["sender"],
    extra: bytes = b"",
) -> bytes:
    h = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if token:
        h += f"Authorization: Bearer {token}\r\n"
    if ctype:
        h += f"Content-Type: {ctype}\r\n"
    if length is not None:
        h += f"Content-Length: {length}\r\n"
    return h.encode() + extra + b"\r\n"


def get_raw(port: int, target: bytes, token: str | None = TOKENS["admin"]) -> Raw:
    auth = f"Authorization: Bearer {token}\r\n".encode() if token else b""
    return raw_request(
        port, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + auth + b"\r\n"
    )


def assert_clear_4xx(reply: Raw, *statuses: int) -> dict[str, Any]:
    assert reply.status in statuses, reply
    body = reply.json()
    assert isinstance(body, dict) and (body.get("reason") or body.get("fejl")), reply
    return body


def assert_up(world: World) -> None:
    r = world.call("GET", "/healthz", role="anonymous", timeout=5)
    assert r.status == 200, r


@pytest.fixture(scope="module")
def rss_start(world: World) -> int:
    assert world.service.proc is not None
    for _ in range(3):  # warm up: validator, schemas and pools loaded before the baseline
        world.send_message()
    return rss_kib(world.service.proc.pid)


@pytest.fixture(autouse=True)
def _baseline_and_liveness(rss_start: int, world: World) -> Iterator[None]:
    yield
    assert_up(world)


# ---------------------------------------------------------------------------------------------- size


def test_body_over_the_limit_with_content_length_is_413(world: World) -> None:
    size = MAX_BODY * 50
    reply = raw_request(
        world.service.port, post_head("/api/v1/messages", length=size), body_chunks=iter([b"<" * 65536] * 4)
    )
    body = assert_clear_4xx(reply, 413)
    assert str(MAX_BODY) in body["reason"]


def test_chunked_body_over_the_limit_is_413(world: World) -> None:
    chunk = b"x" * 32768
    chunks = (b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_BODY // len(chunk) + 4))
    reply = raw_request(
        world.service.port,
        post_head("/api/v1/messages", length=None, extra=b"Transfer-Encoding: chunked\r\n"),
        body_chunks=iter([*chunks, b"0\r\n\r\n"]),
    )
    assert_clear_4xx(reply, 413)


@functools.cache
def gzip_bomb() -> bytes:
    """100 MB of XML-ish bytes in ~100 KB: under the size limit as sent, far over it inflated."""
    return gzip.compress(b"<a>" + b" " * 100_000_000 + b"</a>", 9)


def send_gzip_bomb(world: World) -> Raw:
    bomb = gzip_bomb()
    head = post_head("/api/v1/messages", length=len(bomb), extra=b"Content-Encoding: gzip\r\n")
    return raw_request(world.service.port, head + bomb)


def test_gzip_bomb_is_refused_or_bounded(world: World) -> None:
    assert len(gzip_bomb()) < MAX_BODY  # so it is the inflating that must be bounded
    assert_clear_4xx(send_gzip_bomb(world), 413, 415, 400)


# ---------------------------------------------------------------------------------------------- slow drip


def test_slow_drip_body_does_not_stop_others_and_is_cut_off(world: World) -> None:
    """A body sent a byte at a time holds one request, never the service; with the body read deadline
    wired in (edigate.web.limits) it gets 408 within `server.body_read_timeout_seconds`."""
    from tests.integration.hardening.conftest import BODY_TIMEOUT

    timeout = BODY_TIMEOUT

    port = world.service.port
    result: dict[str, Any] = {}
    stop = threading.Event()

    def drip() -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            s.sendall(post_head("/api/v1/messages", length=10_000))
            try:
                while not stop.is_set() and time.monotonic() - started < timeout + 10:
                    s.sendall(b" ")
                    s.settimeout(0.5)
                    try:
                        data = s.recv(65536)
                        result["reply"] = data
                        break
                    except TimeoutError:
                        continue
            except OSError as exc:
                result["error"] = type(exc).__name__
        result["seconds"] = time.monotonic() - started

    t = threading.Thread(target=drip, daemon=True)
    t.start()
    time.sleep(1.0)
    # meanwhile the service answers others: health and a real message
    t0 = time.monotonic()
    assert_up(world)
    world.send_message()
    assert time.monotonic() - t0 < 10
    t.join(timeout + 15)
    print(f"slow drip: cut off after {result.get('seconds', 0):.1f} s: {result.get('reply', b'')[:60]!r}")
    assert result.get("reply", b"").startswith(b"HTTP/1.1 408"), result
    assert result["seconds"] < timeout + 5


# ---------------------------------------------------------------------------------------------- content type


@pytest.mark.parametrize(
    "ctype",
    [
        None,
        "text/plain",
        "application/json",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
    ],
)
def test_wrong_or_missing_content_type_is_415(world: World, ctype: str | None) -> None:
    xml = xdis91_message(envelope_id=world.unique("ENVCT"), letter_id=world.unique("LETCT"))
    reply = raw_request(world.service.port, post_head("/api/v1/messages", length=len(xml), ctype=ctype) + xml)
    body = assert_clear_4xx(reply, 415)
    assert "Content-Type" in body["reason"]


# ------------------------------------------------------------------------------------- headers and tokens


@pytest.mark.parametrize(
    "auth",
    [
        b"Bearer \xff\xfe\xfd",
        b"Bearer " + "tøken-æøå".encode("latin-1"),
        b"Bearer " + b"A" * 7000,
        b"Bearer",
        b"Bearer ",
        b"bearer  " + TOKENS["sender"].encode() + b"x",  # type: ignore[union-attr]
        b"Basic dXNlcjpwYXNz",
        b"Token " + TOKENS["admin"].encode(),  # type: ignore[union-attr]
        b"Bearer " + TOKENS["admin"].encode() + b"\t\x01",  # type: ignore[union-attr]
    ],
    ids=["non-utf8", "latin1", "huge", "empty", "blank", "almost", "basic", "wrong-scheme", "ctl-chars"],
)
@pytest.mark.parametrize("path", ["/api/v1/messages", "/api/v1/incidents", "/api/v1/mailbox"])
def test_garbage_bearer_tokens_are_401(world: World, auth: bytes, path: str) -> None:
    req = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: ".encode() + auth + b"\r\n\r\n"
    )
    reply = raw_request(world.service.port, req)
    if reply.status == 400 and reply.body.startswith(b"Invalid header"):  # the HTTP parser refused it
        return
    body = assert_clear_4xx(reply, 401)
    assert "token" in body.get("reason", "") or "adgangsnøgle" in body.get("fejl", ""), body
    assert reply.headers.get("www-authenticate", "").startswith("Bearer")


def test_non_utf8_header_bytes_elsewhere_are_harmless(world: World) -> None:
    xml = xdis91_message(envelope_id=world.unique("ENVHB"), letter_id=world.unique("LETHB"))
    extra = b"X-Forwarded-For: \xff\xfe\x80\r\nUser-Agent: \xc3\x28 broken\r\nX-Empty:\r\n"
    reply = raw_request(world.service.port, post_head("/api/v1/messages", length=len(xml), extra=extra) + xml)
    assert reply.status in (202, 400), reply  # accepted as usual, or refused by the parser; never 5xx


# ---------------------------------------------------------------------------------------------- hostile XML


def post_xml(world: World, xml: bytes) -> Raw:
    return raw_request(world.service.port, post_head("/api/v1/messages", length=len(xml)) + xml, timeout=30)


def deep_xml() -> bytes:
    depth = 25_000
    return b'<?xml version="1.0" encoding="UTF-8"?>' + b"<a>" * depth + b"</a>" * depth


def test_deep_xml_is_refused(world: World) -> None:
    xml = deep_xml()
    assert len(xml) < MAX_BODY
    t0 = time.monotonic()
    body = assert_clear_4xx(post_xml(world, xml), 422)
    assert body.get("refuse_code") == "syntaksfejl" and time.monotonic() - t0 < 10


def test_huge_flat_xml_is_refused_quickly(world: World) -> None:
    xml = b'<?xml version="1.0" encoding="UTF-8"?><Emessage>' + b"<x/>" * ((MAX_BODY - 100) // 4) + b"</Emessage>"
    assert len(xml) <= MAX_BODY
    t0 = time.monotonic()
    assert_clear_4xx(post_xml(world, xml), 422)
    assert time.monotonic() - t0 < 10


def test_xxe_file_entity_is_refused_and_never_read(world: World) -> None:
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE Emessage [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Emessage><Envelope><Identifier>&x;</Identifier></Envelope></Emessage>"
    )
    reply = post_xml(world, xml)
    assert_clear_4xx(reply, 422)
    assert b"root:" not in reply.body


class _Listener:
    """A TCP listener that records whether anything connected (an XXE network entity would)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except (TimeoutError, OSError):
                continue

    def close(self) -> None:
        self._stop.set()
        self._t.join(2)
        self.sock.close()


def test_xxe_network_entity_is_refused_and_never_fetched(world: World) -> None:
    listener = _Listener()
    try:
        url = f"http://127.0.0.1:{listener.port}/evil.dtd".encode()
        for xml in (
            b'<?xml version="1.0"?><!DOCTYPE Emessage [<!ENTITY x SYSTEM "' + url + b'">]><Emessage>&x;</Emessage>',
            b'<?xml version="1.0"?><!DOCTYPE Emessage SYSTEM "' + url + b'"><Emessage/>',
            b'<?xml version="1.0"?><!DOCTYPE Emessage [<!ENTITY % p SYSTEM "' + url + b'"> %p;]><Emessage/>',
        ):
            assert_clear_4xx(post_xml(world, xml), 422)
        time.sleep(0.5)
        assert listener.connections == 0, "the service fetched an external entity"
    finally:
        listener.close()


def billion_laughs() -> bytes:
    ents = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    doctype = f'<!DOCTYPE Emessage [<!ENTITY l0 "ha">{ents}]>'
    return f'<?xml version="1.0"?>{doctype}<Emessage>&l9;</Emessage>'.encode()


def test_billion_laughs_is_refused_quickly(world: World) -> None:
    t0 = time.monotonic()
    assert_clear_4xx(post_xml(world, billion_laughs()), 422)
    assert time.monotonic() - t0 < 5


# ------------------------------------------------------------------------------------- path traversal


@pytest.mark.parametrize(
    "target",
    [
        b"/api/v1/messages/..%2F..%2Fetc%2Fpasswd",
        b"/api/v1/messages/..%2f..%2f..%2fetc%2fpasswd/retry",
        b"/api/v1/messages/1%2F..%2F..%2Fetc%2Fpasswd",
        b"/api/v1/incidents/../../x",
        b"/api/v1/incidents/..%2F..%2Fx",
        b"/api/v1/incidents/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        b"/api/v1/subscriptions/confirm/..%2F..%2Fetc%2Fpasswd",
        b"/api/v1/routes/..%2F..%2F/5790000198764",
        b"/api/v1/mailbox/..%2F1/ack",
        b"/api/v1/messages/%00",
        b"/api/v1/messages/99999999999999999999999999",
        b"/api/v1/incidents/-1",
        b"/api/v1/../../../../etc/passwd",
    ],
)
def test_path_traversal_in_ids_is_4xx(world: World, target: bytes) -> None:
    reply = get_raw(world.service.port, target)
    assert 400 <= reply.status < 500, (target, reply)
    assert b"root:" not in reply.body
    if reply.headers.get("content-type", "").startswith("application/json"):
        body = reply.json()
        assert body.get("reason") or body.get("fejl"), reply


# ---------------------------------------------------------------------------------------------- memory


def test_memory_stays_bounded_after_the_barrage(world: World, rss_start: int) -> None:
    assert world.service.proc is not None
    # one more round of the heaviest cases, to see growth that repeats
    for _ in range(3):  # statuses are the other tests' business; here only memory counts
        send_gzip_bomb(world)
        post_xml(world, deep_xml())
        post_xml(world, billion_laughs())
    rss_end = rss_kib(world.service.proc.pid)
    growth = rss_end - rss_start
    print(
        f"edigate VmRSS before the barrage {rss_start / 1024:.1f} MiB, after {rss_end / 1024:.1f} MiB, "
        f"growth {growth / 1024:.1f} MiB (limit {RSS_GROWTH_LIMIT_KIB / 1024:.0f} MiB)"
    )
    assert growth < RSS_GROWTH_LIMIT_KIB
