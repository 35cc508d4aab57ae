"""bench/raw_http.py against a real aiohttp web server in this process: it must count what bench/loadgen.py
counts (so a benchmark's figures do not depend on the client), deliver bodies intact both ways, reuse its
connections, and follow a server that closes them."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench import loadgen, raw_http
from bench.loadgen import Request


class Seen:
    """What the server saw: requests, bodies that failed their checksum, connections."""

    def __init__(self) -> None:
        self.requests = 0
        self.bad = 0
        self.connections: set[object] = set()  # the transports themselves: ids of closed ones get reused


SEEN, CLOSE = web.AppKey("seen", Seen), web.AppKey("close", bool)


async def answer(request: web.Request) -> web.StreamResponse:
    """Echo the body; 400 if it does not match its X-Sha256, 503 for a body that asks for it."""
    seen: Seen = request.app[SEEN]
    body = await request.read()
    seen.requests += 1
    seen.connections.add(request.transport)
    if hashlib.sha256(body).hexdigest() != request.headers.get("X-Sha256"):
        seen.bad += 1
        return web.Response(status=400)
    status = 503 if body.startswith(b"please-503") else 202
    resp = web.Response(status=status, body=body, content_type="application/octet-stream")
    if request.app[CLOSE]:
        resp.force_close()
    return resp


@pytest.fixture(params=[False, True], ids=["keep-alive", "server-closes"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[TestServer]:
    app = web.Application(client_max_size=1 << 20)
    app[SEEN], app[CLOSE] = Seen(), request.param
    app.router.add_post("/in", answer)
    srv = TestServer(app)
    await srv.start_server()
    yield srv
    await srv.close()


def requests(url: str, sizes: list[int], every_503: int = 0) -> Callable[[], Request]:
    """Cycle bodies of these sizes (each with its checksum); every `every_503`th asks for a 503."""
    bodies = []
    for i, size in enumerate(sizes):
        body = (b"please-503" if every_503 and i % every_503 == 0 else b"") + bytes(i % 251 for i in range(size))
        bodies.append((body, {"Authorization": "Bearer x", "X-Sha256": hashlib.sha256(body).hexdigest()}))
    count = 0

    def next_request() -> Request:
        nonlocal count
        body, headers = bodies[count % len(bodies)]
        count += 1
        return url, body, headers, 202

    return next_request


@pytest.mark.parametrize("lib", [loadgen, raw_http], ids=["aiohttp", "raw"])
async def test_open_loop_counts_statuses_as_loadgen_does(server: TestServer, lib: Any) -> None:
    """40 scheduled posts, every 4th answered 503: the same summary counts from both clients."""
    got = await lib.open_loop(requests(str(server.make_url("/in")), [10, 2000, 30, 70_000], 4), 1.0, 40.0)
    assert got["requests"] == 40 and got["errors"] == 10 and got["error_statuses"] == {"503": 10}
    assert got["ok_per_s"] > 0 and got["p99_ms"] > 0
    assert server.app[SEEN].requests == 40 and server.app[SEEN].bad == 0


async def test_closed_loop_bodies_intact_and_connections(server: TestServer) -> None:
    """Bodies up to 100 KB arrive intact (the server checks each one's checksum); with keep-alive the 4
    workers use 4 connections in all, and a server that closes after each answer gets one per request."""
    sizes = [0, 1, 5_000, 100 * 1024, 65_537]
    got = await raw_http.closed_loop(requests(str(server.make_url("/in")), sizes, 3), 0.5, 4)
    seen: Seen = server.app[SEEN]
    assert got["requests"] == seen.requests > 20 and seen.bad == 0
    asked_503 = sum(1 for k in range(seen.requests) if k % len(sizes) in (0, 3))  # the bodies sent, in order
    assert got["errors"] == asked_503 and got["error_statuses"] == {"503": asked_503}
    if server.app[CLOSE]:
        assert len(seen.connections) == seen.requests
    else:
        assert len(seen.connections) == 4


async def test_response_bodies_come_back_intact(server: TestServer) -> None:
    client = raw_http.Client(timeout=10)
    try:
        for size in (0, 3, 100 * 1024, 300_000):
            body = bytes(i % 253 for i in range(size))
            headers = {"X-Sha256": hashlib.sha256(body).hexdigest()}
            status, echoed = await client.request(str(server.make_url("/in")), body, headers)
            assert (status, echoed) == (202, body)
        reused = 1 if not server.app[CLOSE] else 4
        assert client.opened == reused
    finally:
        client.close()


async def test_a_chunked_answer_is_a_clear_error() -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(b"part")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/", chunked)
    async with TestServer(app) as srv:
        client = raw_http.Client(timeout=10)
        with pytest.raises(raw_http.RawHTTPError, match=r"chunked response body .* use the aiohttp client"):
            await client.request(str(srv.make_url("/")), b"x", {})
        client.close()


async def test_a_body_without_length_ends_with_the_connection() -> None:
    """HTTP/1.1 without Content-Length or chunking: the body is what comes before the server closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(5)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    client = raw_http.Client(timeout=10)
    try:
        assert await client.request(f"http://127.0.0.1:{port}/", b"hello", {}) == (200, b"until close")
        assert await client.request(f"http://127.0.0.1:{port}/", b"again", {}) == (200, b"until close")
        assert client.opened == 2
    finally:
        client.close()
        srv.close()
        await srv.wait_closed()
