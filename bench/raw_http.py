"""A minimal HTTP/1.1 keep-alive POST client for the load generator, on an asyncio.Protocol.

Why: the benchmarks share 2 cores with the system under test, and aiohttp's client spent ~290 µs of CPU
per request there (0.25 CPU-s/s at ~860 msg/s), CPU then missing from edigate in every round. In production
the senders are other machines. This client writes each request as one pre-serialised bytes object and
parses only what it needs of the answer (status line, Content-Length, Connection), so the load costs less.

`closed_loop` and `open_loop` take and return exactly what bench/loadgen.py's do (its Request, its loops
and its summary), so a benchmark can switch clients with one option.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from bench.loadgen import Request, run_closed, run_open

Address = tuple[str, int]
_SKIPPED = {"host", "content-length", "connection", "transfer-encoding"}  # this client writes those itself


class RawHTTPError(Exception):
    """An answer this client does not read (a chunked body, a broken status line) or a lost connection."""


@lru_cache(maxsize=256)
def _target(url: str) -> tuple[Address, bytes]:
    """(host, port) and the start of the request ("POST /path HTTP/1.1\\r\\nHost: ...\\r\\n") for a URL."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise RawHTTPError(f"only plain http:// URLs are supported, not {url!r}")
    port = parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.hostname, port), f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode("latin-1")


def serialise(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[Address, bytes]:
    """The whole request as one bytes object (one write, one send for bodies that fit the socket buffer)."""
    address, start = _target(url)
    lines = [f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in _SKIPPED]
    if not any(k.lower() == "content-type" for k in headers):
        lines.append("Content-Type: application/octet-stream\r\n")  # what aiohttp sends for bytes
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return address, start + "".join(lines).encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `send` writes a request and waits for its whole answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.head: tuple[int, int] | None = None  # (status, body length or -1: until the server closes)
        self.body_at = 0
        self.close_after = False  # the server said Connection: close (or spoke HTTP/1.0 without keep-alive)
        self.lost = False
        self.got_bytes = False  # any byte of the current answer, so a lost idle connection can be retried

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self.got_bytes = True
        if self.waiter is not None and not self.waiter.done():
            try:
                self._parse()
            except (RawHTTPError, ValueError) as exc:  # ValueError: a status or Content-Length not a number
                self.waiter.set_exception(exc if isinstance(exc, RawHTTPError) else RawHTTPError(f"bad answer: {exc}"))
                self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.head is not None and self.head[1] < 0:  # a body without a length ends where the connection does
            self._answer(self.head[0], len(self.buf))
        else:
            waiter.set_exception(RawHTTPError(f"the server closed the connection before a whole answer ({exc})"))

    def _parse(self) -> None:
        while self.head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buf[:end]).split(b"\r\n")
            status_line = lines[0]
            if not status_line.startswith(b"HTTP/1.") or len(status_line) < 12:
                raise RawHTTPError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
            status = int(status_line[9:12])
            length, keep_alive = -1, status_line.startswith(b"HTTP/1.1")
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and value.strip().lower() != b"identity":
                    raise RawHTTPError(
                        f"a {value.strip().decode('latin-1')} response body (status {status}): bench/raw_http.py "
                        "reads only Content-Length bodies; use the aiohttp client for this server"
                    )
                elif name == b"connection":
                    keep_alive = value.strip().lower() == b"keep-alive"
            if 100 <= status < 200:  # an interim answer: the real one follows
                del self.buf[: end + 4]
                continue
            if status in (204, 304):
                length = 0
            self.head, self.body_at, self.close_after = (status, length), end + 4, not keep_alive or length < 0
        status, length = self.head
        if length >= 0 and len(self.buf) - self.body_at >= length:
            self._answer(status, self.body_at + length)

    def _answer(self, status: int, end: int) -> None:
        body = bytes(self.buf[self.body_at : end])
        del self.buf[:end]
        self.head = None
        assert self.waiter is not None
        self.waiter.set_result((status, body))

    def _close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()

    async def send(self, data: bytes) -> tuple[int, bytes]:
        """Write one request and wait for its answer: (status, body)."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.got_bytes = False
        self.transport.write(data)
        try:
            answer = await self.waiter
        except BaseException:
            self._close()  # a timeout or cancel mid-answer: the connection's state is unknown
            raise
        finally:
            self.waiter = None
        if self.close_after:
            self._close()
        return answer


class Client:
    """Keep-alive connections per address, each used by one request at a time (as aiohttp's pool does)."""

    def __init__(self, timeout: float = 300) -> None:
        self.timeout = timeout
        self.idle: dict[Address, list[_Connection]] = {}
        self.opened = 0  # connections made so far (to show keep-alive reuse)

    async def _connection(self, address: Address) -> tuple[_Connection, bool]:
        """An idle open connection (True: reused) or a new one."""
        pool = self.idle.setdefault(address, [])
        while pool:
            conn = pool.pop()
            if not conn.lost:
                return conn, True
        _, conn = await asyncio.get_running_loop().create_connection(_Connection, *address)
        self.opened += 1
        return conn, False

    async def request(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """POST and return (status, body). A reused connection that the server closed before any byte of the
        answer is retried once on a new one (the request did not reach it: an idle keep-alive close)."""
        address, data = serialise(url, body, headers)
        async with asyncio.timeout(self.timeout):
            conn, reused = await self._connection(address)
            try:
                answer = await conn.send(data)
            except RawHTTPError:
                if not (reused and conn.lost and not conn.got_bytes):
                    raise
                conn, _ = await self._connection(address)
                answer = await conn.send(data)
        if not conn.lost:
            self.idle[address].append(conn)
        return answer

    async def post(self, request: Request, errors: Counter[int]) -> bool:
        """bench/loadgen.py's Post: True on the expected status, other statuses counted in `errors`."""
        url, body, headers, ok = request
        status, _ = await self.request(url, body, headers)
        if status != ok:
            errors[status] += 1
            return False
        return True

    def close(self) -> None:
        for pool in self.idle.values():
            for conn in pool:
                conn._close()
        self.idle.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def closed_loop(
    next_request: Callable[[], Request], seconds: float, concurrency: int, timeout: float = 300
) -> dict[str, Any]:
    """bench/loadgen.py's closed_loop with this client: `concurrency` keep-alive clients."""
    with Client(timeout) as client:
        return await run_closed(client.post, next_request, seconds, concurrency)


async def open_loop(
    next_request: Callable[[], Request], seconds: float, rate: float, timeout: float = 300
) -> dict[str, Any]:
    """bench/loadgen.py's open_loop with this client: a fixed schedule, connections as many as in flight."""
    with Client(timeout) as client:
        return await run_open(client.post, next_request, seconds, rate)
